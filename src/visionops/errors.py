"""Errors a user can cause and fix: bad data, bad configuration, a bad registry state.

Each carries a message that says what was wrong, where, and what to do. The CLI and
the Kedro hooks print that message, not a traceback, and exit non-zero.
"""


class VisionOpsError(Exception):
    """Base class for every error caused by input the user controls."""


class SourceError(VisionOpsError):
    """A data source is missing, empty, unreadable or in the wrong format."""


class DataValidationError(VisionOpsError):
    """A dataset failed one or more expectations of its validation suite."""


class ConfigError(VisionOpsError):
    """A parameter or configuration value is invalid."""


class RegistryError(VisionOpsError):
    """The model registry cannot be read or written as asked."""


class SignatureError(RegistryError):
    """A model version is unsigned, or its files no longer match its signature."""
