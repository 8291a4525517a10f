#!/usr/bin/env bash
# Makes a Docker engine answer on this host, then prints its version.
#
#   scripts/docker-engine.sh
#
# Debian/Ubuntu only, as root (or with passwordless sudo): installs Debian's docker.io
# when there is no dockerd, and starts dockerd in the background when no engine answers
# `docker info` (a fresh CI machine or a container without systemd). An engine that
# already answers is used as it is. Exits non-zero, saying why, when no engine can be
# made to answer: the container tests then fail rather than skip.
set -euo pipefail

LOG=${DOCKERD_LOG:-/var/log/visionops-dockerd.log}
WAIT_S=${DOCKERD_WAIT_S:-60}

say() { echo "docker-engine: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        say "need root (or passwordless sudo) to run: $*"
        exit 1
    fi
}

engine_answers() { docker info >/dev/null 2>&1; }

if engine_answers; then
    docker version --format 'docker engine {{.Server.Version}} (API {{.Server.APIVersion}})'
    exit 0
fi

if ! command -v dockerd >/dev/null && [ ! -x /usr/sbin/dockerd ]; then
    command -v apt-get >/dev/null || { say "no dockerd and no apt-get to install it"; exit 1; }
    say "installing docker.io with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io >/dev/null
fi
command -v docker >/dev/null || { say "docker CLI missing after install"; exit 1; }

# A systemd host starts the engine through its unit; elsewhere (containers, CI VMs
# without systemd) dockerd runs in the background, logging to $LOG.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    as_root systemctl start docker || true
fi
if ! engine_answers; then
    say "starting dockerd in the background (log: $LOG)"
    as_root sh -c "nohup dockerd >>'$LOG' 2>&1 &"
fi

for _ in $(seq "$WAIT_S"); do
    if engine_answers; then
        docker version --format 'docker engine {{.Server.Version}} (API {{.Server.APIVersion}})'
        exit 0
    fi
    sleep 1
done
say "no engine answered 'docker info' after ${WAIT_S}s; last lines of $LOG:"
tail -n 20 "$LOG" >&2 2>/dev/null || true
exit 1
