"""Time of `visionops lineage trace` over a registry of 200 registered versions.

Builds 4 models of 50 synthetic versions each (registered by ``store.register`` with
a tiny model's SavedModel, full lineage records as the deployment stage writes them,
and hash-chained events with label moves; untimed), then times the `trace` function
for an md5 that 1 in 10 versions used (best of 5, after imports), and the whole
command as a subprocess (Python start-up included). Target: at most 1 s. Last line:
``seconds=<function time>``.

Usage: .venv/bin/python benchmarks/lineage_trace.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lineage.synthetic import add_version, md5_of, record  # noqa: E402
from visionops.lineage.trace import parse_query, trace  # noqa: E402
from visionops.registry.labels import promote  # noqa: E402

MODELS, VERSIONS = 4, 50
SHARED = md5_of("a dataset every tenth version used")


def build(root: Path) -> int:
    """Registers the synthetic versions; returns how many used ``SHARED``."""
    used = 0
    for index in range(MODELS * VERSIONS):
        model, version = f"model{index % MODELS}", index // MODELS + 1
        raw = SHARED if index % 10 == 0 else None
        used += raw is not None
        add_version(root, model, version, record(f"{model}:{version}", raw))
        if version % 5 == 0:
            promote(root, model, version, reason="benchmark", actor="bench")
    return used


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "registry"
        used = build(root)
        query = parse_query(SHARED[:12], Path(folder))
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            found = trace(root, query)
            timings.append(time.perf_counter() - start)
        assert len(found) == used, (len(found), used)
        command = [sys.executable, "-m", "visionops", "lineage", "trace", SHARED[:12]]
        start = time.perf_counter()
        subprocess.run([*command, "--registry", str(root)], check=True, capture_output=True)
        cli = time.perf_counter() - start
    print(f"{MODELS * VERSIONS} versions, {len(found)} used the data")
    print(f"cli_seconds={cli:.3f} (one subprocess, Python start-up included)")
    print(f"seconds={min(timings):.3f}")


if __name__ == "__main__":
    main()
