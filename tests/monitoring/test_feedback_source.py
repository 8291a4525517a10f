"""An exported feedback folder ingested together with the digits: ingestion.source as a list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionops.errors import ConfigError, SourceError
from visionops.pipelines.ingestion.nodes import ingest_images
from visionops.sources import open_source, resolve_paths, source_entries


def _feedback_folder(root: Path, classes: dict[str, int], side: int = 8) -> Path:
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            pixels = np.full((side, side), 255 - index, dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"r{index}-0.png")
    (root / "feedback.json").write_text(
        json.dumps({"format": 1, "images": sum(classes.values()), "items": [{"file": "x"}]})
    )
    return root


def test_digits_and_a_feedback_folder_become_one_listing(tmp_path: Path) -> None:
    folder = _feedback_folder(tmp_path / "feedback", {"3": 2, "7": 1})
    images = open_source(["digits", {"source": "image_folder", "path": str(folder)}], None)
    assert len(images) == 1797 + 3
    assert images.class_names == tuple(str(digit) for digit in range(10))
    assert images.arrays is not None and images.arrays.images.shape == (1800, 8, 8, 1)
    assert [images.class_names[label] for label in images.labels[-3:]] == ["3", "3", "7"]
    assert images.source_ids[-1] == "feedback/7/r0-0.png"
    assert int(images.arrays.images[-1].min()) == 255  # the PNG's pixels, not zeros
    digits, feedback = images.sources
    assert digits == {"source": "digits", "path": None, "images": 1797}
    assert feedback["feedback"] == {"format": 1, "images": 3}  # the manifest, less its items


def test_the_ingestion_job_describes_each_source(tmp_path: Path) -> None:
    folder = _feedback_folder(tmp_path / "feedback", {"3": 1})
    params = {
        "source": ["digits", {"source": "image_folder", "path": str(folder)}],
        "path": "data/01_raw",
        "image_size": None,
        "channels": 1,
    }
    job = ingest_images(open_source(params["source"], None), params)
    assert [source["source"] for source in job.description["sources"]] == [
        "digits",
        "image_folder",
    ]
    single = ingest_images(open_source("digits", None), {"source": "digits"})
    assert "sources" not in single.description  # one plain source: dataset.json as before


def test_folders_of_another_size_are_resized_to_the_first_source(tmp_path: Path) -> None:
    folder = _feedback_folder(tmp_path / "feedback", {"1": 1}, side=20)
    images = open_source(["digits", {"source": "image_folder", "path": str(folder)}], None)
    assert images.arrays is not None and images.arrays.images.shape[1:] == (8, 8, 1)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ([], "empty list"),
        ([{"path": "x"}], "entry 0 must be a source name or"),
        (["digits", {"source": "tar", "path": "x"}], "ingestion.source is 'tar'"),
        (["digits", {"source": "image_folder"}], "ingestion.path must name the image_folder"),
    ],
)
def test_a_bad_list_is_refused_naming_the_entry(source: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        source_entries(source, None)


def test_a_missing_feedback_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        open_source(["digits", {"source": "image_folder", "path": str(tmp_path / "no")}], None)


def test_relative_entry_paths_are_taken_from_the_project(tmp_path: Path) -> None:
    source = ["digits", {"source": "image_folder", "path": "data/01_raw/feedback"}]
    resolved = resolve_paths(source, tmp_path)
    assert resolved[1]["path"] == str(tmp_path / "data/01_raw/feedback")
    assert resolve_paths("digits", tmp_path) == "digits"
