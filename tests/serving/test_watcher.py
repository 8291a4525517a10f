"""The registry watcher: which versions load, when labels move, what failures look like.

These run the watcher in-process with a stand-in loader (no TensorFlow), so each
step of a swap can be held still and looked at.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from visionops.registry.layout import MODELS_CONFIG, model_dir, write_models_config
from visionops.serving.errors import NotFoundError
from visionops.serving.models import AVAILABLE, END, LOADING, Catalog, ModelState
from visionops.serving.watcher import RegistryWatcher

from .support import MODEL


class StandIn:
    """What the stand-in loader returns in place of a LoadedVersion."""

    def __init__(self, model_name: str, version: int, path: Path) -> None:
        self.model_name, self.version, self.path = model_name, version, path


class Loader:
    """Loads at once, except gated versions (which wait) and broken ones (which raise)."""

    def __init__(self, gated: tuple[int, ...] = (), broken: tuple[int, ...] = ()) -> None:
        self.gates = {version: threading.Event() for version in gated}
        self.broken = set(broken)
        self.calls: list[int] = []

    def __call__(self, model_name: str, version: int, path: Path) -> StandIn:
        self.calls.append(version)
        if version in self.gates:
            assert self.gates[version].wait(10), "the test never opened the gate"
        if version in self.broken:
            raise ValueError(f"saved_model.pb of version {version} is broken")
        return StandIn(model_name, version, path)


def add_versions(root: Path, *versions: int) -> None:
    for version in versions:
        folder = model_dir(root, MODEL) / str(version)
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(b"graph")


def watch(root: Path, loader: Loader) -> tuple[RegistryWatcher, Catalog]:
    catalog = Catalog()
    return RegistryWatcher(root, catalog, poll_seconds=0.05, loader=loader), catalog


def state_of(catalog: Catalog) -> ModelState:
    return catalog.get(MODEL)


def test_labelled_versions_and_the_latest_are_loaded(tmp_path: Path) -> None:
    add_versions(tmp_path, 1, 2, 3)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    watcher, catalog = watch(tmp_path, Loader())

    assert watcher.poll()

    state = state_of(catalog)
    assert set(state.loaded) == {1, 3}
    assert state.labels == {"production": 1}
    assert {v: s.state for v, s in state.statuses.items()} == {1: AVAILABLE, 3: AVAILABLE}
    assert state.resolve().version == 1
    assert not watcher.poll(), "nothing changed, so nothing is reconciled"


def test_label_moves_only_once_the_new_version_has_loaded(tmp_path: Path) -> None:
    add_versions(tmp_path, 1)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    loader = Loader(gated=(2,))
    watcher, catalog = watch(tmp_path, loader)
    watcher.poll()
    add_versions(tmp_path, 2)
    write_models_config(tmp_path, {MODEL: {"production": 2}})

    swap = threading.Thread(target=watcher.poll)
    swap.start()
    deadline = time.monotonic() + 10
    while 2 not in state_of(catalog).statuses and time.monotonic() < deadline:
        time.sleep(0.01)
    during = state_of(catalog)
    loader.gates[2].set()
    swap.join(10)
    after = state_of(catalog)

    assert during.statuses[2].state == LOADING
    assert during.resolve(label="production").version == 1, "production moved before loading"
    assert during.resolve().version == 1
    assert after.resolve(label="production").version == 2
    assert set(after.loaded) == {2}, "version 1 is neither labelled nor the latest"
    assert after.statuses[1].state == END
    assert after.statuses[1].error_message == ""


def test_a_version_that_fails_to_load_is_reported_and_the_old_one_keeps_serving(
    tmp_path: Path,
) -> None:
    add_versions(tmp_path, 1)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    loader = Loader(broken=(2,))
    watcher, catalog = watch(tmp_path, loader)
    watcher.poll()
    add_versions(tmp_path, 2)
    write_models_config(tmp_path, {MODEL: {"production": 2}})

    watcher.poll()

    state = state_of(catalog)
    assert state.statuses[2].state == END
    assert "broken" in state.statuses[2].error_message
    assert state.statuses[2].to_json()["status"]["error_code"] == "UNKNOWN"
    assert state.resolve().version == 1
    assert set(state.loaded) == {1}
    with pytest.raises(NotFoundError, match="failed to load"):
        state.resolve(version=2)


def test_a_failed_version_is_retried_only_when_its_files_change(tmp_path: Path) -> None:
    add_versions(tmp_path, 1)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    loader = Loader(broken=(1,))
    watcher, catalog = watch(tmp_path, loader)
    watcher.poll()
    watcher.reconcile()
    assert loader.calls == [1]

    loader.broken.clear()
    (model_dir(tmp_path, MODEL) / "1" / "saved_model.pb").write_bytes(b"fixed graph")
    watcher.poll()

    assert loader.calls == [1, 1]
    assert state_of(catalog).resolve().version == 1


def test_half_written_staging_folders_are_ignored(tmp_path: Path) -> None:
    add_versions(tmp_path, 1)
    staging = model_dir(tmp_path, MODEL) / ".staging-0123abcd"
    staging.mkdir()
    (staging / "saved_model.pb").write_bytes(b"half a graph")
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    loader = Loader()
    watcher, catalog = watch(tmp_path, loader)

    watcher.poll()

    assert loader.calls == [1]
    assert set(state_of(catalog).statuses) == {1}


def test_without_production_the_highest_loaded_version_answers(tmp_path: Path) -> None:
    add_versions(tmp_path, 1, 2)
    write_models_config(tmp_path, {MODEL: {"candidate": 1}})
    watcher, catalog = watch(tmp_path, Loader())

    watcher.poll()

    state = state_of(catalog)
    assert set(state.loaded) == {1, 2}
    assert state.default_version() == 2
    assert state.resolve(label="candidate").version == 1


def test_an_unreadable_models_config_keeps_what_is_served(tmp_path: Path) -> None:
    add_versions(tmp_path, 1, 2)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    watcher, catalog = watch(tmp_path, Loader())
    watcher.poll()
    before = state_of(catalog)

    (tmp_path / MODELS_CONFIG).write_text("model_config_list { config { name: ")
    watcher.poll()

    assert state_of(catalog) is before


def test_the_polling_thread_picks_up_changes_and_stops(tmp_path: Path) -> None:
    add_versions(tmp_path, 1)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    watcher, catalog = watch(tmp_path, Loader())
    watcher.poll()
    watcher.start()
    try:
        add_versions(tmp_path, 2)
        deadline = time.monotonic() + 10
        while 2 not in state_of(catalog).loaded and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        watcher.stop()

    assert set(state_of(catalog).loaded) == {1, 2}
    assert state_of(catalog).resolve().version == 1
