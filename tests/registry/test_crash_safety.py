"""A registration killed with SIGKILL at any moment leaves a consistent registry."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# Kedro replaces logging handlers when first imported; importing it before TensorFlow
# keeps it from closing absl's handler (see tests/conftest.py).
import kedro.framework.project  # noqa: F401
import pytest

from visionops.modeling.architectures import build_model
from visionops.registry.events import read_events, verify_chain
from visionops.registry.layout import (
    LINEAGE_FILE,
    SAVED_MODEL_FILE,
    STAGING_PREFIX,
    content_digest,
    list_versions,
    read_labels,
    version_dir,
)
from visionops.registry.store import Registration, register

MODEL = "digits"
CLASS_NAMES = ("zero", "one", "two")
IMAGE_SHAPE = (8, 8, 1)

# Registers versions 1, 2, ... of a tiny CNN until killed. From version 2 on it can stop
# for good just before one step of store.register (after writing a marker file), so the
# test can kill it at exactly that point.
REGISTERING_FOREVER = """
import sys, time
from pathlib import Path
from visionops.modeling.architectures import build_model
from visionops.registry import events, store
from visionops.registry.layout import list_versions

root, pause_before, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
version = 0

def pausing(step, function):
    def paused(*args, **kwargs):
        if step == pause_before and version >= 2:
            marker.write_text(step)
            time.sleep(3600)
        return function(*args, **kwargs)
    return paused

# content_digest runs once the staging folder is complete, just before the rename;
# labelling and logging happen in events.record_version.
for module, step in (
    (store, "content_digest"),
    (events, "write_models_config"),
    (events, "append_event"),
):
    setattr(module, step, pausing(step, getattr(module, step)))
model = build_model("simple_cnn", (8, 8, 1), 3, width=4)
while True:
    version = max(list_versions(root, "digits"), default=0) + 1
    blessing = {"blessed": True, "reason": f"version {version} passes"}
    store.register(root, store.Registration(
        "digits", version, model, ("zero", "one", "two"), (8, 8, 1),
        lineage={"blessing": blessing}, labels=("production",),
    ))
"""


@pytest.fixture
def start_registering(tmp_path: Path) -> Iterator[Callable[[Path, str], subprocess.Popen]]:
    """Starts the registering process; kills whatever is still running at the end."""
    processes: list[subprocess.Popen] = []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def start(root: Path, pause_before: str = "none") -> subprocess.Popen:
        log = (tmp_path / f"child-{len(processes)}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-c", REGISTERING_FOREVER, str(root), pause_before, str(marker(root))],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def marker(root: Path) -> Path:
    return root.parent / f"{root.name}.paused"


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str) -> None:
    """Polls every few milliseconds until ``condition`` holds; fails if the child died."""
    deadline = time.monotonic() + 180
    while not condition():
        assert process.poll() is None, f"the registering process exited before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def staging_folders(root: Path) -> list[Path]:
    return list((root / MODEL).glob(f"{STAGING_PREFIX}*"))


def assert_consistent(root: Path) -> None:
    """What any reader relies on: whole versions, labels on them, an intact log."""
    versions = list_versions(root, MODEL)
    for version in versions:
        folder = version_dir(root, MODEL, version)
        assert (folder / SAVED_MODEL_FILE).is_file(), f"version {version} is partial"
        assert (folder / "variables").is_dir(), f"version {version} is partial"
        assert (folder / LINEAGE_FILE).is_file(), f"version {version} is partial"
    for label, version in read_labels(root).get(MODEL, {}).items():
        assert version in versions, f"{label} points at missing version {version}"
    assert verify_chain(root, MODEL) == []
    for event in read_events(root, MODEL):
        folder = version_dir(root, MODEL, event["version"])
        assert event["details"]["content_sha256"] == content_digest(folder)


def register_next(root: Path) -> int:
    """Registers the next version in this process, as deployment would after the crash."""
    version = max(list_versions(root, MODEL), default=0) + 1
    model = build_model("simple_cnn", IMAGE_SHAPE, len(CLASS_NAMES), width=4)
    register(root, Registration(MODEL, version, model, CLASS_NAMES, IMAGE_SHAPE))
    return version


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pause_before", "versions", "production"),
    [
        ("none", [1], 1),  # killed while exporting version 2 into its staging folder
        ("content_digest", [1], 1),  # staging folder complete, not renamed
        ("write_models_config", [1, 2], 1),  # renamed into place, not labelled
        ("append_event", [1, 2], 2),  # labelled, not logged
    ],
    ids=["exporting", "staged", "renamed", "labelled"],
)
def test_kill_at_each_step(
    tmp_path: Path,
    start_registering: Callable[..., subprocess.Popen],
    pause_before: str,
    versions: list[int],
    production: int,
) -> None:
    root = tmp_path / "registry"
    process = start_registering(root, pause_before)
    if pause_before == "none":
        wait_for(lambda: version_dir(root, MODEL, 1).is_dir(), process, "version 1")
        wait_for(lambda: bool(staging_folders(root)), process, "version 2's staging folder")
    else:
        wait_for(marker(root).is_file, process, f"the pause before {pause_before}")
    kill(process)

    assert list_versions(root, MODEL) == versions
    assert read_labels(root)[MODEL] == {"production": production}
    assert [event["version"] for event in read_events(root, MODEL)] == [1]
    assert_consistent(root)

    new_version = register_next(root)
    assert new_version == versions[-1] + 1
    assert read_labels(root)[MODEL] == {"production": new_version}
    assert [event["version"] for event in read_events(root, MODEL)] == [1, new_version]
    assert_consistent(root)


@pytest.mark.slow
def test_kill_at_random_moments(
    tmp_path: Path, start_registering: Callable[..., subprocess.Popen]
) -> None:
    """Three processes, each killed at a random moment of a registration's writes.

    A tiny model's registration spends ~0.3 s tracing, then ~20 ms writing its staging
    folder, renaming it, labelling and logging it; the kills land in those 40 ms after a
    staging folder appears (not the first registration's: TensorFlow's first export is
    slower).
    """
    root = tmp_path / "registry"
    delays = random.Random(20250301)
    for attempt in range(3):
        process = start_registering(root)
        first = version_dir(root, MODEL, max(list_versions(root, MODEL), default=0) + 1)
        wait_for(first.is_dir, process, f"attempt {attempt}'s first registration")
        seen = set(staging_folders(root))
        wait_for(lambda seen=seen: bool(set(staging_folders(root)) - seen), process, "an export")
        time.sleep(delays.uniform(0.0, 0.04))
        kill(process)
        assert_consistent(root)
    register_next(root)
    assert_consistent(root)
    assert read_labels(root)[MODEL]["production"] == max(list_versions(root, MODEL))
