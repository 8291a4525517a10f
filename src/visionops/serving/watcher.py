"""Keeps the served versions in step with the registry, without a moment of unavailability.

Every poll compares ``models.config`` (modification time and content) and the version
folders of each model it lists with what was seen last; when anything changed it
reconciles, as TensorFlow Serving does with the same file:

1. Versions to serve: those on disk that the model's version policy in
   ``models.config`` selects (visionops writes ``specific``: the labelled versions and
   the newest). A model the file does not list is not served.
2. Versions not yet loaded are loaded, one at a time, on the watcher's thread, while
   the versions already loaded keep answering.
3. Labels move to their new version only once it is AVAILABLE (TF Serving's
   availability-preserving policy); until then a label keeps its old version.
4. Then versions outside the policy are unloaded, except those a label still serves
   and, while no version of the policy has loaded (say the newest failed), the highest
   loaded one, as TF Serving's AvailabilityPreservingPolicy keeps it.

A model's canary or shadow rollout (``<model>/rollout.json``, see
:mod:`visionops.registry.rollout`) is read with its labels and published in its state;
a change of that file triggers a reconcile too.

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
    ModelEntry,
    list_models,
    model_dir,
    read_models_config,
    versions_in,
)
from visionops.registry.policy import SPECIFIC, VersionPolicy
from visionops.registry.rollout import Rollout, read_rollout, rollout_path
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


def _file_stamp(path: Path) -> Stamp:
    try:
        stat = path.stat()
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
        try:
            folders = {name: e.folder for name, e in read_models_config(self.root).items()}
        except RegistryError:  # reported by reconcile, once, when the file changes
            folders = {}
        versions = tuple(
            (name, str(folder), version, _stamp(folder / str(version)))
            for name, folder in sorted(folders.items())
            for version in versions_in(folder)
        )
        rollouts = tuple(_file_stamp(rollout_path(self.root, name)) for name in sorted(folders))
        return mtime, digest, versions, rollouts

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
            entries = read_models_config(self.root)
        except RegistryError as error:
            logger.error("%s; serving the versions and labels loaded before", error)
            return
        unlisted = sorted(set(list_models(self.root)) - set(entries))
        if unlisted:
            logger.warning(
                "%s does not list %s, so no version of it is served; registering or "
                "promoting a version lists it",
                self.root / MODELS_CONFIG,
                ", ".join(unlisted),
            )
        for name in sorted(set(entries) | set(self.catalog.snapshot())):
            self._reconcile_model(name, entries.get(name))

    def _reconcile_model(self, name: str, listed: ModelEntry | None) -> None:
        # A model dropped from models.config is served as if its policy named nothing.
        nothing = VersionPolicy(SPECIFIC)
        entry = listed or ModelEntry(name, model_dir(self.root, name), {}, nothing)
        on_disk = set(versions_in(entry.folder))
        wanted = entry.policy.select(on_disk)
        self._warn_unserved_labels(entry, wanted)
        state = self.catalog.snapshot().get(name) or ModelState(name)
        policy = entry.policy if listed else None
        rollout = self._rollout(name) if listed else None
        state = replace(state, policy=policy, policy_versions=frozenset(wanted), rollout=rollout)
        for version in sorted(wanted - set(state.loaded)):
            stamp = _stamp(entry.folder / str(version))
            failed_before = (name, version) in self._failed
            if not failed_before or self._failed[name, version] != stamp:
                state = self._load(state, version, entry.folder / str(version), stamp)
        served = self._move_labels(state, entry.labels, on_disk)
        keep = set(served.values()) | (wanted & set(state.loaded))
        if wanted and not wanted & set(state.loaded):
            keep |= {max(set(state.loaded) & on_disk, default=None)} - {None}
        statuses = dict(state.statuses)
        for version in set(state.loaded) - keep:
            logger.info("Unloading %s version %d", name, version)
            statuses[version] = VersionStatus(version, END)
        loaded = {v: state.loaded[v] for v in state.loaded if v in keep}
        self.catalog.publish(replace(state, statuses=statuses, loaded=loaded, labels=served))

    def _rollout(self, name: str) -> Rollout | None:
        try:
            rollout = read_rollout(self.root, name)
        except RegistryError as error:
            logger.error("%s; no rollout is served for %s", error, name)
            return None
        previous = self.catalog.snapshot().get(name)
        if rollout is not None and (previous is None or previous.rollout != rollout):
            logger.info("Rollout %s picked up: %s", rollout.id, rollout.describe())
        return rollout

    @staticmethod
    def _warn_unserved_labels(entry: ModelEntry, wanted: set[int]) -> None:
        for label, version in sorted(entry.labels.items()):
            if version not in wanted:
                logger.warning(
                    "Label %s of %s names version %d, which its version policy in %s "
                    "(%s) does not serve, or which has no folder in %s",
                    label,
                    entry.name,
                    version,
                    MODELS_CONFIG,
                    entry.policy.describe(),
                    entry.folder,
                )

    def _load(self, state: ModelState, version: int, path: Path, stamp: Stamp) -> ModelState:
        name = state.name
        loading = VersionStatus(version, LOADING)
        state = replace(state, statuses={**state.statuses, version: loading})
        self.catalog.publish(state)
        logger.info("Loading %s version %d", name, version)
        try:
            loaded = self._loader(name, version, path)
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
