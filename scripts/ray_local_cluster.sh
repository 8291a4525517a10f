#!/usr/bin/env bash
# Runs a command against a throw-away Ray cluster of NODES nodes on 127.0.0.1.
#
# Usage: scripts/ray_local_cluster.sh NODES PORT COMMAND [ARG...]
#
# The cluster lives in its own network namespace holding only a loopback (so Ray
# binds 127.0.0.1, not the host's address) and its own PID namespace (so
# `ray stop --force` stops this cluster's processes and no others, and the kernel
# ends them all when the command's shell exits, whatever happened). Each node has one
# CPU. COMMAND runs inside the namespaces with RAY_ADDRESS=127.0.0.1:PORT; its exit
# status is the script's. Needs root (or unprivileged user namespaces) for unshare;
# `ray` is taken from PATH. PORT must lie outside Ray's worker ports (10002-19999).
set -euo pipefail

if [[ $# -lt 3 ]]; then
    echo "usage: $0 NODES PORT COMMAND [ARG...]" >&2
    exit 2
fi

if [[ -z "${RAY_LOCAL_CLUSTER_INSIDE:-}" ]]; then
    prefix=(unshare --net --pid --fork --mount-proc)
    if [[ $(id -u) -ne 0 ]]; then
        prefix=(unshare --map-root-user --net --pid --fork --mount-proc)
    fi
    RAY_LOCAL_CLUSTER_INSIDE=1 exec "${prefix[@]}" bash "$0" "$@"
fi

nodes=$1
port=$2
shift 2

ip link set lo up
# A short private temp root: Ray's socket paths must stay under 108 characters, and
# another Ray on this machine (under /tmp/ray) is left alone.
RAY_TMPDIR=$(mktemp -d /tmp/rayXXXXXX)
export RAY_TMPDIR
trap 'ray stop --force >/dev/null 2>&1 || true; rm -rf "$RAY_TMPDIR"' EXIT

common=(--num-cpus 1 --object-store-memory 200000000 --disable-usage-stats)
ray start --head --node-ip-address 127.0.0.1 --port "$port" --include-dashboard false \
    "${common[@]}" >"$RAY_TMPDIR/head.log" 2>&1 || { cat "$RAY_TMPDIR/head.log" >&2; exit 1; }
for ((node = 1; node < nodes; node++)); do
    ray start --address "127.0.0.1:$port" --node-ip-address 127.0.0.1 "${common[@]}" \
        >"$RAY_TMPDIR/node$node.log" 2>&1 || { cat "$RAY_TMPDIR/node$node.log" >&2; exit 1; }
done

export RAY_ADDRESS="127.0.0.1:$port"
status=0
"$@" || status=$?
exit "$status"
