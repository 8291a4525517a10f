"""The gate works from a dataset version's index: it reads no image, and what passes
goes on as a manifest naming the index validated and the rows set aside."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from visionops.dataplane.layout import INDEX_FILE, SHARDS_DIR
from visionops.dataplane.reader import ShardedDataset
from visionops.validation.gate import class_table, index_sha256, validated_manifest


def _no_image_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation decoded images")

    monkeypatch.setattr(ShardedDataset, "read_images", refuse)


def test_validation_reads_no_image_bytes(
    validate, digits_version, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shards deleted (only dataset.json, the index and the thumbnails left),
    the digits pass with the very report and profiles the whole version gives."""
    whole, _ = validate(digits_version)
    copy = tmp_path / "digits"
    shutil.copytree(digits_version.folder, copy)
    shutil.rmtree(copy / SHARDS_DIR)
    _no_image_reads(monkeypatch)

    outcome, message = validate(ShardedDataset(copy))

    assert outcome.report["success"] is True, message
    assert outcome.report == whole.report
    assert outcome.data_profile == whole.data_profile
    assert outcome.image_profile.equals(whole.image_profile)


def test_a_bad_folder_is_named_without_its_shards(
    validate, ingest, image_folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, paths = image_folder
    paths[7].write_bytes(paths[7].read_bytes()[:200])
    dataset = ingest("image_folder", root)
    shutil.rmtree(dataset.folder / SHARDS_DIR)
    _no_image_reads(monkeypatch)

    outcome, message = validate(ShardedDataset(dataset.folder))

    assert outcome.report["success"] is False
    assert "e.g. cloud/img_007.png: cannot decode image:" in message


def test_the_manifest_names_the_index_and_the_rows_set_aside(
    validate, ingest, image_folder
) -> None:
    root, paths = image_folder
    for path in (paths[9], paths[2]):
        path.write_bytes(path.read_bytes()[:200])
    dataset = ingest("image_folder", root)
    outcome, _ = validate(dataset, on_invalid="quarantine")
    assert outcome.report["success"] is True

    manifest = validated_manifest(dataset, outcome.report)

    assert manifest == {
        "format": 1,
        "index_sha256": hashlib.sha256((dataset.folder / INDEX_FILE).read_bytes()).hexdigest(),
        "images": 158,
        "excluded": ["cloud/img_002.png", "cloud/img_009.png"],
    }
    assert json.loads(json.dumps(manifest)) == manifest


def test_the_index_hash_changes_with_the_index(to_version, clean) -> None:
    first = to_version(clean)
    again = to_version(clean)
    other = to_version(clean.subset(np.arange(100)))

    assert index_sha256(first.folder) == index_sha256(again.folder)
    assert index_sha256(first.folder) != index_sha256(other.folder)
    assert len(index_sha256(first.folder)) == 64


def test_the_class_table_counts_readable_images(ingest, image_folder) -> None:
    root, paths = image_folder
    paths[45].write_bytes(b"not an image")  # a forest image

    table = class_table(ingest("image_folder", root))

    assert table["class_name"].tolist() == ["cloud", "forest", "sand", "sea"]
    assert table["images"].tolist() == [40, 39, 40, 40]
    np.testing.assert_allclose(table["share_ratio"], np.asarray([40, 39, 40, 40]) / 159 * 4)
