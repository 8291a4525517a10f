"""Infra validation: the exported SavedModel loads in a fresh process and answers right.

Before a version is registered, its export is loaded by a new Python process (as a
server would load it, with nothing of the training process around), asked to
predict on sample images through every signature (the encoded-image ones on the
samples as PNG files), and timed. It must have exactly the signatures of
:data:`~visionops.registry.signature_names.EXPORTED_SIGNATURES`, match the in-memory
model's probabilities within a tolerance through each, and keep the p99 latency of
single-image requests to ``serving_default`` (one PNG, what a request that names no
signature runs) under a bound. Run as ``python -m visionops.registry.infra <export> <work>``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visionops.errors import RegistryError
from visionops.registry.signature_names import (
    DEFAULT_SIGNATURE,
    EXPORTED_SIGNATURES,
    PROBABILITIES,
)

if TYPE_CHECKING:
    import keras

    from visionops.dataplane.reader import ShardedDataset

REQUEST_FILE = "request.npz"
RESULT_FILE = "result.json"


class InfraValidationError(RegistryError):
    """The export failed infra validation; nothing was registered."""


@dataclass(frozen=True)
class InfraCheck:
    """What the export must show.

    Attributes:
        samples: uint8 images ``[N, H, W, C]`` to predict on.
        expected: The in-memory model's probabilities for them.
        tolerance: Largest absolute difference allowed in any probability.
        max_p99_ms: Bound on the p99 latency of single-image predictions.
        timeout_s: Longest the fresh process may take.
    """

    samples: np.ndarray
    expected: np.ndarray
    tolerance: float = 1e-4
    max_p99_ms: float = 100.0
    timeout_s: float = 300.0


def infra_check(model: keras.Model, split: ShardedDataset, settings: dict[str, Any]) -> InfraCheck:
    """What the export of ``model`` must show: the in-memory model's answers on the
    first readable images of ``split`` (read by their index rows, not the whole split).

    Args:
        model: The model about to be exported.
        split: Where the samples come from (the test split).
        settings: The ``deployment.infra_validation`` parameters: ``samples``,
            ``tolerance`` and ``max_p99_ms``.
    """
    readable = split.read_index(["readable"])["readable"].to_numpy(dtype=bool)
    samples = split.read_images(np.flatnonzero(readable)[: int(settings["samples"])])
    expected = np.asarray(model.predict(samples.astype(np.float32), verbose=0))
    return InfraCheck(
        samples=samples,
        expected=expected,
        tolerance=float(settings["tolerance"]),
        max_p99_ms=float(settings["max_p99_ms"]),
    )


def _encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, "PNG")
    return buffer.getvalue()


class FreshProcess:
    """A fresh Python process, started ahead, that imports TensorFlow and then waits to
    be told which export to check (see :func:`validate_export`)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "visionops.registry.infra", "--wait"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, export_dir: Path, work_dir: Path, timeout_s: float) -> tuple[int, str]:
        """Has it check ``export_dir``; its exit status and standard error.

        Raises:
            subprocess.TimeoutExpired: It took over ``timeout_s`` (it is killed).
        """
        request = json.dumps([str(export_dir), str(work_dir)]) + "\n"
        try:
            _, stderr = self.process.communicate(request, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return self.process.returncode, stderr or ""

    def stop(self) -> None:
        """Ends it where it still runs (an export that failed needs no check)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


# The process started by start_fresh_process_ahead (one at most), until a registration
# takes it.
_ahead: list[FreshProcess] = []


def start_fresh_process_ahead() -> None:
    """Starts the next registration's fresh process now, before this process imports
    TensorFlow.

    The deployment stage calls it as it starts: the fresh process's TensorFlow import
    (4 to 8 s) then runs while this process imports TensorFlow, loads the model and
    exports it, instead of after the export. :func:`take_fresh_process` hands it to the
    registration; :func:`stop_fresh_process_ahead` ends one that no registration took
    (the model was not deployed, or the run failed).
    """
    if not _ahead:
        _ahead.append(FreshProcess())


def take_fresh_process() -> FreshProcess:
    """The process started ahead, while it still waits; else one started now."""
    ahead = _ahead.pop() if _ahead else None
    if ahead is not None and ahead.process.poll() is None:
        return ahead
    return FreshProcess()


def stop_fresh_process_ahead() -> None:
    """Ends the process started ahead, if no registration took it."""
    if _ahead:
        _ahead.pop().stop()


def validate_export(
    export_dir: Path, check: InfraCheck, work_dir: Path, fresh: FreshProcess | None = None
) -> dict[str, object]:
    """Runs the fresh-process check on ``export_dir``; returns its report.

    Args:
        export_dir: The SavedModel.
        check: What it must show.
        work_dir: Where the request and result files go.
        fresh: The process to check it in, started ahead (:class:`FreshProcess`);
            one is started here when None.

    Raises:
        InfraValidationError: The export did not load, its outputs differ from the
            in-memory model's beyond the tolerance, or it is too slow.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    encoded = np.asarray([_encode_png(image) for image in check.samples], dtype=object)
    np.savez(work_dir / REQUEST_FILE, samples=check.samples, encoded=encoded.astype(bytes))
    fresh = fresh if fresh is not None else FreshProcess()
    try:
        returncode, stderr = fresh.run(export_dir, work_dir, check.timeout_s)
    except subprocess.TimeoutExpired as error:
        raise InfraValidationError(
            f"infra validation: loading and querying {export_dir} took over "
            f"{check.timeout_s:.0f} s; not registered"
        ) from error
    result_path = work_dir / RESULT_FILE
    if returncode != 0 or not result_path.is_file():
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        raise InfraValidationError(
            f"infra validation: a fresh process could not load or query {export_dir}: "
            f"{last[0]}; not registered"
        )
    result = json.loads(result_path.read_text())
    report = _judge(result, check)
    if not report["passed"]:
        raise InfraValidationError(f"infra validation failed: {report['reason']}; not registered")
    return report


def _judge(result: dict, check: InfraCheck) -> dict[str, object]:
    problems = []
    found = sorted(result["probabilities"])
    if found != sorted(EXPORTED_SIGNATURES):
        problems.append(f"the signatures are {found}, expected {sorted(EXPORTED_SIGNATURES)}")
    for signature in EXPORTED_SIGNATURES:
        if signature not in result["probabilities"]:
            continue
        got = np.asarray(result["probabilities"][signature], dtype=np.float64)
        if got.shape != check.expected.shape:
            problems.append(
                f"{signature} returned shape {list(got.shape)}, expected "
                f"{list(check.expected.shape)}"
            )
            continue
        difference = float(np.abs(got - check.expected).max()) if got.size else 0.0
        if difference > check.tolerance:
            problems.append(
                f"{signature} outputs differ from the in-memory model's by up to "
                f"{difference:.2e} (tolerance {check.tolerance:.0e})"
            )
        result.setdefault("max_difference", {})[signature] = difference
    if result["p99_ms"] > check.max_p99_ms:
        problems.append(
            f"p99 single-image latency {result['p99_ms']:.1f} ms exceeds the bound "
            f"{check.max_p99_ms:.1f} ms"
        )
    return {
        "passed": not problems,
        "reason": "; ".join(problems) or "the export loads in a fresh process and matches",
        "samples": int(len(check.samples)),
        "max_difference": result.get("max_difference", {}),
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "load_s": result["load_s"],
    }


def _inputs_for(function: Any, samples: np.ndarray, encoded: np.ndarray) -> dict | None:
    """The samples as ``function`` takes them: uint8 arrays, or PNG files (lossless, so
    the same pixels); None when it takes neither as its one input."""
    specs = function.structured_input_signature[1]
    values = {"uint8": samples, "string": encoded}
    if len(specs) != 1 or next(iter(specs.values())).dtype.name not in values:
        return None
    ((key, spec),) = specs.items()
    return {key: values[spec.dtype.name]}


def _run_in_fresh_process(export_dir: Path, work_dir: Path) -> None:
    """The fresh process: load, predict through every signature, time single images."""
    import tensorflow as tf

    started = time.perf_counter()
    loaded = tf.saved_model.load(str(export_dir))
    load_s = time.perf_counter() - started
    with np.load(work_dir / REQUEST_FILE, allow_pickle=False) as request:
        samples, encoded = request["samples"], request["encoded"]
    probabilities = {}
    for name, function in loaded.signatures.items():
        inputs = _inputs_for(function, samples, encoded)
        outputs = (
            {} if inputs is None else function(**{k: tf.constant(v) for k, v in inputs.items()})
        )
        probabilities[name] = outputs[PROBABILITIES].numpy().tolist() if outputs else []
    default = loaded.signatures[DEFAULT_SIGNATURE]
    ((key, values),) = _inputs_for(default, samples, encoded).items()
    default(**{key: tf.constant(values[:1])})
    timings = []
    for step in range(max(20, len(values))):
        index = step % len(values)
        one = tf.constant(values[index : index + 1])
        tick = time.perf_counter()
        default(**{key: one})
        timings.append((time.perf_counter() - tick) * 1000)
    (work_dir / RESULT_FILE).write_text(
        json.dumps(
            {
                "probabilities": probabilities,
                "p50_ms": float(np.percentile(timings, 50)),
                "p99_ms": float(np.percentile(timings, 99)),
                "load_s": load_s,
            }
        )
    )


def _main(arguments: list[str]) -> None:
    if arguments == ["--wait"]:
        import tensorflow  # noqa: F401 (imported while the parent writes the export)

        arguments = json.loads(sys.stdin.readline() or "[]")
        if len(arguments) != 2:  # the parent stopped without an export to check
            return
    _run_in_fresh_process(Path(arguments[0]), Path(arguments[1]))


if __name__ == "__main__":
    _main(sys.argv[1:])
