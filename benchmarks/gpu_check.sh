#!/usr/bin/env bash
# Runs benchmarks/gpu_check.py on the lent accelerator machine (JAX, maybe PyTorch, no
# TensorFlow, probably no internet). Installs the Keras that requirements.lock pins into
# a venv that sees the system's JAX, from benchmarks/wheels/ when that folder holds
# wheels, else from the package index. Arguments go to gpu_check.py.
#
# Usage: bash benchmarks/gpu_check.sh [--precision float16] [--images 50000] ...
# Environment: KERAS_BACKEND (default jax), PYTHON (default python3),
#              GPU_CHECK_WHEELS (default benchmarks/wheels),
#              GPU_CHECK_VENV (default /tmp/visionops-gpu-check-venv).
#
# Filling benchmarks/wheels/ (on a machine with the index; wheels are not committed):
# keras needs absl-py, h5py, ml-dtypes, namex, numpy, optree, packaging and rich, and
# rich needs markdown-it-py (which needs mdurl) and pygments. absl-py, namex, packaging,
# rich, markdown-it-py, mdurl and pygments are pure Python; h5py, ml-dtypes, numpy and
# optree are compiled, so download them for the accelerator machine's Python (check
# with `python3 --version` there; JAX already brings numpy and ml-dtypes):
#
#   .venv/bin/pip download keras==3.15.1 --no-deps -d benchmarks/wheels
#   .venv/bin/pip download absl-py==2.5.1 namex==0.1.0 packaging==26.4 rich==15.0.0 \
#       markdown-it-py==4.3.0 mdurl==0.1.2 pygments --no-deps -d benchmarks/wheels
#   .venv/bin/pip download h5py==3.14.0 optree==0.20.0 typing-extensions \
#       ml-dtypes==0.6.0 numpy==2.4.6 --no-deps --only-binary=:all: --python-version 3.11 \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       --platform manylinux_2_17_x86_64 -d benchmarks/wheels
#
# (versions as requirements.lock pins them; about 26 MB for Python 3.11. optree 0.20
# has no manylinux2014 wheel, hence the manylinux_2_28 platform.)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="${GPU_CHECK_WHEELS:-$ROOT/benchmarks/wheels}"
PYTHON="${PYTHON:-python3}"
VENV="${GPU_CHECK_VENV:-/tmp/visionops-gpu-check-venv}"
KERAS_VERSION="$(grep -E '^keras==' "$ROOT/requirements.lock" | head -n1 | cut -d= -f3 | cut -d' ' -f1)"
if [[ -z "$KERAS_VERSION" ]]; then
    echo "gpu_check: no keras pin found in requirements.lock" >&2
    exit 1
fi

# A venv with --system-site-packages keeps the system's JAX/PyTorch/CUDA visible; where
# venv is unavailable (no ensurepip), fall back to the system Python itself.
if [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv --system-site-packages "$VENV" 2>/dev/null; then
    PY="$VENV/bin/python"
else
    echo "gpu_check: cannot create a venv; installing into $PYTHON" >&2
    PY="$PYTHON"
    export PIP_BREAK_SYSTEM_PACKAGES=1
fi

installed="$("$PY" -c 'import keras; print(keras.__version__)' 2>/dev/null || true)"
if [[ "$installed" != "$KERAS_VERSION" ]]; then
    if compgen -G "$WHEELS/*.whl" >/dev/null \
        && "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" "keras==$KERAS_VERSION"; then
        echo "gpu_check: installed keras $KERAS_VERSION from $WHEELS"
    else
        echo "gpu_check: installing keras $KERAS_VERSION from the package index"
        "$PY" -m pip install --quiet "keras==$KERAS_VERSION"
    fi
fi

"$PY" --version
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
cd "$ROOT"
KERAS_BACKEND="${KERAS_BACKEND:-jax}" exec "$PY" benchmarks/gpu_check.py "$@"
