"""Where things live in a registry, and its ``models.config`` (TF Serving text format).

::

    <root>/models.config                  model_config_list with version_labels
    <root>/.registry.lock                 held while labels change (models.config + event)
    <root>/<model name>/<version>/        a SavedModel
        assets.extra/lineage.json         what produced this version
    <root>/<model name>/events.jsonl      the model's hash-chained audit log
    <root>/<model name>/.staging-<uuid>/  a version being written; never read as a version
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from visionops.errors import RegistryError
from visionops.registry.textproto import TextProtoError, fields, parse, quote

MODELS_CONFIG = "models.config"
LABELS_LOCK = ".registry.lock"
EVENTS_FILE = "events.jsonl"
STAGING_PREFIX = ".staging-"
SAVED_MODEL_FILE = "saved_model.pb"
LINEAGE_FILE = Path("assets.extra") / "lineage.json"
# The training data's class counts and intensity histograms: the drift reference.
DATA_PROFILE_FILE = Path("assets.extra") / "data_profile.json"
PRODUCTION = "production"
CANDIDATE = "candidate"


def model_dir(root: Path, model_name: str) -> Path:
    """The folder that holds every version of ``model_name``."""
    return root / model_name


def version_dir(root: Path, model_name: str, version: int) -> Path:
    """The SavedModel folder of one version."""
    return model_dir(root, model_name) / str(version)


def events_path(root: Path, model_name: str) -> Path:
    """The audit log of ``model_name``."""
    return model_dir(root, model_name) / EVENTS_FILE


def list_versions(root: Path, model_name: str) -> list[int]:
    """Registered versions of ``model_name``, oldest first; temporary folders are ignored."""
    folder = model_dir(root, model_name)
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def list_models(root: Path) -> list[str]:
    """Names of the models that have at least one version."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and list_versions(root, p.name))


def read_labels(root: Path) -> dict[str, dict[str, int]]:
    """Reads ``models.config``: for each model, its version labels.

    Raises:
        RegistryError: The file exists but is not a model_config_list we can read.
    """
    path = root / MODELS_CONFIG
    if not path.is_file():
        return {}
    try:
        (config_list,) = fields(parse(path.read_text()), "model_config_list")
        labels: dict[str, dict[str, int]] = {}
        for config in fields(config_list, "config"):
            (name,) = fields(config, "name")
            labels[name] = {
                dict(entry)["key"]: int(dict(entry)["value"])
                for entry in fields(config, "version_labels")
            }
    except (TextProtoError, ValueError, KeyError, TypeError) as error:
        raise RegistryError(
            f"{path} is not a TensorFlow Serving model_config_list we can read: {error!r}"
        ) from error
    return labels


def render_models_config(root: Path, labels: dict[str, dict[str, int]]) -> str:
    """Renders ``models.config`` for every model under ``root`` with the given labels."""
    entries = []
    for name in sorted(set(list_models(root)) | set(labels)):
        label_lines = "".join(
            f"    version_labels {{ key: {quote(key)} value: {value} }}\n"
            for key, value in sorted(labels.get(name, {}).items())
        )
        entries.append(
            "  config {\n"
            f"    name: {quote(name)}\n"
            f"    base_path: {quote(str(model_dir(root.resolve(), name)))}\n"
            '    model_platform: "tensorflow"\n'
            "    model_version_policy { all {} }\n"
            f"{label_lines}"
            "  }\n"
        )
    return (
        "# Written by visionops; TensorFlow Serving reads it with --model_config_file.\n"
        "model_config_list {\n" + "".join(entries) + "}\n"
    )


def write_models_config(root: Path, labels: dict[str, dict[str, int]]) -> None:
    """Replaces ``models.config`` atomically: a reader sees the old file or the new one."""
    root.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=root, prefix=f".{MODELS_CONFIG}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(render_models_config(root, labels))
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private; a server running as another user must read it.
        os.chmod(temporary, 0o644)
        os.replace(temporary, root / MODELS_CONFIG)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(root)


def fsync_dir(folder: Path) -> None:
    """Makes the renames and new entries of ``folder`` survive a power cut."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def file_hashes(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative posix path, except ``skip``."""
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if skip is not None and relative == skip:
            continue
        with path.open("rb") as stream:
            hashes[relative.as_posix()] = hashlib.file_digest(stream, "sha256").hexdigest()
    return hashes


def content_digest(folder: Path) -> str:
    """One sha256 over the relative path and contents of every file under ``folder``.

    Recorded when a version is registered, so anyone can check later that no file of
    it has changed, been added or been removed since.
    """
    digest = hashlib.sha256()
    for relative, file_digest in file_hashes(folder).items():
        digest.update(f"{relative}\0{file_digest}\n".encode())
    return digest.hexdigest()


def snapshot(root: Path) -> dict[str, dict[str, object]]:
    """Plain-data view of the registry: ``{model: {"versions": [...], "labels": {...}}}``."""
    labels = read_labels(root)
    return {
        name: {"versions": list_versions(root, name), "labels": labels.get(name, {})}
        for name in sorted(set(list_models(root)) | set(labels))
    }
