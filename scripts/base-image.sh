#!/usr/bin/env bash
# Builds visionops-base:bookworm, a stand-in for python:3.11-slim, when no image
# registry can be reached: a minimal Debian 12 root made by debootstrap, imported with
# `docker import`. Debian 12's python3 is 3.11, the version requirements.lock is for.
#
#   scripts/base-image.sh [IMAGE]       # default IMAGE: visionops-base:bookworm
#
# Needs root (debootstrap) and network access to a Debian mirror ($DEBIAN_MIRROR,
# default: the first deb.debian.org-style URI apt uses here). Prints the image name.
# Does nothing when the image exists already; set REBUILD=1 to build it again.
set -euo pipefail

IMAGE=${1:-visionops-base:bookworm}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv,ca-certificates

say() { echo "base-image: $*" >&2; }

if [ -z "${REBUILD:-}" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "$IMAGE"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { say "debootstrap needs root"; exit 1; }
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        debootstrap >/dev/null \
        || { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                 debootstrap >/dev/null; }
fi

ROOTFS=$(mktemp -d /var/tmp/visionops-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
say "debootstrap $SUITE ($PACKAGES) from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >&2

# What python:3.11-slim leaves out too: package caches, docs, man pages, locales.
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/log/*.log \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/usr/share/locale/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
# The image's apt reads the same mirror, so `apt-get install` works in derived images.
echo "deb $MIRROR $SUITE main" >"$ROOTFS/etc/apt/sources.list"

tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase --include=$PACKAGES $SUITE" \
    - "$IMAGE" >/dev/null
say "built $IMAGE ($(docker run --rm "$IMAGE" python3 -V))"
echo "$IMAGE"
