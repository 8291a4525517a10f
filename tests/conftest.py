"""Test-wide setup, and the markers `make test-fast` leaves out."""

# Importing kedro.framework.project configures logging; doing it before TensorFlow is
# imported keeps it from closing a TensorFlow log handler that writes into pytest's
# captured output (which crashes the run at exit with "I/O operation on closed file").
import kedro.framework.project  # noqa: F401
import pytest

# Fixtures whose every user is marked: a served process, a model trained for a module.
MARKED_BY_FIXTURE = {"start_server": "server", "trained": "slow"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test by the costly fixtures it uses, so no test has to remember to."""
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
