#!/usr/bin/env bash
# Fills build/wheelhouse/ with a wheel for every line of requirements.lock (and the
# setuptools and wheel the image builds the project with), so that `docker build` installs with
# `pip --no-index` and needs no network and no CA inside the build.
#
#   scripts/wheelhouse.sh [DIR]          # default DIR: build/wheelhouse
#
# Runs pip on this host with its own index, proxy and CA settings (pip's cache makes
# a second run, or one after `make venv`, quick). Wheels are for CPython 3.11 on
# x86_64 glibc Linux, what both python:3.11-slim and Debian 12 run; a package that
# ships only an sdist is built into a wheel here. Does nothing when DIR already
# matches requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:-build/wheelhouse}
# What `pip install -e .` builds the project with in the image: the lock's setuptools and
# wheel when it pins them (the image installs both lists together, so they must agree).
lock_pin() { grep -E "^$1==" requirements.lock | sed 's/[[:space:]]*\\$//' | head -n 1 || true; }
BUILD_REQUIREMENTS="$(lock_pin setuptools) $(lock_pin wheel)"
[ -n "$(lock_pin setuptools)" ] || BUILD_REQUIREMENTS="setuptools==80.9.0 $(lock_pin wheel)"
[ -n "$(lock_pin wheel)" ] || BUILD_REQUIREMENTS="$BUILD_REQUIREMENTS wheel==0.45.1"
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
STAMP="$DIR/.requirements.sha256"
want=$( { cat requirements.lock; echo "$BUILD_REQUIREMENTS"; } | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "$DIR"
    exit 0
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "wheelhouse: needs Python 3.11, got " + sys.version.split()[0])'
rm -rf "$DIR"
mkdir -p "$DIR"
echo "wheelhouse: building $DIR from requirements.lock" >&2
log=$(mktemp)
# The lock pins every file by sha256, so pip checks each download against it (a wheel
# built here from a checked sdist has a hash of its own: the image installs by name and
# version from this folder, requirements.txt, with no index to fetch anything else).
if ! { "$PYTHON" -m pip wheel --disable-pip-version-check --no-deps --require-hashes \
        --wheel-dir "$DIR" -r requirements.lock \
    && "$PYTHON" -m pip wheel --disable-pip-version-check --no-deps \
        --wheel-dir "$DIR" $BUILD_REQUIREMENTS; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
printf '%s\n' $BUILD_REQUIREMENTS >"$DIR/build-requirements.txt"
grep -E '^[A-Za-z0-9]' requirements.lock | sed 's/[[:space:]]*\\$//' >"$DIR/requirements.txt"
echo "$want" >"$STAMP"
echo "wheelhouse: $(ls "$DIR"/*.whl | wc -l) wheels, $(du -sh "$DIR" | cut -f1)" >&2
echo "$DIR"
