"""The training stage trains here, or on Ray Train workers when RAY_ADDRESS is set."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from visionops.errors import ConfigError
from visionops.modeling.run import ray_workers, run_training

sys.path.insert(0, str(Path(__file__).parent))
from train_script import synthetic, write_split  # noqa: E402


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True])
def test_a_bad_worker_count_is_refused(workers: object) -> None:
    with pytest.raises(ConfigError, match="training.ray_workers must be a whole number"):
        ray_workers({"ray_workers": workers})


def test_two_workers_by_default() -> None:
    assert ray_workers({}) == 2


def test_an_unreachable_ray_address_is_named_before_any_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    split = write_split(synthetic(24, 0), tmp_path / "train")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="RAY_ADDRESS"):
        run_training(split, split, {"ray_workers": 2, "epochs": 1, "batch_size": 4})
