"""Training inputs read split folders: decoded in the graph exactly as Pillow decodes
them, in memory when they fit the budget, streamed from their shards when not."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionops.dataplane.ingest import make_job, write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.image_dataset import ImageDataset
from visionops.modeling.inputs import (
    SplitInput,
    decoded_megabytes,
    image_batches,
    split_inputs,
    stream_records,
)
from visionops.sources import open_source

sys.path.insert(0, str(Path(__file__).parent))
from train_script import synthetic, write_split  # noqa: E402


def _photo(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    """A smooth gradient with noise: JPEG keeps much of it, and rounds the rest."""
    rows = np.linspace(0, 200, height)[:, None, None]
    columns = np.linspace(0, 50, width)[None, :, None]
    tint = np.linspace(0, 40, channels)[None, None, :]
    noise = rng.normal(0, 20, size=(height, width, channels))
    return np.clip(rows + columns + tint + noise, 0, 255).astype(np.uint8)


def _ingest_folder(root: Path, target: Path, channels: int) -> ShardedDataset:
    """Ingests the image folder ``root`` as it is (no resize) into ``target``."""
    params = {"source": "image_folder", "path": str(root), "image_size": None}
    params["channels"] = channels
    params["images_per_shard"] = 2
    make_job(open_source("image_folder", root), params).write(target)
    return ShardedDataset(target)


def _write_images(root: Path, channels: int, kinds: list[dict]) -> None:
    """Writes one image file per entry of ``kinds`` (Pillow save options), two classes."""
    rng = np.random.default_rng(channels)
    for number, options in enumerate(kinds):
        folder = root / f"class_{number % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = _photo(rng, 21, 27, channels)
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
        suffix = ".png" if options.get("format") == "PNG" else ".jpg"
        image.save(folder / f"image_{number:02d}{suffix}", **{"format": "JPEG", **options})


JPEG_KINDS = [
    {"quality": 95},  # 4:2:0 chroma subsampling, Pillow's default
    {"quality": 75, "subsampling": 0},  # 4:4:4
    {"quality": 90, "subsampling": 1},  # 4:2:2
    {"quality": 50, "progressive": True},
    {"quality": 85},
    {"quality": 99, "subsampling": 2},
]


@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "gray"])
def test_jpeg_records_decode_in_the_graph_exactly_as_pillow_decodes_them(
    tmp_path: Path, channels: int
) -> None:
    _write_images(tmp_path / "photos", channels, JPEG_KINDS)
    split = _ingest_folder(tmp_path / "photos", tmp_path / "split", channels)
    assert set(split.index["encoding"]) == {"jpeg"}, "JPEG files are kept as they are"
    assert len(split.shard_files()) >= 2

    streamed = np.stack([image for image, _ in stream_records(split).as_numpy_iterator()])
    pillow = split.read_images(range(len(split)))

    assert streamed.dtype == np.uint8
    assert streamed.shape == (len(JPEG_KINDS), 21, 27, channels)
    np.testing.assert_array_equal(streamed, pillow)
    held = SplitInput(split, 2, cache_budget_mb=64, name="test")
    assert held.in_memory
    batches = [images for images, _ in held.evaluation_batches().as_numpy_iterator()]
    np.testing.assert_array_equal(np.concatenate(batches), pillow.astype(np.float32))


def test_a_split_of_png_and_jpeg_records_decodes_each_by_its_encoding(tmp_path: Path) -> None:
    _write_images(tmp_path / "mixed", 3, [{"format": "PNG"}, {"quality": 80}] * 3)
    split = _ingest_folder(tmp_path / "mixed", tmp_path / "split", 3)
    assert set(split.index["encoding"]) == {"png", "jpeg"}

    streamed = np.concatenate(list(image_batches(split, 4).as_numpy_iterator()))

    np.testing.assert_array_equal(streamed, split.read_images(range(len(split))))


def test_raw_records_of_float_images_decode_to_their_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(0, 1, size=(10, 5, 6, 3)).astype(np.float32)
    dataset = ImageDataset(images, np.arange(10) % 2, ("a", "b"), np.arange(10).astype(str))
    write_arrays(dataset, tmp_path / "split", images_per_shard=3)
    split = ShardedDataset(tmp_path / "split")
    assert set(split.index["encoding"]) == {"raw"}

    streamed = [(image, label) for image, label in stream_records(split).as_numpy_iterator()]

    np.testing.assert_array_equal(np.stack([image for image, _ in streamed]), images)
    assert [label for _, label in streamed] == dataset.labels.tolist()


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> ShardedDataset:
    """96 distinct 12x12 images in three shards of 32."""
    return write_split(synthetic(96, 0), tmp_path_factory.mktemp("split") / "train")


def _epochs(source: SplitInput, first: int, epochs: int, seed: int = 1) -> list[np.ndarray]:
    """The images of each batch of epochs ``first`` to ``epochs - 1``, unaugmented."""
    batches = source.training_batches(seed, first, epochs, {})
    return [images for images, _ in batches.as_numpy_iterator()]


def test_train_and_val_share_one_budget_train_first(split: ShardedDataset) -> None:
    size = decoded_megabytes(split)

    both = split_inputs(split, split, 16, cache_budget_mb=2.5 * size)
    train_only = split_inputs(split, split, 16, cache_budget_mb=1.5 * size)
    neither = split_inputs(split, split, 16, cache_budget_mb=0.5 * size)

    assert [item.in_memory for item in both] == [True, True]
    assert [item.in_memory for item in train_only] == [True, False]
    assert [item.in_memory for item in neither] == [False, False]
    assert train_only[0].held_mb == size and train_only[1].held_mb == 0


def test_a_split_over_the_budget_streams_every_image_once_an_epoch(split: ShardedDataset) -> None:
    streamed = SplitInput(split, 16, cache_budget_mb=0.01, name="train")
    held = SplitInput(split, 16, cache_budget_mb=64, name="train")
    assert split.meta.images * 12 * 12 > 0.01 * 2**20, "the split is over the budget"
    assert not streamed.in_memory
    assert held.in_memory

    batches = _epochs(streamed, 0, 2)

    assert len(batches) == 2 * 96 // 16
    assert all(batch.shape == (16, 12, 12, 1) for batch in batches)
    originals = sorted(image.tobytes() for image in split.to_memory().images)
    for epoch in (batches[:6], batches[6:]):
        seen = sorted(image.astype(np.uint8).tobytes() for batch in epoch for image in batch)
        assert seen == originals, "every image once per epoch"
    assert not np.array_equal(batches[0], batches[6]), "each epoch has its own order"
    assert not np.array_equal(batches[0], _epochs(held, 0, 1)[0]), "shards, not memory"


def test_a_streamed_epoch_is_the_same_whether_resumed_or_not(split: ShardedDataset) -> None:
    """Epoch k's batches depend on (seed, epoch) alone: resuming stays exact."""
    streamed = SplitInput(split, 16, cache_budget_mb=0, name="train")

    whole = _epochs(streamed, 0, 3)
    resumed = _epochs(SplitInput(split, 16, cache_budget_mb=0, name="train"), 2, 3)
    other_seed = _epochs(streamed, 2, 3, seed=2)

    for got, expected in zip(resumed, whole[12:], strict=True):
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(other_seed[0], whole[12])


def test_training_on_streamed_splits_learns_and_repeats_its_weights(
    split: ShardedDataset, tmp_path: Path
) -> None:
    from visionops.modeling.trainer import train_model

    val = write_split(synthetic(24, 1), tmp_path / "val")
    params = {
        "architecture": "simple_cnn",
        "width": 8,
        "dropout_rate": 0.25,
        "epochs": 2,
        "batch_size": 16,
        "optimizer": "adam",
        "learning_rate": 0.003,
        "schedule": "constant",
        "augmentation": {"flip": True, "translate": 1},
        "precision": "float32",
        "deterministic": True,
        "cache_budget_mb": 0,
        "seed": 0,
        "verbose": False,
    }

    first = train_model(split, val, params)
    again = train_model(split, val, params)

    assert first.metadata["weights_sha256"] == again.metadata["weights_sha256"]
    assert first.history[-1]["loss"] < first.history[0]["loss"]
    assert first.history == again.history


def test_shards_holding_fewer_images_than_the_index_are_named(tmp_path: Path) -> None:
    import shutil

    from visionops.errors import SourceError

    whole = write_split(synthetic(10, 0), tmp_path / "whole")
    shorter = write_split(synthetic(6, 0), tmp_path / "shorter")
    shutil.copyfile(shorter.shard_files()[0], whole.shard_files()[0])

    with pytest.raises(SourceError, match="shards hold 6 images but its index 10 readable"):
        SplitInput(ShardedDataset(whole.folder), 4, cache_budget_mb=64, name="train")
