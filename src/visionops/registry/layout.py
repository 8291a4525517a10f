"""Where things live in a registry, and its ``models.config`` (TF Serving text format).

::

    <root>/models.config                  model_config_list: base paths, version policy,
                                          version_labels
    <root>/.registry.lock                 held while labels change (models.config + event)
    <root>/<model name>/<version>/        a SavedModel
        assets.extra/lineage.json         what produced this version
    <root>/<model name>/events.jsonl      the model's hash-chained audit log
    <root>/<model name>/.staging-<uuid>/  a version being written; never read as a version

Each model's ``base_path`` in ``models.config`` is relative to the folder holding the
file (``base_path: "digits"``), so a registry reads the same wherever it lies: copied,
moved, or mounted into a container at ``/project/registry``. A ``models.config``
written before that holds absolute paths of where the registry was then; it is still
read (:func:`model_folder`), and the next label move rewrites it relative.

TensorFlow Serving accepts only absolute base paths: given a relative one,
``tensorflow_model_server`` refuses to start ("Expected model digits to have an
absolute path or URI; got base_path()=digits"), whatever its working directory. Give
it a copy rendered for where it sees the registry, e.g. mounted at ``/models``::

    absolute_models_config(Path("registry"), "/models")   # text of the copy

    docker run -p 8501:8501 -v "$PWD/registry:/models:ro" tensorflow/serving \\
        --model_config_file=/models/tfserving.config \\
        --allow_version_labels_for_unavailable_models

TF Serving moves a label only to a version it has loaded already (the flag above
covers labels it has not seen yet, as at start-up). Polling the copy
(``--model_config_file_poll_wait_seconds``) thus follows a label moving to a version it
serves already, but not one moving to a version it has not loaded (a registration,
most rollbacks): render the copy again and restart it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from visionops.errors import RegistryError
from visionops.files import atomic_write_text
from visionops.registry.policy import VersionPolicy, parse_policy, served_policy
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


def versions_in(folder: Path) -> list[int]:
    """The numbered version folders in a model's folder, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def list_versions(root: Path, model_name: str) -> list[int]:
    """Registered versions of ``model_name``, oldest first; temporary folders are ignored."""
    return versions_in(model_dir(root, model_name))


def list_models(root: Path) -> list[str]:
    """Names of the models that have at least one version."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and list_versions(root, p.name))


@dataclass(frozen=True)
class ModelEntry:
    """One model as ``models.config`` lists it.

    Attributes:
        name: The model's name.
        folder: Where its versions are: its ``base_path``, resolved by :func:`model_folder`.
        labels: Its version labels, e.g. ``{"production": 2}``.
        policy: Which of its versions a server loads.
    """

    name: str
    folder: Path
    labels: Mapping[str, int]
    policy: VersionPolicy


def _is_absolute(base_path: str) -> bool:
    # A URI (gs://, s3://) counts as absolute, as TF Serving counts it.
    return "://" in base_path or PurePosixPath(base_path).is_absolute()


def model_folder(root: Path, name: str, base_path: str) -> Path:
    """Where the versions of model ``name`` are, given its ``base_path`` in models.config.

    A relative ``base_path`` is relative to ``root``, the folder of models.config. An
    absolute one comes from a registry written elsewhere (base paths used to be
    absolute): the model's folder beside models.config is used whenever it exists, so
    a copied registry serves its own versions even while the original is still there;
    the stored path only when it exists and that folder does not.
    """
    if not _is_absolute(base_path):
        return root / base_path
    beside = model_dir(root, name)
    stored = Path(base_path)
    if "://" in base_path or beside.is_dir() or not stored.is_dir():
        return beside
    return stored


def read_models_config(root: Path) -> dict[str, ModelEntry]:
    """Reads ``models.config``: every model it lists, by name; empty when there is none.

    Raises:
        RegistryError: The file exists but is not a model_config_list we can read.
    """
    path = root / MODELS_CONFIG
    if not path.is_file():
        return {}
    try:
        (config_list,) = fields(parse(path.read_text()), "model_config_list")
        entries: dict[str, ModelEntry] = {}
        for config in fields(config_list, "config"):
            (name,) = fields(config, "name")
            base_paths = fields(config, "base_path") or [name]
            if not isinstance(name, str) or not isinstance(base_paths[0], str):
                raise TypeError(f"name and base_path must be strings in {config!r}")
            if name in entries:
                raise TextProtoError(f"model {name!r} is listed twice")
            labels = {
                dict(entry)["key"]: int(dict(entry)["value"])
                for entry in fields(config, "version_labels")
            }
            folder = model_folder(root, name, base_paths[0])
            entries[name] = ModelEntry(name, folder, labels, parse_policy(config))
    except (TextProtoError, ValueError, KeyError, TypeError) as error:
        raise RegistryError(
            f"{path} is not a TensorFlow Serving model_config_list we can read: {error!r}"
        ) from error
    return entries


def read_labels(root: Path) -> dict[str, dict[str, int]]:
    """Reads ``models.config``: for each model, its version labels.

    Raises:
        RegistryError: The file exists but is not a model_config_list we can read.
    """
    return {name: dict(entry.labels) for name, entry in read_models_config(root).items()}


def _under(mount: str, relative: str) -> str:
    if not _is_absolute(mount):
        raise ValueError(
            f"mount point {mount!r} is not absolute; TensorFlow Serving accepts only "
            "absolute base paths: give where it sees the registry, e.g. '/models'"
        )
    if "://" in mount:
        return f"{mount.rstrip('/')}/{relative}"
    return str(PurePosixPath(mount) / relative)


def _render(entries: list[tuple[str, str, VersionPolicy, Mapping[str, int]]], header: str) -> str:
    configs = []
    for name, base_path, policy, labels in entries:
        label_lines = "".join(
            f"    version_labels {{ key: {quote(key)} value: {value} }}\n"
            for key, value in sorted(labels.items())
        )
        configs.append(
            "  config {\n"
            f"    name: {quote(name)}\n"
            f"    base_path: {quote(base_path)}\n"
            '    model_platform: "tensorflow"\n'
            f"    {policy.to_text()}\n"
            f"{label_lines}"
            "  }\n"
        )
    return header + "model_config_list {\n" + "".join(configs) + "}\n"


def render_models_config(
    root: Path, labels: Mapping[str, Mapping[str, int]], base: str | None = None
) -> str:
    """Renders ``models.config`` for every model under ``root`` with the given labels.

    Each model's version policy is ``specific``: its labelled versions and its newest.

    Args:
        root: The registry root.
        labels: Each model's version labels.
        base: None writes base paths relative to ``root`` (what the registry keeps);
            an absolute path such as ``"/models"`` writes them under it, for a
            TensorFlow Serving that sees the registry there.

    Raises:
        ValueError: ``base`` is not an absolute path or a URI.
    """
    entries = []
    for name in sorted(set(list_models(root)) | set(labels)):
        model_labels = labels.get(name, {})
        policy = served_policy(model_labels, list_versions(root, name))
        base_path = name if base is None else _under(base, name)
        entries.append((name, base_path, policy, model_labels))
    header = (
        "# Written by visionops. base_path is relative to this file's folder; TensorFlow\n"
        "# Serving needs absolute ones: see visionops.registry.layout.absolute_models_config.\n"
        if base is None
        else f"# Written by visionops for a TensorFlow Serving that sees the registry at {base}\n"
    )
    return _render(entries, header)


def absolute_models_config(root: Path, mount: str) -> str:
    """A copy of ``models.config`` for TensorFlow Serving, with absolute base paths.

    Labels and version policies are copied as they are; each base path is put under
    ``mount``, where TensorFlow Serving sees the registry root (e.g. ``"/models"`` for
    ``docker run -v "$PWD/registry:/models"``).

    Raises:
        RegistryError: There is no readable ``models.config``, or a model's versions are
            outside the registry root (no single mount point reaches them).
        ValueError: ``mount`` is not an absolute path or a URI.
    """
    path = root / MODELS_CONFIG
    if not path.is_file():
        raise RegistryError(
            f"{path} does not exist: register a version first, or point at the folder "
            "that holds models.config"
        )
    entries = []
    for name, entry in read_models_config(root).items():
        try:
            relative = entry.folder.relative_to(root).as_posix()
        except ValueError:
            raise RegistryError(
                f"model {name!r} in {path} has its versions in {entry.folder}, outside the "
                f"registry; move them to {model_dir(root, name)} to serve them from {mount}"
            ) from None
        entries.append((name, _under(mount, relative), entry.policy, entry.labels))
    header = (
        f"# Copied by visionops from {MODELS_CONFIG} for a TensorFlow Serving that sees\n"
        f"# the registry at {mount}.\n"
    )
    return _render(entries, header)


def write_models_config(root: Path, labels: dict[str, dict[str, int]]) -> None:
    """Replaces ``models.config`` atomically: a reader sees the old file or the new one."""
    atomic_write_text(root / MODELS_CONFIG, render_models_config(root, labels))


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
