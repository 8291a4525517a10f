"""Registered versions with full lineage records, for the lineage tests.

Shared by the tests and ``benchmarks/lineage_trace.py``. A version is registered by
``store.register`` (through tests/registering.py): a SavedModel of a tiny model,
``lineage.json`` with the sha256 of every other file, a data profile, labels moved, a
``registered`` event with the content digest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from registering import register_version
from visionops.registry.layout import LINEAGE_FILE

ACTOR = "auditor-test@ci"
RAW = "data/02_intermediate/raw_dataset"
VALIDATED = "data/03_primary/validated.json"
SPLITS = ("data/05_model_input/train", "data/05_model_input/val")
TEST_SPLIT = "data/05_model_input/test"
MODEL_FILE = "data/06_models/model.keras"
METRICS = "data/08_reporting/metrics.json"
SOURCE = "data/01_raw/digits.npz"
WEIGHTS_FILE = "variables/variables.data-00000-of-00001"


def md5_of(text: str) -> str:
    """A stand-in md5, the same for the same text."""
    return hashlib.md5(text.encode()).hexdigest()


def record(seed: str, raw_md5: str | None = None, **changes: Any) -> dict[str, Any]:
    """A lineage record as the deployment stage writes it, every field present.

    Args:
        seed: Makes the hashes of every output but the raw dataset distinct.
        raw_md5: The raw dataset's md5 (default: derived from ``seed``).
        changes: Top-level fields to replace.
    """
    # Dataset versions are folders: DVC's md5 of a folder ends in ".dir".
    raw = raw_md5 or md5_of(f"{seed}:raw") + ".dir"
    train, val = (md5_of(f"{seed}:{path}") + ".dir" for path in SPLITS)
    test = md5_of(f"{seed}:{TEST_SPLIT}") + ".dir"
    validated = md5_of(f"{seed}:{VALIDATED}")
    model, metrics = (md5_of(f"{seed}:{p}") for p in (MODEL_FILE, METRICS))
    params = {"ingestion.source": "npz", "ingestion.path": SOURCE}
    stages = {
        "ingestion": {
            "deps": {SOURCE: md5_of(f"{seed}:source"), "src/visionops/sources": "5" * 32 + ".dir"},
            "outs": {RAW: raw, "data/08_reporting/ingestion.json": md5_of(f"{seed}:ij")},
            "params": {"params.yaml": params},
        },
        "data_validation": {"deps": {RAW: raw}, "outs": {VALIDATED: validated}, "params": {}},
        "data_processing": {
            "deps": {RAW: raw, VALIDATED: validated},
            "outs": {SPLITS[0]: train, SPLITS[1]: val, TEST_SPLIT: test},
            "params": {"params.yaml": {"data_processing.seed": 42}},
        },
        "training": {
            "deps": {SPLITS[0]: train, SPLITS[1]: val},
            "outs": {MODEL_FILE: model},
            "params": {"params.yaml": {"training.epochs": 40}},
        },
        "evaluation": {"deps": {MODEL_FILE: model, TEST_SPLIT: test}, "outs": {METRICS: metrics}},
        # Written by the run before, as in a real record: not this version's data.
        "deployment": {"deps": {METRICS: md5_of("the run before")}, "outs": {}},
    }
    full = {
        "format": 1,
        "code": {
            "commit": "c0ffee" + "0" * 34,
            "dirty": False,
            "changed_files": [],
            "branch": "main",
        },
        "stages": stages,
        "data_source": {"sources": [{"source": "npz", "path": SOURCE, "images": 1797}]},
        "parameters": {
            "ingestion": {"source": "npz", "path": SOURCE, "channels": 3},
            "training": {"epochs": 40, "seed": 42},
        },
        "validation": {
            "success": True,
            "images": 1797,
            "evaluated": 16,
            "failed": 0,
            "drift_reference": None,
            "quarantined": 2,
        },
        "training": {
            "weights_sha256": hashlib.sha256(seed.encode()).hexdigest(),
            "epochs_run": 40,
            "epochs_requested": 40,
            "best_epoch": 38,
            "seed": 42,
            "deterministic": True,
            "devices": ["/device:CPU:0"],
            "strategy": "default",
            "precision": "float32",
            "wall_seconds": 8.4,
            "versions": {"tensorflow": "2.21.0"},
        },
        "metrics": {"accuracy": 0.9925, "macro_f1": 0.9911, "test_images": 270},
        "blessing": {
            "blessed": True,
            "reason": "blessed: test accuracy 0.9925 meets the minimum 0.9000",
            "checks": [],
            "forced": None,
        },
        "class_names": [str(digit) for digit in range(10)],
        "image_shape": [8, 8, 1],
        "registered_by": "trainer@build-7",
        "registered_at": "2026-03-02T10:15:00+00:00",
        "versions": {"visionops": "0.1.0", "tensorflow": "2.21.0"},
    }
    return full | changes


def add_version(
    root: Path,
    model: str,
    version: int,
    lineage: dict[str, Any] | None,
    labels: tuple[str, ...] = (),
    hash_files: bool = True,
) -> Path:
    """Registers a version with ``lineage``, by ``ACTOR``.

    ``hash_files=False`` records no file hashes, as registrations before they were
    added. ``lineage=None`` removes the record after registering, as for a version from
    before lineage records (its logged content digest then no longer matches).
    """
    path = register_version(
        root,
        model,
        version,
        lineage or {},
        labels,
        actor=ACTOR,
        data_profile={"images": 1797},
        hash_files=hash_files,
    )
    if lineage is None:
        (path / LINEAGE_FILE).unlink()
    return path
