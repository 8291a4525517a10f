"""The ingestion pipeline writes a source as a dataset version (shards + index) and
summarises it, through the real catalog datasets."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image

from visionops.dataplane.reader import ShardedDataset
from visionops.datasets.sharded_images import ShardedImagesDataset
from visionops.pipelines.ingestion import create_pipeline
from visionops.sources import open_source

from .conftest import load_parameters


def _run(tmp_path: Path, source_images, params) -> tuple[ShardedDataset, dict]:
    raw = ShardedImagesDataset(
        path=str(tmp_path / "raw_dataset"), cache=str(tmp_path / "ingest_cache.sqlite")
    )
    summary = MemoryDataset()
    catalog = DataCatalog(
        {
            "source_images": MemoryDataset(source_images, copy_mode="assign"),
            "params:ingestion": MemoryDataset(params),
            "raw_dataset": raw,
            "ingestion_summary": summary,
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return raw.load(), summary.load()


def test_digits_become_a_dataset_version_and_a_summary(tmp_path: Path) -> None:
    dataset, summary = _run(tmp_path, open_source("digits", None), load_parameters("ingestion"))
    assert len(dataset) == 1797
    assert dataset.image_shape == (8, 8, 1)
    assert (dataset.folder / "index.parquet").is_file()
    assert all(path.is_file() for path in dataset.shard_files())
    assert summary["source"] == "digits"
    assert summary["images"] == 1797
    assert summary["classes"] == 10
    assert sum(summary["images_per_class"].values()) == 1797
    assert summary["dtype"] == "uint8"
    assert summary["unreadable"] == 0
    assert summary["shards"] == 1  # 1,797 images, 2,048 per shard


def _folder(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(3)
    for label, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 255, size=(20, 24, 3), dtype=np.uint8)
            pixels[:, :, label] = 255
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


def test_a_folder_is_ingested_with_its_unreadable_file_named(tmp_path: Path) -> None:
    root = _folder(tmp_path / "pets")
    (root / "dog" / "notes.png").write_text("not an image")
    params = {"source": "image_folder", "path": str(root), "image_size": [16, 16], "channels": 3}
    dataset, summary = _run(tmp_path, open_source("image_folder", root), params)
    assert summary["images"] == 13
    assert summary["unreadable"] == 1
    assert summary["images_per_class"] == {"cat": 6, "dog": 7}
    assert summary["source_formats"] == {"PNG": 12}
    bad = dataset.index.set_index("source_id").loc["dog/notes.png"]
    assert not bad["readable"]
    assert "cannot identify image file" in bad["read_error"]
    assert dataset.read_images([0]).shape == (1, 16, 16, 3)


def test_a_grown_folder_reuses_the_work_done_for_unchanged_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _folder(tmp_path / "pets")
    params = {"source": "image_folder", "path": str(root), "image_size": [16, 16], "channels": 3}
    _run(tmp_path, open_source("image_folder", root), params)
    Image.new("RGB", (20, 24), (9, 99, 199)).save(root / "cat" / "new.png")
    with caplog.at_level(logging.INFO):
        dataset, summary = _run(tmp_path, open_source("image_folder", root), params)
    assert summary["images"] == 13
    assert "reused earlier work for 12 of 13 images" in caplog.text
    assert "cat/new.png" in set(dataset.index["source_id"])


def test_bad_parameters_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    params = {"source": "digits", "image_size": [32, 32], "channels": 2}
    with pytest.raises(Exception, match="ingestion.channels must be 1 or 3"):
        _run(tmp_path, open_source("digits", None), params)
    assert not (tmp_path / "raw_dataset").exists()
