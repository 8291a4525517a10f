"""Throughput of the data validation gate on 50,000 random 32x32x3 images.

The images are first ingested into a dataset version in a temporary folder (not
timed; :func:`~visionops.dataplane.ingest.write_arrays`). Then it times one
:func:`~visionops.validation.gate.validate_dataset` call on that version (the image
profile from the index, the project's expectation suites from
conf/base/expectations and the drift checks from the stored histograms, with the
project's data_validation parameters) against a reference profile. Imports and one
warm-up validation of 500 images come first and are not timed, so Great
Expectations' first-call setup is not counted. For scale, it also times a plain numpy
pass computing each image's min, max, mean and std over the images in memory: what
profiling the pixels again would cost at the least, which validating from the index
does not pay. Last line: ``images_per_s=<x> seconds=<y>``.

Usage: .venv/bin/python benchmarks/validation_speed.py [--images 50000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from visionops.config import read_parameters
from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.image_dataset import ImageDataset
from visionops.validation.gate import validate_dataset

ROOT = Path(__file__).parents[1]
SUITE_NAMES = ("images", "dataset", "classes")
CLASSES = 10
WARM_UP_IMAGES = 500


def random_dataset(count: int, seed: int) -> ImageDataset:
    """``count`` uniform random 32x32x3 uint8 images, labels balanced over 10 classes
    (so the class balance expectation passes) and shuffled."""
    rng = np.random.default_rng(seed)
    return ImageDataset(
        images=rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8),
        labels=rng.permutation(np.arange(count) % CLASSES).astype(np.int64),
        class_names=tuple(f"class_{index}" for index in range(CLASSES)),
        source_ids=np.asarray([f"random:{index}" for index in range(count)]),
    )


def as_version(dataset: ImageDataset, target: Path) -> ShardedDataset:
    """``dataset`` ingested as a dataset version at ``target``."""
    write_arrays(dataset, target)
    return ShardedDataset(target)


def numpy_baseline(images: np.ndarray, chunk_size: int) -> np.ndarray:
    """Each image's min, max, mean and std with plain numpy, in the gate's chunks."""
    parts = []
    for start in range(0, len(images), chunk_size):
        flat = images[start : start + chunk_size].reshape(-1, np.prod(images.shape[1:]))
        parts.append(
            np.stack([flat.min(axis=1), flat.max(axis=1), flat.mean(axis=1), flat.std(axis=1)])
        )
    return np.concatenate(parts, axis=1)


def project_settings() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The project's dataset suites and ``data_validation`` parameters."""
    expectations = ROOT / "conf" / "base" / "expectations"
    suites = [json.loads((expectations / f"{name}.json").read_text()) for name in SUITE_NAMES]
    return suites, read_parameters(ROOT)["data_validation"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000, help="images to validate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="validation-speed-") as folder:
        run(args.images, args.seed, Path(folder))


def run(count: int, seed: int, folder: Path) -> None:
    """Ingests, warms up, and times the validation of ``count`` random images."""
    suites, params = project_settings()
    images = random_dataset(count, seed)
    print(f"{count} random 32x32x3 uint8 images, {CLASSES} balanced classes, seed {seed}")
    start = time.perf_counter()
    dataset = as_version(images, folder / "dataset")
    print(f"ingested into a dataset version (not timed): {time.perf_counter() - start:.1f} s")

    # Not timed: Great Expectations sets itself up on its first validation. Its data
    # profile (other random images) is the drift reference, so drift is checked too.
    warm_up = validate_dataset(
        as_version(random_dataset(WARM_UP_IMAGES, seed + 1), folder / "warm_up"),
        suites,
        None,
        params,
    )
    reference = {"origin": "warm-up", "profile": warm_up.data_profile}
    print(f"warm-up: one untimed validation of {WARM_UP_IMAGES} images (first-call setup)")

    start = time.perf_counter()
    report = validate_dataset(dataset, suites, reference, params).report
    seconds = time.perf_counter() - start
    drift = ", ".join(f"{check['check']} {check['status']}" for check in report["drift"]["checks"])
    print(
        f"passed: {report['success']} ({report['failed']} of {report['evaluated']} expectations "
        f"failed; drift: {drift})"
    )

    start = time.perf_counter()
    numpy_baseline(images.images, int(params.get("chunk_size", 4096)))
    baseline = time.perf_counter() - start
    print(
        f"numpy baseline (per-image min/max/mean/std): {baseline:.2f} s, "
        f"{count / baseline:,.0f} images/s"
    )
    print(
        f"validate_dataset: {seconds:.2f} s, {count / seconds:,.0f} images/s, "
        f"{seconds / baseline:.1f}x the numpy baseline"
    )
    print(f"images_per_s={count / seconds:.0f} seconds={seconds:.2f}")


if __name__ == "__main__":
    main()
