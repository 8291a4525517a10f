#!/usr/bin/env bash
# Builds the visionops image from scratch on a Debian host and prints its name.
#
#   scripts/build-image.sh [IMAGE]       # default IMAGE: $VISIONOPS_IMAGE or visionops:latest
#
# 1. a Docker engine (scripts/docker-engine.sh: installs docker.io, starts dockerd);
# 2. a base image: $BASE_IMAGE if set, else python:3.11-slim when it is present or can
#    be pulled, else visionops-base:bookworm built by scripts/base-image.sh;
# 3. build/wheelhouse/ from requirements.lock (scripts/wheelhouse.sh, on this host);
# 4. `docker build --network none`: nothing is fetched while building.
# Progress goes to stderr; the last line of stdout is the image name. Set
# VISIONOPS_REVISION (e.g. the CI's commit) to label the image with it.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${1:-${VISIONOPS_IMAGE:-visionops:latest}}
say() { echo "build-image: $*" >&2; }

scripts/docker-engine.sh >&2

if [ -z "${BASE_IMAGE:-}" ]; then
    if docker image inspect python:3.11-slim >/dev/null 2>&1 \
        || timeout 60 docker pull --quiet python:3.11-slim >/dev/null 2>&1; then
        BASE_IMAGE=python:3.11-slim
    else
        say "python:3.11-slim cannot be pulled; using a debootstrap base instead"
        BASE_IMAGE=$(scripts/base-image.sh)
    fi
fi
say "base image: $BASE_IMAGE"

scripts/wheelhouse.sh >/dev/null

# The legacy builder when BuildKit's CLI plugin (buildx) is missing, as with Debian's
# docker.io; the Dockerfile needs nothing that only BuildKit has.
if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
started=$(date +%s)
log=build/docker-build.log
if ! docker build --network none --force-rm \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --label org.opencontainers.image.revision="${VISIONOPS_REVISION:-unknown}" \
    --tag "$IMAGE" . >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "docker build failed; the whole log is $log"
    exit 1
fi
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
say "built $IMAGE in $(( $(date +%s) - started ))s, $(( size / 1000000 )) MB"
echo "$IMAGE"
