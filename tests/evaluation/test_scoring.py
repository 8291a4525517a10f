"""Evaluation streams the test split: probabilities and the production model's scores
batch by batch, and only the images the latency samples and the gallery show are read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.evaluation.production import ProductionModel
from visionops.evaluation.scoring import evaluate_split
from visionops.image_dataset import ImageDataset
from visionops.modeling.architectures import build_model

CLASSES = ("low", "middle", "high")


def _banded(count: int) -> ImageDataset:
    """Class k lights rows 3k to 3k+2 of a 9x9 image."""
    rng = np.random.default_rng(0)
    labels = np.arange(count) % 3
    images = rng.integers(0, 50, size=(count, 9, 9, 1))
    for index, label in enumerate(labels):
        images[index, 3 * label : 3 * label + 3] += 200
    return ImageDataset(
        images.astype(np.uint8), labels, CLASSES, np.asarray([f"test:{i}" for i in range(count)])
    )


class CountingSplit(ShardedDataset):
    """A split that keeps every row whose pixels were read."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.rows_read: list[int] = []

    def read_images(self, rows: Sequence[int]) -> np.ndarray:
        self.rows_read.extend(int(row) for row in rows)
        return super().read_images(rows)

    def to_memory(self) -> ImageDataset:
        raise AssertionError("evaluation must not hold the split in memory")


def _band_reader() -> ProductionModel:
    """A production model that reads the band: always right on :func:`_banded` images."""

    def signature(images: tf.Tensor) -> dict[str, tf.Tensor]:
        bands = tf.reshape(tf.cast(images, tf.float32), (-1, 3, 27))
        return {"probabilities": tf.one_hot(tf.argmax(tf.reduce_mean(bands, axis=2), 1), 3)}

    return ProductionModel(
        version=4, image_shape=(9, 9, 1), class_names=CLASSES, signature=signature
    )


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("split") / "test"
    write_arrays(_banded(150), folder, images_per_shard=40)
    return folder


def test_scores_stream_and_only_shown_images_are_read(split: Path) -> None:
    keras.utils.set_random_seed(0)
    model = build_model("simple_cnn", (9, 9, 1), 3, width=4)
    test = CountingSplit(split)

    scored = evaluate_split(model, test, _band_reader(), 32, latency_samples=5, gallery_size=4)

    expected = model.predict(_banded(150).images.astype(np.float32), verbose=0)
    predicted = np.asarray(CLASSES)[expected.argmax(axis=1)]
    assert scored.predictions["predicted"].tolist() == predicted.tolist()
    assert scored.predictions["actual"].tolist() == [CLASSES[i % 3] for i in range(150)]
    assert scored.report["test_images"] == 150
    accuracy = float(np.mean(expected.argmax(axis=1) == np.arange(150) % 3))
    assert scored.report["accuracy"] == pytest.approx(accuracy)
    production = scored.report["production"]
    assert production["version"] == 4 and production["comparable"] is True
    assert production["metrics"]["accuracy"] == 1.0
    assert scored.latency["p99_ms"] >= scored.latency["p50_ms"] > 0
    # Read whole: one batch for latency and throughput, and the four mistakes drawn.
    assert len(test.rows_read) <= 32 + 4
    shown = [axis for axis in scored.gallery.axes if axis.images]
    assert 0 < len(shown) <= 4
    for axis in shown:
        row = int(axis.get_title().rsplit("test:", 1)[1])
        drawn = axis.images[0].get_array()
        np.testing.assert_array_equal(drawn, _banded(150).images[row][..., 0])


def test_a_production_model_of_other_classes_is_not_comparable(split: Path) -> None:
    keras.utils.set_random_seed(0)
    model = build_model("simple_cnn", (9, 9, 1), 3, width=4)

    def two_classes(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"probabilities": tf.fill((tf.shape(images)[0], 2), 0.5)}

    production = ProductionModel(1, (9, 9, 1), (), two_classes)
    scored = evaluate_split(model, ShardedDataset(split), production, 64, 2, 2)

    assert scored.report["production"] == {
        "version": 1,
        "comparable": False,
        "why": "has 2 classes, not 3",
    }
