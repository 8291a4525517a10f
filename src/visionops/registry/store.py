"""Registering a model version: written aside, renamed into place, then labelled."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from visionops.errors import RegistryError
from visionops.registry.export import export_saved_model
from visionops.registry.layout import (
    DATA_PROFILE_FILE,
    LINEAGE_FILE,
    PRODUCTION,
    model_dir,
    read_labels,
    version_dir,
    write_models_config,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    """What the deployment stage asks the registry to do.

    Attributes:
        model_name: Name of the model in the registry.
        version: Version number to create; must not exist yet.
        model: The trained Keras model.
        class_names: Name of each class, in label order.
        image_shape: Height, width and channels the model takes.
        lineage: What produced this version; written to ``assets.extra/lineage.json``.
        labels: Version labels to point at the new version, e.g. ``("production",)``.
        data_profile: The training data's distribution profile; once this version is
            in production, incoming data is compared with it for drift.
    """

    model_name: str
    version: int
    model: keras.Model
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    lineage: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = (PRODUCTION,)
    data_profile: dict[str, Any] | None = None


@dataclass(frozen=True)
class Declined:
    """The deployment stage's decision to register nothing, and its reason in words."""

    reason: str


def register(root: Path, registration: Registration) -> Path:
    """Exports the model as a new numbered version and moves its labels to it.

    The SavedModel is written to a temporary folder beside the versions and renamed
    into place, so no reader (TF Serving included) ever sees a partial version.
    ``models.config`` is then replaced atomically.

    Returns:
        The new version's folder.

    Raises:
        RegistryError: The version already exists.
    """
    target = version_dir(root, registration.model_name, registration.version)
    if target.exists():
        raise RegistryError(
            f"version {registration.version} of {registration.model_name!r} already exists "
            f"at {target}; another deployment registered it first, rerun deployment"
        )
    parent = model_dir(root, registration.model_name)
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".staging-{uuid.uuid4().hex}"
    try:
        export_saved_model(
            registration.model, registration.class_names, registration.image_shape, staging
        )
        lineage_path = staging / LINEAGE_FILE
        lineage_path.parent.mkdir(parents=True, exist_ok=True)
        lineage_path.write_text(json.dumps(registration.lineage, indent=2, sort_keys=True))
        if registration.data_profile is not None:
            (staging / DATA_PROFILE_FILE).write_text(json.dumps(registration.data_profile))
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    labels = read_labels(root)
    model_labels = labels.setdefault(registration.model_name, {})
    for label in registration.labels:
        model_labels[label] = registration.version
    write_models_config(root, labels)
    logger.info(
        "Registered %s version %d at %s", registration.model_name, registration.version, target
    )
    return target
