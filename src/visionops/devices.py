"""Keeps TensorFlow from probing for CUDA on a Linux machine that has no GPU.

TensorFlow's Linux wheels register a GPU device factory that calls ``cuInit`` when the
first TensorFlow context starts; with no NVIDIA driver or device that call fails and
logs ``failed call to cuInit ... (303)`` at ERROR level, in every process.
``CUDA_VISIBLE_DEVICES=""`` does not prevent the call and ``TF_CPP_MIN_LOG_LEVEL=3``
would hide real errors too. ``TF_ENABLED_DEVICE_TYPES`` is read when TensorFlow loads
and registers only the factories it names, so the GPU one is never asked.
"""

from __future__ import annotations

import glob
import os
import site
import sys
from collections.abc import Iterable, MutableMapping, Sequence
from pathlib import Path

# What an accelerator TensorFlow could use leaves behind: the NVIDIA driver (host or
# container), WSL's GPU bridge, ROCm's compute device, TPU chips (accel, VFIO groups).
GPU_DEVICE_FILES = (
    "/proc/driver/nvidia",
    "/dev/nvidiactl",
    "/dev/nvidia[0-9]*",
    "/dev/dxg",
    "/dev/kfd",
    "/dev/accel[0-9]*",
    "/dev/vfio/[0-9]*",
)
# TensorFlow's device factories on a CPU-only machine, as it registers them unasked.
CPU_DEVICE_TYPES = "CPU,XLA_CPU"


def hide_absent_gpus(
    environ: MutableMapping[str, str] = os.environ,
    device_files: Sequence[str] = GPU_DEVICE_FILES,
    plugin_dirs: Iterable[Path] | None = None,
    platform: str = sys.platform,
) -> bool:
    """Limits TensorFlow to its CPU devices when this machine has no GPU to offer.

    Call it before TensorFlow is first imported in the process; child processes inherit
    the setting. It changes nothing when ``TF_ENABLED_DEVICE_TYPES`` is already set,
    off Linux, when any of ``device_files`` exists, or when a PluggableDevice plugin
    (a ``tensorflow-plugins`` folder) is installed.

    Args:
        environ: The environment to update.
        device_files: Glob patterns of files whose presence means a GPU or TPU may be usable.
        plugin_dirs: Where TensorFlow looks for device plugins (default: every site
            folder and ``sys.path`` entry, each with ``tensorflow-plugins`` appended).
        platform: The ``sys.platform`` to decide for.

    Returns:
        Whether it set ``TF_ENABLED_DEVICE_TYPES``.
    """
    if "TF_ENABLED_DEVICE_TYPES" in environ or platform != "linux":
        return False
    if any(glob.glob(pattern) for pattern in device_files):
        return False
    if plugin_dirs is None:
        plugin_dirs = _plugin_dirs()
    if any(folder.exists() for folder in plugin_dirs):
        return False
    environ["TF_ENABLED_DEVICE_TYPES"] = CPU_DEVICE_TYPES
    return True


def _plugin_dirs() -> list[Path]:
    roots = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    return [Path(root, "tensorflow-plugins") for root in roots if root]
