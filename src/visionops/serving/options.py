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
        port: TCP port of the REST API.
        grpc_port: TCP port of the gRPC API, on the same host; 0 turns gRPC off.
        max_batch_size: Most examples merged into one TensorFlow call; 1 turns
            micro-batching off.
        batch_timeout_ms: Longest a request waits for others to join its batch.
        max_body_mb: Largest request body (or gRPC request message) accepted, in MiB;
            larger ones get 413 (gRPC: RESOURCE_EXHAUSTED).
        max_inflight_mb: Most MiB of request bodies held by the requests being answered
            together; a request past it gets 503 (see :mod:`visionops.serving.limits`).
        max_image_pixels: Most pixels an encoded image may declare in its header; None
            sizes the limit for each model (see :mod:`visionops.serving.limits`).
        poll_seconds: Seconds between two looks at the registry for new versions and
            moved labels.
        intra_op_threads: Threads one TensorFlow op may use (TF Serving's
            ``--tensorflow_intra_op_parallelism``); 0 lets TensorFlow choose (one per
            CPU).
        inter_op_threads: Threads running independent TensorFlow ops
            (``--tensorflow_inter_op_parallelism``); 0 lets TensorFlow choose.
        project_dir: The project whose conf/ holds monitoring.yml (the prediction log's
            settings) and, in conf/local, the write tokens.
        prediction_log: The production folder, instead of ``prediction_log.folder``.
        log_predictions: False records no prediction, whatever monitoring.yml says.
        require_signature: True loads only versions whose signature holds (see
            :mod:`visionops.release.signing`); a refused version is END, naming the
            file and the reason, and the versions already served keep serving.
    """

    registry: Path
    host: str = "127.0.0.1"
    port: int = 8501
    grpc_port: int = 8500
    max_batch_size: int = 32
    batch_timeout_ms: float = 2.0
    max_body_mb: float = 16.0
    max_inflight_mb: float = 256.0
    max_image_pixels: int | None = None
    poll_seconds: float = 1.0
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    project_dir: Path = Path(".")
    prediction_log: Path | None = None
    log_predictions: bool = True
    require_signature: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(f"--port is {self.port}; it must be 0..65535")
        if not 0 <= self.grpc_port <= 65535:
            problems.append(f"--grpc-port is {self.grpc_port}; it must be 0 (off) or 1..65535")
        elif self.grpc_port == self.port:
            problems.append(
                f"--grpc-port and --port are both {self.port}; give gRPC another port, or 0 "
                "to turn it off"
            )
        if self.max_batch_size < 1:
            problems.append(f"--max-batch-size is {self.max_batch_size}; it must be at least 1")
        if self.batch_timeout_ms < 0:
            problems.append(f"--batch-timeout-ms is {self.batch_timeout_ms}; it must be >= 0")
        if self.max_body_mb <= 0:
            problems.append(f"--max-body-mb is {self.max_body_mb}; it must be above 0")
        problems += self._input_limit_problems()
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

    def _input_limit_problems(self) -> list[str]:
        problems = []
        if self.max_inflight_mb < self.max_body_mb:
            problems.append(
                f"--max-inflight-mb is {self.max_inflight_mb}; it must be at least "
                f"--max-body-mb ({self.max_body_mb}), or a body of the largest size accepted "
                "could never be answered"
            )
        if self.max_image_pixels is not None and self.max_image_pixels < 1:
            problems.append(f"--max-image-pixels is {self.max_image_pixels}; it must be at least 1")
        return problems

    @property
    def max_body_bytes(self) -> int:
        """``max_body_mb`` in bytes."""
        return int(self.max_body_mb * MEGABYTE)

    @property
    def max_inflight_bytes(self) -> int:
        """``max_inflight_mb`` in bytes."""
        return int(self.max_inflight_mb * MEGABYTE)
