"""Wall time of the whole default pipeline, and of a no-op `dvc repro` right after.

Runs in a fresh temporary copy of the project (tracked files only), so the
figures are those a new user sees after `make run`. Last line:
``full_s=<x> noop_s=<y>``.

Usage: .venv/bin/python benchmarks/pipeline_wall.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import copy_project, run  # noqa: E402


def timed(project: Path, *command: str) -> float:
    """Seconds one command takes in the project copy."""
    start = time.perf_counter()
    run(project, *command)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder) / "visionops")
        full = timed(project, "dvc", "repro")
        noop = timed(project, "dvc", "repro")
        metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    print(f"test accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}")
    print(f"full_s={full:.1f} noop_s={noop:.2f}")


if __name__ == "__main__":
    main()
