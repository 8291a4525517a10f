"""Keeps the served versions in step with the registry, without a moment of unavailability.

Every poll compares ``models.config`` (modification time and content) and each model's
version folders with what was seen last; when anything changed it reconciles:

1. Versions to serve: every version a label names, plus the latest on disk.
2. Versions not yet loaded are loaded, one at a time, on the watcher's thread, while
   the versions already loaded keep answering.
3. Labels move to their new version only once it is AVAILABLE (TF Serving's
   availability-preserving policy); until then a label keeps its old version.
4. Then versions no label serves are unloaded, except those of step 1 and the highest
   loaded one (so a model whose latest version failed to load keeps its previous one).

A version that fails to load is reported END with its error; it is tried again only
when its ``saved_model.pb`` changes. Half-written versions (``.staging-*`` folders)
are never looked at: they only become a numbered folder by an atomic rename.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from visionops.errors import RegistryError
from visionops.registry.layout import (
    MODELS_CONFIG,
    list_models,
    list_versions,
    read_labels,
    version_dir,
)
from visionops.serving.models import (
    AVAILABLE,
    END,
    LOADING,
    Catalog,
    LoadedVersion,
    ModelState,
    VersionStatus,
)

logger = logging.getLogger(__name__)

Loader = Callable[[str, int, Path], LoadedVersion]
Stamp = tuple[int, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        stat = (path / "saved_model.pb").stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


class RegistryWatcher:
    """Loads, swaps and unloads versions of every model in a registry folder.

    Args:
        root: The registry root (holds ``models.config`` and one folder per model).
        catalog: Where the current state of each model is published.
        poll_seconds: Seconds between two looks at the registry.
        loader: Loads one version; :class:`LoadedVersion` unless a test says otherwise.
    """

    def __init__(
        self, root: Path, catalog: Catalog, poll_seconds: float, loader: Loader = LoadedVersion
    ) -> None:
        self.root = root
        self.catalog = catalog
        self.poll_seconds = poll_seconds
        self._loader = loader
        self._seen: object = None
        self._failed: dict[tuple[str, int], Stamp] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _fingerprint(self) -> object:
        config = self.root / MODELS_CONFIG
        try:
            mtime = config.stat().st_mtime_ns
            digest = hashlib.sha256(config.read_bytes()).hexdigest()
        except OSError:
            mtime, digest = None, None
        versions = tuple(
            (name, version, _stamp(version_dir(self.root, name, version)))
            for name in list_models(self.root)
            for version in list_versions(self.root, name)
        )
        return mtime, digest, versions

    def poll(self) -> bool:
        """Reconciles if the registry changed since the last poll; says whether it did."""
        fingerprint = self._fingerprint()
        if fingerprint == self._seen:
            return False
        self._seen = fingerprint
        self.reconcile()
        return True

    def reconcile(self) -> None:
        """Brings every model's served versions and labels in line with the registry."""
        try:
            labels = read_labels(self.root)
        except RegistryError as error:
            logger.error("%s; serving the versions and labels loaded before", error)
            return
        names = set(list_models(self.root)) | set(labels) | set(self.catalog.snapshot())
        for name in sorted(names):
            self._reconcile_model(name, labels.get(name, {}))

    def _reconcile_model(self, name: str, labels: dict[str, int]) -> None:
        on_disk = set(list_versions(self.root, name))
        wanted = {version for version in labels.values() if version in on_disk}
        wanted |= {max(on_disk)} if on_disk else set()
        state = self.catalog.snapshot().get(name) or ModelState(name)
        for version in sorted(wanted - set(state.loaded)):
            stamp = _stamp(version_dir(self.root, name, version))
            failed_before = (name, version) in self._failed
            if not failed_before or self._failed[name, version] != stamp:
                state = self._load(state, version, stamp)
        served = self._move_labels(state, labels, on_disk)
        keep = set(served.values()) | (wanted & set(state.loaded))
        keep |= {max(set(state.loaded) & on_disk, default=None)} - {None}
        statuses = dict(state.statuses)
        for version in set(state.loaded) - keep:
            logger.info("Unloading %s version %d", name, version)
            statuses[version] = VersionStatus(version, END)
        loaded = {v: state.loaded[v] for v in state.loaded if v in keep}
        self.catalog.publish(ModelState(name, statuses, loaded, served))

    def _load(self, state: ModelState, version: int, stamp: Stamp) -> ModelState:
        name = state.name
        loading = VersionStatus(version, LOADING)
        state = replace(state, statuses={**state.statuses, version: loading})
        self.catalog.publish(state)
        logger.info("Loading %s version %d", name, version)
        try:
            loaded = self._loader(name, version, version_dir(self.root, name, version))
        except Exception as error:  # any failure must leave the other versions serving
            logger.error("Could not load %s version %d: %s", name, version, error)
            self._failed[name, version] = stamp
            failed = VersionStatus(version, END, _first_line(error))
            state = replace(state, statuses={**state.statuses, version: failed})
        else:
            self._failed.pop((name, version), None)
            available = VersionStatus(version, AVAILABLE)
            state = replace(
                state,
                statuses={**state.statuses, version: available},
                loaded={**state.loaded, version: loaded},
            )
            logger.info("Loaded %s version %d", name, version)
        self.catalog.publish(state)
        return state

    @staticmethod
    def _move_labels(
        state: ModelState, labels: dict[str, int], on_disk: set[int]
    ) -> dict[str, int]:
        served = {}
        for label, version in sorted(labels.items()):
            previous = state.labels.get(label)
            if version in state.loaded and version in on_disk:
                served[label] = version
                if previous != version:
                    logger.info("Label %s of %s now serves version %d", label, state.name, version)
            elif previous in state.loaded:
                served[label] = previous
                logger.warning(
                    "Label %s of %s names version %d, which is not available; "
                    "it keeps serving version %d",
                    label,
                    state.name,
                    version,
                    previous,
                )
        return served

    def start(self) -> None:
        """Starts polling on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="registry-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # the watcher must outlive a bad poll (a folder vanishing midway)
                logger.exception("Polling %s failed; trying again next poll", self.root)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops polling; a load in progress finishes first (up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
