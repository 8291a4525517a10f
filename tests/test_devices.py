"""hide_absent_gpus: no cuInit error without a GPU, nothing changed where one may be."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from visionops.devices import CPU_DEVICE_TYPES, hide_absent_gpus


def test_a_machine_without_a_gpu_gets_cpu_devices_only(tmp_path: Path) -> None:
    environ: dict[str, str] = {"CUDA_VISIBLE_DEVICES": "0"}
    changed = hide_absent_gpus(
        environ, device_files=[str(tmp_path / "nvidia[0-9]*")], plugin_dirs=[], platform="linux"
    )
    assert changed
    assert environ == {"CUDA_VISIBLE_DEVICES": "0", "TF_ENABLED_DEVICE_TYPES": CPU_DEVICE_TYPES}


@pytest.mark.parametrize("device", ["nvidia0", "nvidiactl", "dxg"])
def test_a_gpu_device_file_leaves_the_environment_alone(tmp_path: Path, device: str) -> None:
    (tmp_path / device).touch()
    patterns = [str(tmp_path / "nvidia[0-9]*"), str(tmp_path / "nvidiactl"), str(tmp_path / "dxg")]
    environ: dict[str, str] = {}
    assert not hide_absent_gpus(environ, device_files=patterns, plugin_dirs=[], platform="linux")
    assert environ == {}


def test_the_users_setting_is_kept(tmp_path: Path) -> None:
    environ = {"TF_ENABLED_DEVICE_TYPES": "CPU,GPU"}
    assert not hide_absent_gpus(
        environ, device_files=[str(tmp_path / "none")], plugin_dirs=[], platform="linux"
    )
    assert environ == {"TF_ENABLED_DEVICE_TYPES": "CPU,GPU"}


def test_a_device_plugin_or_another_platform_leaves_the_environment_alone(tmp_path: Path) -> None:
    plugins = tmp_path / "tensorflow-plugins"
    plugins.mkdir()
    nothing = [str(tmp_path / "none")]
    environ: dict[str, str] = {}
    assert not hide_absent_gpus(environ, nothing, plugin_dirs=[plugins], platform="linux")
    assert not hide_absent_gpus(environ, nothing, plugin_dirs=[], platform="darwin")
    assert environ == {}


def test_tensorflow_logs_no_cuinit_error_after_it() -> None:
    script = (
        "from visionops.devices import hide_absent_gpus\n"
        "hide_absent_gpus()\n"
        "import tensorflow as tf\n"
        "print(int(tf.reduce_sum(tf.ones(3))))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLED_DEVICE_TYPES"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    assert "cuInit" not in result.stderr
