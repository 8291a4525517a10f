"""A digits version registered by the real registration code, signed with a test key.

The version is the tiny model of tests/registering.py (not trained), registered by
``store.register`` with a lineage record built as the deployment stage builds it: its
evaluation is that model's real scores on scikit-learn's digits, its data profile that
of the digits, so the card, the SBOM and the signature are what a deployment writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from registering import register_version
from visionops.evaluation.metrics import classification_metrics
from visionops.lineage.version_record import build_lineage_record
from visionops.pipelines.evaluation.nodes import headline_metrics
from visionops.release.settings import KEY_VARIABLE
from visionops.sources.digits import read_digits
from visionops.validation.drift import distribution_profile

MODEL = "digits"
ACTOR = "release-test@ci"


def write_key(path: Path) -> Path:
    """Writes a new P-256 private key (PEM) to ``path``."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="session", autouse=True)
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The key every registration of these tests signs with (VISIONOPS_SIGNING_KEY), so
    that no test makes a key in the project's conf/local."""
    path = write_key(tmp_path_factory.mktemp("keys") / "signing.pem")
    before = os.environ.get(KEY_VARIABLE)
    os.environ[KEY_VARIABLE] = str(path)
    yield path
    if before is None:
        os.environ.pop(KEY_VARIABLE, None)
    else:
        os.environ[KEY_VARIABLE] = before


@dataclass(frozen=True)
class Registered:
    """A registered digits version: registry root, version folder, metrics.json's figures."""

    root: Path
    path: Path
    metrics: dict[str, Any]


def digits_lineage() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The lineage record, data profile and metrics.json of the tiny model on digits."""
    import keras

    from registering import CLASS_NAMES, _tiny_model

    digits = read_digits()
    probabilities = np.asarray(_tiny_model().predict(digits.images, verbose=0))
    evaluation = classification_metrics(probabilities, digits.labels, CLASS_NAMES)
    evaluation["production"] = None
    blessing = {
        "blessed": True,
        "reason": "blessed by force (tester: card test)",
        "checks": [{"check": "accuracy", "passed": False, "reason": "accuracy is low"}],
        "champion_version": None,
        "forced": {"by": ACTOR, "reason": "card test"},
    }
    training = {
        "weights_sha256": "ab" * 32,
        "epochs_run": 3,
        "epochs_requested": 3,
        "best_epoch": 3,
        "seed": 42,
        "deterministic": True,
        "devices": ["/device:CPU:0"],
        "strategy": "default",
        "precision": "float32",
        "versions": {"tensorflow": "2.21.0", "keras": keras.__version__},
    }
    sources = {
        "code": {"commit": "c0ffee" + "0" * 34, "dirty": False},
        "stages": {},
        "parameters": {"training": {"architecture": "simple_cnn", "epochs": 3}},
    }
    validation = {"success": True, "images": len(digits.labels), "evaluated": 16, "failed": 0}
    record = build_lineage_record(
        evaluation,
        blessing,
        validation,
        training,
        sources,
        {"actor": ACTOR, "time": "2026-12-02T10:00:00+00:00"},
        CLASS_NAMES,
        (8, 8, 1),
    ) | {"data_source": {"source": "digits", "path": None}}
    profile = distribution_profile(digits.images, digits.labels, CLASS_NAMES, (0, 255))
    return record, profile, headline_metrics(evaluation)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """digits:1 (production), registered and signed; its metrics.json beside the registry."""
    record, profile, metrics = digits_lineage()
    root = tmp_path_factory.mktemp("release") / "registry"
    path = register_version(
        root, MODEL, 1, record, ("production",), actor=ACTOR, data_profile=profile
    )
    (root.parent / "metrics.json").write_text(json.dumps(metrics))
    return Registered(root, path, metrics)
