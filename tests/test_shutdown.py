"""A stage process exits with the collector off, its exit code and exit handlers intact."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_collector_is_off_at_exit_and_the_exit_code_is_kept() -> None:
    script = textwrap.dedent(
        """
        import atexit, gc, sys
        atexit.register(lambda: print("collecting at exit:", gc.isenabled()))
        from visionops.shutdown import skip_collection_at_exit
        skip_collection_at_exit()
        print("collecting before exit:", gc.isenabled())
        sys.exit(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == [
        "collecting before exit: True",
        "collecting at exit: False",
    ]
