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
        add_versions(tmp_path, 2)  # registered: a version folder, then models.config
        write_models_config(tmp_path, {MODEL: {"production": 1}})
        deadline = time.monotonic() + 10
        while 2 not in state_of(catalog).loaded and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        watcher.stop()

    assert set(state_of(catalog).loaded) == {1, 2}
    assert state_of(catalog).resolve().version == 1


def write_policy(root: Path, policy: str, labels: str = "") -> None:
    """A hand-written models.config giving the model ``policy``."""
    (root / MODELS_CONFIG).write_text(
        f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{MODEL}" '
        f'model_platform: "tensorflow" {policy} {labels} }} }}'
    )


@pytest.mark.parametrize(
    ("policy", "served"),
    [
        ("model_version_policy { specific { versions: 1 versions: 3 } }", {1, 3}),
        ("model_version_policy { latest { num_versions: 2 } }", {2, 3}),
        ("model_version_policy { all {} }", {1, 2, 3}),
        ("", {3}),  # no policy: TF Serving's default, the latest version
    ],
    ids=["specific", "latest-2", "all", "default"],
)
def test_exactly_the_versions_the_policy_names_are_loaded(
    tmp_path: Path, policy: str, served: set[int]
) -> None:
    add_versions(tmp_path, 1, 2, 3)
    write_policy(tmp_path, policy)
    watcher, catalog = watch(tmp_path, Loader())

    watcher.poll()

    state = state_of(catalog)
    assert set(state.loaded) == served
    assert set(state.statuses) == served
    outside = min({1, 2, 3} - served, default=None)
    if outside is not None:
        with pytest.raises(NotFoundError, match="outside the version policy in models.config"):
            state.resolve(version=outside)
        with pytest.raises(NotFoundError, match=f"no version {outside} loaded or loading"):
            state.status(outside)


def test_a_version_folder_that_models_config_does_not_name_is_not_loaded(
    tmp_path: Path,
) -> None:
    add_versions(tmp_path, 1)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    watcher, catalog = watch(tmp_path, Loader())
    watcher.poll()

    add_versions(tmp_path, 2)  # a folder, but models.config still names version 1 only
    watcher.poll()
    before = set(state_of(catalog).loaded)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    watcher.poll()

    assert before == {1}
    assert set(state_of(catalog).loaded) == {1, 2}


def test_a_model_that_models_config_does_not_list_is_not_served(tmp_path: Path) -> None:
    add_versions(tmp_path, 1)
    (tmp_path / "other" / "1").mkdir(parents=True)
    write_policy(tmp_path, "")
    watcher, catalog = watch(tmp_path, Loader())

    watcher.poll()

    assert set(catalog.snapshot()) == {MODEL}
    with pytest.raises(NotFoundError, match="'other' is not served"):
        catalog.get("other")


def test_a_model_dropped_from_models_config_is_unloaded(tmp_path: Path) -> None:
    add_versions(tmp_path, 1)
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    watcher, catalog = watch(tmp_path, Loader())
    watcher.poll()

    (tmp_path / MODELS_CONFIG).write_text("model_config_list {}")
    watcher.poll()

    state = state_of(catalog)
    assert state.loaded == {}
    assert state.statuses[1].state == END
    with pytest.raises(NotFoundError, match="models.config does not list model 'digits'"):
        state.resolve(version=1)


def test_the_newest_version_failing_keeps_the_previous_one_until_a_newer_loads(
    tmp_path: Path,
) -> None:
    """TF Serving's availability-preserving rule, for a model without labels."""
    add_versions(tmp_path, 1)
    write_models_config(tmp_path, {})
    watcher, catalog = watch(tmp_path, Loader(broken=(2,)))
    watcher.poll()

    add_versions(tmp_path, 2)
    write_models_config(tmp_path, {})
    watcher.poll()
    while_broken = state_of(catalog)
    add_versions(tmp_path, 3)
    write_models_config(tmp_path, {})
    watcher.poll()

    assert set(while_broken.loaded) == {1}, "no version of the policy loaded: keep version 1"
    assert while_broken.statuses[2].state == END
    assert set(state_of(catalog).loaded) == {3}
    assert state_of(catalog).statuses[1].state == END


def test_an_old_models_config_with_absolute_paths_of_another_place_is_served(
    tmp_path: Path,
) -> None:
    add_versions(tmp_path, 1, 2)
    (tmp_path / MODELS_CONFIG).write_text(
        "model_config_list {\n"
        f'  config {{ name: "{MODEL}" base_path: "/gone/registry/{MODEL}" '
        'model_platform: "tensorflow" model_version_policy { all {} } '
        'version_labels { key: "production" value: 1 } }\n'
        "}\n"
    )
    loader = Loader()
    watcher, catalog = watch(tmp_path, loader)

    watcher.poll()

    state = state_of(catalog)
    assert set(state.loaded) == {1, 2}
    assert state.resolve(label="production").path == model_dir(tmp_path, MODEL) / "1"
