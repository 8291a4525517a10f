"""Fixtures for the validation tests: the project's parameters and suites, one call
that validates a dataset version and formats its report, clean synthetic images, and
the ways to make them a dataset version (in-memory arrays, an image folder, a source).

The helpers are handed out as fixtures: this folder is not a package, so test
modules cannot import from this file by name.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from visionops.dataplane.ingest import make_job, write_arrays
from visionops.dataplane.layout import INDEX_FILE
from visionops.dataplane.reader import ShardedDataset
from visionops.image_dataset import ImageDataset
from visionops.sources import open_source
from visionops.validation.gate import ValidationOutcome, format_report, validate_dataset

CONF = Path(__file__).parents[2] / "conf"
DATASET_SUITES = ("images", "dataset", "classes")
CLASS_NAMES = ("cloud", "forest", "sand", "sea")
IMAGES_PER_CLASS = 40
DATASET_NAME = "raw_dataset"

Validate = Callable[..., tuple[ValidationOutcome, str]]
ToVersion = Callable[..., ShardedDataset]


def load_parameters() -> dict[str, Any]:
    """The ``data_validation`` parameters, resolved as ``kedro run`` resolves them."""
    from visionops.config import read_parameters

    return read_parameters(CONF.parent)["data_validation"]


def load_suite(name: str) -> dict[str, Any]:
    """The expectation suite conf/base/expectations/<name>.json."""
    return json.loads((CONF / "base" / "expectations" / f"{name}.json").read_text())


def with_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with each override put where its name lives: in
    ``expectations`` (e.g. ``dtypes``) or at the top level (e.g. ``on_invalid``).

    Raises:
        KeyError: An override names no parameter, which would silently test nothing.
    """
    merged = copy.deepcopy(params)
    for name, value in overrides.items():
        if name in merged["expectations"]:
            merged["expectations"][name] = value
        elif name in merged:
            merged[name] = value
        else:
            raise KeyError(f"no data_validation parameter named {name!r}")
    return merged


def natural_images(count: int, seed: int = 0, side: int = 32, grid: int = 5) -> np.ndarray:
    """``[count, side, side, 3]`` uint8 smooth random colour fields with mild noise.

    Each is a ``grid`` x ``grid`` random colour grid enlarged with bicubic
    interpolation, like the large soft shapes of a photo; any two differ everywhere,
    so none is a copy or near-copy of another.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((count, side, side, 3), dtype=np.uint8)
    for index in range(count):
        small = rng.integers(0, 256, size=(grid, grid, 3), dtype=np.uint8)
        field = Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)
        noisy = np.asarray(field, dtype=np.float64) + rng.normal(0, 3, size=(side, side, 3))
        images[index] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return images


def clean_dataset(
    per_class: int = IMAGES_PER_CLASS, class_names: tuple[str, ...] = CLASS_NAMES, seed: int = 0
) -> ImageDataset:
    """A balanced dataset of distinct natural-ish 32x32x3 images that passes validation;
    image ``i`` has source id ``synthetic:i`` and classes come in blocks of ``per_class``."""
    count = per_class * len(class_names)
    return ImageDataset(
        images=natural_images(count, seed),
        labels=np.repeat(np.arange(len(class_names)), per_class).astype(np.int64),
        class_names=class_names,
        source_ids=np.asarray([f"synthetic:{index}" for index in range(count)]),
    )


def resized_copy(image: np.ndarray, side: int = 48) -> np.ndarray:
    """``image`` enlarged to ``side`` x ``side`` and shrunk back, both bicubic: a
    near-duplicate that differs from the original in most pixels."""
    height, width = image.shape[:2]
    enlarged = Image.fromarray(image).resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(enlarged.resize((width, height), Image.Resampling.BICUBIC))


def jpeg_copy(image: np.ndarray, quality: int = 90) -> np.ndarray:
    """``image`` saved as a JPEG at ``quality`` and decoded again.

    Colour is kept at full resolution (4:4:4): with PIL's default 4:2:0 chroma
    subsampling the perceptual hash, taken over the plain channel mean, moves by
    more than ``max_hash_distance`` bits for about half of these smooth images.
    """
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=0)
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return np.asarray(decoded.convert("RGB"))


def arrays_version(
    dataset: ImageDataset, target: Path, labels: np.ndarray | None = None
) -> ShardedDataset:
    """``dataset`` written as a dataset version at ``target`` (lossless).

    Args:
        dataset: The images.
        target: The dataset folder to write.
        labels: Labels to put in the index instead of ``dataset.labels``, some of
            them outside the class names (what a hand-made or foreign index can hold;
            ingestion names each image's class, so it is given in-range labels).
    """
    write_arrays(dataset, target, images_per_shard=64)
    if labels is not None:
        table = pq.read_table(target / INDEX_FILE)
        position = table.schema.get_field_index("label")
        table = table.set_column(position, "label", pa.array(labels, pa.int64()))
        pq.write_table(table, target / INDEX_FILE)
    return ShardedDataset(target)


def source_version(
    source: str,
    path: Path | None,
    target: Path,
    image_size: tuple[int, int] | None = (32, 32),
    channels: int = 3,
) -> ShardedDataset:
    """The source ``source`` at ``path`` ingested into ``target`` as the ingestion stage
    does it, images resized to ``image_size`` (None keeps each size)."""
    params = {
        "source": source,
        "path": None if path is None else str(path),
        "image_size": None if image_size is None else list(image_size),
        "channels": channels,
        "images_per_shard": 64,
    }
    make_job(open_source(source, path), params).write(target)
    return ShardedDataset(target)


def write_image_folder(root: Path, dataset: ImageDataset) -> list[Path]:
    """Writes each image of ``dataset`` as ``<root>/<class>/img_<index>.png``.

    Returns:
        The path of each image, in dataset order.
    """
    paths = []
    for index, (image, label) in enumerate(zip(dataset.images, dataset.labels, strict=True)):
        path = root / dataset.class_names[label] / f"img_{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def project_parameters() -> dict[str, Any]:
    """The project's ``data_validation`` parameters (read once; do not change them)."""
    return load_parameters()


@pytest.fixture
def params(project_parameters: dict[str, Any]) -> dict[str, Any]:
    """A copy of the ``data_validation`` parameters that a test may change."""
    return copy.deepcopy(project_parameters)


@pytest.fixture(scope="session")
def suites() -> list[dict[str, Any]]:
    """The images, dataset and classes suites, as the validation stage gets them."""
    return [load_suite(name) for name in DATASET_SUITES]


@pytest.fixture(scope="session")
def splits_suite() -> dict[str, Any]:
    """The suite over all splits together (no image in two splits)."""
    return load_suite("splits")


@pytest.fixture(scope="session")
def digits_version(tmp_path_factory: pytest.TempPathFactory) -> ShardedDataset:
    """The 1,797 bundled digits (the project's default source), ingested once."""
    return source_version("digits", None, tmp_path_factory.mktemp("digits") / "ds")


@pytest.fixture
def to_version(tmp_path_factory: pytest.TempPathFactory) -> ToVersion:
    """``to_version(dataset, labels=None) -> ShardedDataset``: in-memory images as a
    dataset version in a fresh folder (see :func:`arrays_version`)."""

    def write(dataset: ImageDataset, labels: np.ndarray | None = None) -> ShardedDataset:
        return arrays_version(dataset, tmp_path_factory.mktemp("version") / "ds", labels)

    return write


@pytest.fixture
def ingest(tmp_path_factory: pytest.TempPathFactory) -> ToVersion:
    """``ingest(source, path, image_size=(32, 32), channels=3) -> ShardedDataset``: a
    source ingested into a fresh folder (see :func:`source_version`)."""

    def write(source: str, path: Path | None, **options: Any) -> ShardedDataset:
        target = tmp_path_factory.mktemp("version") / "ds"
        return source_version(source, path, target, **options)

    return write


@pytest.fixture
def validate(
    project_parameters: dict[str, Any], suites: list[dict[str, Any]], to_version: ToVersion
) -> Validate:
    """``validate(dataset, reference=None, **overrides) -> (outcome, message)``: runs
    the gate on a dataset version (in-memory images are written as one first) with the
    project's suites and parameters (see :func:`with_overrides`); ``message`` is the
    one-screen report a user reads when validation fails."""

    def run(
        dataset: ShardedDataset | ImageDataset,
        reference: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> tuple[ValidationOutcome, str]:
        if isinstance(dataset, ImageDataset):
            dataset = to_version(dataset)
        params = with_overrides(project_parameters, overrides)
        outcome = validate_dataset(dataset, suites, reference, params)
        return outcome, format_report(outcome.report, DATASET_NAME)

    return run


@pytest.fixture
def make_images() -> Callable[..., np.ndarray]:
    """:func:`natural_images`: ``make_images(count, seed=0, side=32)``."""
    return natural_images


@pytest.fixture
def make_dataset() -> Callable[..., ImageDataset]:
    """:func:`clean_dataset`: ``make_dataset(per_class=40, class_names=..., seed=0)``."""
    return clean_dataset


@pytest.fixture
def clean() -> ImageDataset:
    """160 clean images: 4 classes of 40 distinct natural-ish 32x32x3 images."""
    return clean_dataset()


@pytest.fixture
def image_folder(tmp_path: Path, clean: ImageDataset) -> tuple[Path, list[Path]]:
    """The clean images written as PNG files into ``<tmp>/images/<class>/``; returns
    the folder and each file's path, in the order of ``clean``."""
    root = tmp_path / "images"
    return root, write_image_folder(root, clean)


@pytest.fixture
def make_resized_copy() -> Callable[[np.ndarray], np.ndarray]:
    """:func:`resized_copy`: a 48x48 round trip of an image."""
    return resized_copy


@pytest.fixture
def make_jpeg_copy() -> Callable[..., np.ndarray]:
    """:func:`jpeg_copy`: an image re-encoded as a quality 90 JPEG."""
    return jpeg_copy


@pytest.fixture
def write_folder() -> Callable[[Path, ImageDataset], list[Path]]:
    """:func:`write_image_folder`: ``write_folder(root, dataset) -> paths``."""
    return write_image_folder
