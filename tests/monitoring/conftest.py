"""Fixtures of the production loop tests: a digits reference, a prediction log written by
the real recorder, and a small project folder."""

from __future__ import annotations

import io
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from visionops.monitoring.recorder import PredictionRecorder
from visionops.monitoring.records import Prediction
from visionops.monitoring.settings import LogSettings, load_monitoring_settings
from visionops.registry.layout import (
    DATA_PROFILE_FILE,
    LINEAGE_FILE,
    version_dir,
    write_models_config,
)
from visionops.sources.digits import read_digits
from visionops.validation.drift import distribution_profile

ROOT = Path(__file__).parents[2]
MODEL = "digits"
CLASSES = tuple(str(digit) for digit in range(10))


def png(image: np.ndarray) -> bytes:
    """One ``[H, W, 1]`` uint8 image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0]).save(buffer, "PNG")
    return buffer.getvalue()


def log_settings(folder: Path, **changes: object) -> LogSettings:
    """The prediction log settings of the defaults, writing to ``folder``."""
    values = {
        "enabled": True,
        "folder": folder,
        "sample_rate": 1.0,
        "capture_images": True,
        "max_log_bytes": 1 << 30,
        "queue_size": 10000,
        "segment_records": 50,
        "segment_seconds": 60.0,
    }
    return LogSettings(**{**values, **changes})  # type: ignore[arg-type]


def prediction(
    images: np.ndarray, predicted: list[str], confidence: float = 0.9, when: float | None = None
) -> Prediction:
    """One request of ``images`` (sent as PNGs) answered ``predicted`` by digits version 1."""
    probabilities = np.full((len(images), len(CLASSES)), (1 - confidence) / 9, np.float32)
    for row, name in enumerate(predicted):
        probabilities[row, CLASSES.index(name)] = confidence
    inputs = np.empty(len(images), dtype=object)
    inputs[:] = [png(image) for image in images]
    return Prediction(
        request_id=uuid.uuid4().hex,
        time=when if when is not None else time.time(),
        model=MODEL,
        version=1,
        label="production",
        signature="serving_default",
        protocol="rest",
        inputs=inputs,
        probabilities=probabilities,
        class_names=np.array([name.encode() for name in predicted], dtype=object),
        image_shape=(8, 8, 1),
    )


def record_all(
    folder: Path, predictions: list[Prediction], **changes: object
) -> PredictionRecorder:
    """Records ``predictions`` with the real recorder and closes it (segments written)."""
    recorder = PredictionRecorder(log_settings(folder, **changes))
    recorder.start()
    for item in predictions:
        assert recorder.offer(item)
    recorder.close()
    return recorder


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: uint8 images ``[N, 8, 8, 1]`` and labels."""
    data = read_digits()
    return data.images, data.labels


def make_project(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """A project folder: the real conf/base and params.yaml (model_name digits), and a
    registry whose digits version 1 (production) keeps the profile of ``images`` and a
    test split of 30 per class. The version holds no SavedModel: monitoring reads only
    its assets.extra."""
    shutil.copytree(ROOT / "conf" / "base", folder / "conf" / "base")
    (folder / "conf" / "local").mkdir()
    parameters = yaml.safe_load((ROOT / "params.yaml").read_text())
    parameters["model_name"] = MODEL
    (folder / "params.yaml").write_text(yaml.safe_dump(parameters))
    profile = distribution_profile(images, labels, CLASSES, (0, 255), 32)
    version = version_dir(folder / "registry", MODEL, 1)
    (version / DATA_PROFILE_FILE).parent.mkdir(parents=True)
    (version / DATA_PROFILE_FILE).write_text(json.dumps(profile))
    lineage = {
        "class_names": list(CLASSES),
        "image_shape": [8, 8, 1],
        "metrics": {"per_class": {name: {"support": 30} for name in CLASSES}},
    }
    (version / LINEAGE_FILE).write_text(json.dumps(lineage))
    write_models_config(folder / "registry", {MODEL: {"production": 1}})
    return folder


@pytest.fixture
def project(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> Path:
    """A project with digits version 1 in production (see :func:`make_project`)."""
    return make_project(tmp_path / "project", *digits)


@pytest.fixture
def production(project: Path) -> Path:
    """The project's production folder (prediction_log.folder)."""
    return load_monitoring_settings(project).log.folder


@pytest.fixture
def log_digits(
    production: Path, digits: tuple[np.ndarray, np.ndarray]
) -> Callable[..., list[Prediction]]:
    """Logs digits ``rows`` (optionally transformed) as requests of 4 images, predicted
    as their true class unless ``predicted`` says otherwise; returns the requests."""

    def log(
        rows: np.ndarray,
        transform: Callable[[np.ndarray], np.ndarray] = lambda images: images,
        predicted: Callable[[int], str] | None = None,
        confidence: float = 0.9,
    ) -> list[Prediction]:
        images, labels = digits
        requests = []
        for start in range(0, len(rows), 4):
            chosen = rows[start : start + 4]
            names = [predicted(int(labels[i])) if predicted else str(labels[i]) for i in chosen]
            requests.append(prediction(transform(images[chosen]), names, confidence))
        record_all(production, requests)
        return requests

    return log
