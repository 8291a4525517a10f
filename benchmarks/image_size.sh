#!/usr/bin/env bash
# The size of the visionops image, and what makes it up.
#
#   benchmarks/image_size.sh [IMAGE]     # default: visionops:latest (built when missing)
#
# Prints the layers over 1 MB, the largest packages of /opt/venv, and as last line
# `image_mb=<x>` (MB = 10^6 bytes, as `docker images` counts).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${1:-visionops:latest}
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    scripts/build-image.sh "$IMAGE" >/dev/null
fi

echo "layers over 1 MB:"
docker history --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" \
    | awk -F'\t' '$1 ~ /(MB|GB)$/ { printf "  %-8s %s\n", $1, substr($2, 1, 90) }'
echo "largest packages in /opt/venv (MB):"
docker run --rm --no-healthcheck --entrypoint sh "$IMAGE" -c \
    'du -sm /opt/venv/lib/python3*/site-packages/* | sort -rn | head -n 8' \
    | awk '{ printf "  %6d  %s\n", $1, $2 }'
bytes=$(docker image inspect --format '{{.Size}}' "$IMAGE")
echo "image_mb=$(( (bytes + 500000) / 1000000 ))"
