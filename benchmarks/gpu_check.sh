#!/usr/bin/env bash
# Runs benchmarks/gpu_check.py on the lent accelerator machine (JAX, maybe PyTorch, no
# TensorFlow, probably no internet). Installs the Keras that requirements.lock pins into
# a folder put first on PYTHONPATH (not a venv: the machine's python3 is itself often a
# venv, whose packages a new venv would not see), from benchmarks/wheels/ when that
# folder holds wheels, else from the package index. Keras's other needs (absl-py, h5py,
# ml-dtypes, numpy, packaging, rich) are expected there already, as JAX brings most of
# them. Arguments go to gpu_check.py.
#
# Usage: bash benchmarks/gpu_check.sh [--precision float16] [--images 50000] ...
# Environment: KERAS_BACKEND (default jax), PYTHON (default python3),
#              GPU_CHECK_WHEELS (default benchmarks/wheels),
#              GPU_CHECK_SITE (default /tmp/visionops-gpu-check-site).
#
# Filling benchmarks/wheels/ (on a machine with the index; wheels are not committed),
# for the accelerator machine's Python (check with `python3 --version` there):
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d benchmarks/wheels keras==3.15.1 namex==0.1.0 optree==0.20.0
#
# (versions as requirements.lock pins them; about 3 MB.)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="${GPU_CHECK_WHEELS:-$ROOT/benchmarks/wheels}"
PYTHON="${PYTHON:-python3}"
pin() { grep -E "^$1==" "$ROOT/requirements.lock" | head -n1 | cut -d' ' -f1; }
KERAS_VERSION="$(pin keras | cut -d= -f3)"
if [[ -z "$KERAS_VERSION" ]]; then
    echo "gpu_check: no keras pin found in requirements.lock" >&2
    exit 1
fi

SITE="${GPU_CHECK_SITE:-/tmp/visionops-gpu-check-site}"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
PY="$PYTHON"

installed="$("$PY" -c 'import keras; print(keras.__version__)' 2>/dev/null || true)"
if [[ "$installed" != "$KERAS_VERSION" ]]; then
    pip_install=("$PY" -m pip install --quiet --no-deps --no-compile --upgrade --target "$SITE")
    if compgen -G "$WHEELS/*.whl" >/dev/null && "${pip_install[@]}" --no-index "$WHEELS"/*.whl; then
        echo "gpu_check: installed keras $KERAS_VERSION from $WHEELS into $SITE"
    else
        echo "gpu_check: installing keras $KERAS_VERSION from the package index into $SITE"
        "${pip_install[@]}" "$(pin keras)" "$(pin namex)" "$(pin optree)"
    fi
fi

"$PY" --version
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
cd "$ROOT"
KERAS_BACKEND="${KERAS_BACKEND:-jax}" exec "$PY" benchmarks/gpu_check.py "$@"
