"""Probabilities stream from a split's shards, one row per readable image, in index order."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from visionops.dataplane.ingest import make_job
from visionops.dataplane.reader import ShardedDataset
from visionops.modeling.architectures import build_model
from visionops.modeling.prediction import predict_probabilities
from visionops.sources import open_source

sys.path.insert(0, str(Path(__file__).parent))
from train_script import synthetic, write_split  # noqa: E402


def _model(shape: tuple[int, int, int]) -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_model("simple_cnn", shape, 3, width=4)


def test_probabilities_follow_the_index_across_shards(tmp_path: Path) -> None:
    split = write_split(synthetic(70, 0), tmp_path / "test")  # shards of 32, 32 and 6
    model = _model(split.image_shape)

    probabilities = predict_probabilities(model, split, batch_size=16)

    expected = model.predict(split.to_memory().images.astype(np.float32), verbose=0)
    assert probabilities.shape == (70, 3)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)


def test_unreadable_images_get_no_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "folder" / name).mkdir(parents=True)
        for number in range(3):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "folder" / name / f"{number}.png")
    (tmp_path / "folder" / "a" / "1.png").write_bytes(b"not an image")
    source = open_source("image_folder", tmp_path / "folder")
    params = {"source": "image_folder", "path": str(tmp_path / "folder"), "image_size": None}
    make_job(source, params).write(tmp_path / "split")
    split = ShardedDataset(tmp_path / "split")
    readable = np.flatnonzero(split.index["readable"].to_numpy(dtype=bool))
    assert readable.tolist() == [0, 2, 3, 4, 5]
    model = _model(split.image_shape)

    probabilities = predict_probabilities(model, split, batch_size=2)

    expected = model.predict(split.read_images(readable).astype(np.float32), verbose=0)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
