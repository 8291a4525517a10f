"""Registering a model version: written aside, renamed into place, labelled, logged."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visionops.errors import RegistryError
from visionops.files import fsync_dir
from visionops.registry.events import read_events, record_version
from visionops.registry.infra import InfraCheck, take_fresh_process, validate_export
from visionops.registry.layout import (
    DATA_PROFILE_FILE,
    LINEAGE_FILE,
    MODELS_CONFIG,
    PRODUCTION,
    STAGING_PREFIX,
    content_digest,
    file_hashes,
    list_versions,
    model_dir,
    read_labels,
    version_dir,
)
from visionops.release.publish import prepare_release, sign_release, write_release_files

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

# A registration writes its staging folder in seconds; one untouched for an hour was
# left by a process that died, and nothing will ever rename it.
STALE_AFTER_S = 3600.0


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
        infra: What the export must show in a fresh process before it becomes a
            version (see :mod:`visionops.registry.infra`); None skips the check.
        project_dir: The project whose conf/ gives the model card's words and the
            signing key, and whose requirements.lock is the SBOM; None is the working
            directory (where ``kedro run`` runs).
    """

    model_name: str
    version: int
    model: keras.Model
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    lineage: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = (PRODUCTION,)
    data_profile: dict[str, Any] | None = None
    infra: InfraCheck | None = None
    project_dir: Path | None = None


@dataclass(frozen=True)
class Declined:
    """The deployment stage's decision to register nothing, and its reason in words."""

    reason: str


def register(root: Path, registration: Registration) -> Path:
    """Exports the model as a new numbered version, moves its labels, and logs it.

    The steps, each safe to be killed in (``kill -9``) at any moment:

    1. The SavedModel, its SBOM, model card and lineage are written to a hidden
       ``.staging-<uuid>`` folder beside the versions and signed (see
       :mod:`visionops.release`), fsynced, then renamed to ``<version>/`` in one
       step. A reader (TF Serving included) sees no version or a whole one. Killed
       here: only a staging folder is left, which no reader takes for a version and
       the first registration an hour later removes.
    2. ``models.config`` is replaced atomically with the labels moved. Killed between
       1 and 2: the version exists but carries no label and no event; the registry
       is consistent, and the next version is numbered after it.
    3. A ``registered`` event is appended to the model's audit log, naming the labels
       moved, the blessing's reason and the digest of the version's files. Killed
       between 2 and 3: the labels moved without an event; the chain is still intact,
       and rollback still treats the labelled version as the newest.

    Steps 2 and 3 run under the registry's label lock, so concurrent registrations
    and promotions never lose each other's labels nor log them out of order.

    Returns:
        The new version's folder.

    Raises:
        RegistryError: The version already exists, or ``models.config`` or the model's
            audit log is unreadable (checked before anything is written).
        ConfigError: The card's settings or the signing key are invalid (checked
            before anything is written).
    """
    name, version = registration.model_name, registration.version
    target = version_dir(root, name, version)
    if target.exists():
        raise _already_exists(registration, target)
    parent = model_dir(root, name)
    parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root, name)
    # Refuse now, not after the export, when the labels or the log cannot be read.
    read_labels(root)
    read_events(root, name)
    release = prepare_release(registration.project_dir or Path.cwd(), name)
    staging = parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    # Imported here: TensorFlow takes seconds to import, and the deployment stage starts
    # the infra-validation process before it (see take_fresh_process).
    from visionops.registry.export import export_saved_model

    # Started now, unless started ahead, so that its TensorFlow import overlaps the export.
    fresh = take_fresh_process() if registration.infra is not None else None
    try:
        export_saved_model(
            registration.model, registration.class_names, registration.image_shape, staging
        )
        lineage = dict(registration.lineage)
        if registration.infra is not None:
            checked = parent / f".infra-{uuid.uuid4().hex}"
            try:
                lineage["infra_validation"] = validate_export(
                    staging, registration.infra, checked, fresh
                )
            finally:
                shutil.rmtree(checked, ignore_errors=True)
        if registration.data_profile is not None:
            (staging / DATA_PROFILE_FILE).parent.mkdir(parents=True, exist_ok=True)
            (staging / DATA_PROFILE_FILE).write_text(json.dumps(registration.data_profile))
        write_release_files(
            staging,
            name,
            version,
            lineage,
            registration.data_profile,
            registration.labels,
            release,
        )
        # Every file but the record itself and the signature (made last), for
        # `visionops lineage verify`.
        lineage["files"] = file_hashes(staging, skip=LINEAGE_FILE)
        lineage_path = staging / LINEAGE_FILE
        lineage_path.parent.mkdir(parents=True, exist_ok=True)
        lineage_path.write_text(json.dumps(lineage, indent=2, sort_keys=True))
        sign_release(staging, release)
        digest = content_digest(staging)
        _fsync_tree(staging)
        try:
            staging.rename(target)
        except OSError as error:  # another process renamed its version there first
            raise _already_exists(registration, target) from error
    except BaseException:
        if fresh is not None:
            fresh.stop()  # the export failed before it was checked
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(parent)
    record_version(
        root, name, version, registration.labels, _blessing_reason(registration.lineage), digest
    )
    logger.info("Registered %s version %d at %s", name, version, target)
    return target


def remove_leftovers(
    root: Path, model_name: str, older_than_s: float = STALE_AFTER_S
) -> list[Path]:
    """Removes staging folders and ``models.config`` temporaries that dead processes left.

    Only those untouched for ``older_than_s`` seconds go: a younger one may belong to a
    registration still running.

    Returns:
        What was removed.
    """
    now = time.time()
    candidates = [
        *model_dir(root, model_name).glob(f"{STAGING_PREFIX}*"),
        *root.glob(f".{MODELS_CONFIG}.*"),
    ]
    removed = []
    for path in candidates:
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:  # another registration removed or renamed it just now
            continue
        if age < older_than_s:
            continue
        logger.warning(
            "Removing %s, left %.1f hours ago by a registration that did not finish",
            path,
            age / 3600,
        )
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _already_exists(registration: Registration, target: Path) -> RegistryError:
    return RegistryError(
        f"version {registration.version} of {registration.model_name!r} already exists "
        f"at {target}; another deployment registered it first, rerun deployment"
    )


def _blessing_reason(lineage: dict[str, Any]) -> str:
    blessing = lineage.get("blessing")
    reason = blessing.get("reason") if isinstance(blessing, dict) else None
    return str(reason) if reason else ""


def _fsync_tree(folder: Path) -> None:
    """Flushes every file and folder under ``folder`` to disk.

    The rename then publishes a version whose contents survive a power cut too.
    """
    for directory, _subdirectories, files in os.walk(folder):
        for file_name in files:
            handle = os.open(Path(directory) / file_name, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)
        fsync_dir(Path(directory))


def registered_weights(root: Path, model_name: str) -> dict[int, str | None]:
    """Each version's weights sha256 as its lineage records it (None when it does not)."""
    weights: dict[int, str | None] = {}
    for version in list_versions(root, model_name):
        path = version_dir(root, model_name, version) / LINEAGE_FILE
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            weights[version] = None
            continue
        training = record.get("training") if isinstance(record, dict) else None
        weights[version] = training.get("weights_sha256") if isinstance(training, dict) else None
    return weights
