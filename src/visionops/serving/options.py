"""The settings of ``visionops serve``, checked once before the server starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visionops.errors import ConfigError

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class ServeOptions:
    """How to serve a registry.

    Attributes:
        registry: The registry root folder.
        host: Interface to listen on.
        port: TCP port to listen on.
        max_batch_size: Most examples merged into one TensorFlow call; 1 turns
            micro-batching off.
        batch_timeout_ms: Longest a request waits for others to join its batch.
        max_body_mb: Largest request body accepted, in MiB; larger ones get 413.
        poll_seconds: Seconds between two looks at the registry for new versions and
            moved labels.
        intra_op_threads: Threads one TensorFlow op may use (TF Serving's
            ``--tensorflow_intra_op_parallelism``); 0 lets TensorFlow choose (one per
            CPU).
        inter_op_threads: Threads running independent TensorFlow ops
            (``--tensorflow_inter_op_parallelism``); 0 lets TensorFlow choose.
    """

    registry: Path
    host: str = "127.0.0.1"
    port: int = 8501
    max_batch_size: int = 32
    batch_timeout_ms: float = 2.0
    max_body_mb: float = 16.0
    poll_seconds: float = 1.0
    intra_op_threads: int = 0
    inter_op_threads: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(f"--port is {self.port}; it must be 0..65535")
        if self.max_batch_size < 1:
            problems.append(f"--max-batch-size is {self.max_batch_size}; it must be at least 1")
        if self.batch_timeout_ms < 0:
            problems.append(f"--batch-timeout-ms is {self.batch_timeout_ms}; it must be >= 0")
        if self.max_body_mb <= 0:
            problems.append(f"--max-body-mb is {self.max_body_mb}; it must be above 0")
        if self.poll_seconds <= 0:
            problems.append(f"--poll-seconds is {self.poll_seconds}; it must be above 0")
        for flag, value in (
            ("--intra-op-threads", self.intra_op_threads),
            ("--inter-op-threads", self.inter_op_threads),
        ):
            if value < 0:
                problems.append(f"{flag} is {value}; it must be 0 (TensorFlow's choice) or more")
        if problems:
            raise ConfigError("; ".join(problems))
        if not self.registry.is_dir():
            raise ConfigError(
                f"registry folder {self.registry} does not exist; pass --registry, or run "
                "the deployment stage to register a model first"
            )

    @property
    def max_body_bytes(self) -> int:
        """``max_body_mb`` in bytes."""
        return int(self.max_body_mb * MEGABYTE)
