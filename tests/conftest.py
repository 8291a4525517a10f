"""Test-wide setup."""

# Importing kedro.framework.project configures logging; doing it before TensorFlow is
# imported keeps it from closing a TensorFlow log handler that writes into pytest's
# captured output (which crashes the run at exit with "I/O operation on closed file").
import kedro.framework.project  # noqa: F401
