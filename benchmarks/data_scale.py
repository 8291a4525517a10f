"""The data plane at scale: ingestion, validation, processing and one training epoch on
a generated folder of labelled JPEGs, with wall time and peak memory of each stage.

Generates ``--images`` JPEGs of ``--size`` pixels in 10 class folders (smooth random
gradients and shapes, coarse texture and grain, each class with its own hues and kind
of shape; JPEG quality 80 to 95, so files are about as large as photos of that size),
then, in a copy of the project (what a clone has), runs each stage as a user would:
``kedro run --pipelines <stage> --params ingestion.source=image_folder,...`` for
ingestion, data_validation (drift reference none), data_processing and training (one
epoch; evaluation is not run). Kedro splits ``--params`` on every comma, so the image
size, a list, is written into the copy's params.yaml instead. Each stage's wall time
(the whole ``kedro run``, start-up included), the peak resident memory of its process
tree (the kedro process and every descendant, RSS summed, polled every 0.1 s) and the
tree's CPU seconds are printed.

Right after the ingestion, for scale, it times Keras decoding and resizing the folder
(``image_dataset_from_directory(folder, image_size=(size, size), batch_size=256,
shuffle=False)`` iterated once, its own tf.data pipeline on every core, its import not
counted); the load average before each is printed, as the machine may be shared. At
the end it re-ingests after adding 1% more images (the ingestion cache reuses the
rest). The line before the last gives each side's CPU time per image and
``cpu_ratio`` (Keras's CPU seconds over ingestion's), which depends less than the
wall-time ratio on what else the machine runs. The last line::

    images=<N> peak_rss_mb=<max over stages> ingest_images_per_s=<x>
    baseline_images_per_s=<y> ratio=<x/y> stored_bytes_ratio=<dataset outputs / source>
    incremental_ratio=<re-ingest seconds / first ingest seconds>

where ``ingest_images_per_s`` is N over the ingestion stage's whole ``kedro run``, the
dataset outputs are every file under data/02_intermediate, data/03_primary and
data/05_model_input of the copy except the ingestion cache (not a dataset version nor
a DVC output; its size is printed), and the source is the generated folder.

Usage: .venv/bin/python benchmarks/data_scale.py [--images 200000] [--size 128]
[--workdir DIR] [--keep] [--epochs 1]  (``--epochs 0`` leaves out the training stage)
"""

from __future__ import annotations

import argparse
import colorsys
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import yaml
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
CLASSES = 10
DATASET_FOLDERS = ("data/02_intermediate", "data/03_primary", "data/05_model_input")
# The ingestion caches in data/02_intermediate (ingest_cache.sqlite, its write-ahead
# log, and the shard cache ingest_cache.shards/, whose shards are hard links to those of
# the dataset): not dataset versions, nor DVC outputs, so not counted as stored.
CACHE_NAME = "ingest_cache."


def _colour(rng: np.random.Generator, hue: float, jitter: float = 0.08) -> tuple[int, ...]:
    red, green, blue = colorsys.hsv_to_rgb(
        (hue + rng.normal(0, jitter)) % 1, rng.uniform(0.3, 0.9), rng.uniform(0.35, 0.95)
    )
    return (int(red * 255), int(green * 255), int(blue * 255))


def synthetic_jpeg(label: int, number: int, size: int, seed: int = 0) -> bytes:
    """One labelled JPEG: a smooth two-colour gradient in the class's hues, a few shapes
    of the class's kind (ellipses, boxes, triangles or strokes) in its accent colour, a
    slight blur, coarse texture and fine grain; the same arguments give the same bytes."""
    rng = np.random.default_rng([seed, label, number])
    hue = label / CLASSES
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:size, 0:size] / size
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = ((ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6))[..., None]
    start, end = np.asarray(_colour(rng, hue)), np.asarray(_colour(rng, hue + 0.5))
    image = Image.fromarray((start * (1 - ramp) + end * ramp).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7))):
        centre_x, centre_y = rng.uniform(0, size, 2)
        radius = rng.uniform(size * 0.08, size * 0.3)
        fill = _colour(rng, hue + 0.25 * (label % 3), 0.05)
        box = [
            centre_x - radius,
            centre_y - radius * rng.uniform(0.5, 1.5),
            centre_x + radius,
            centre_y + radius * rng.uniform(0.5, 1.5),
        ]
        kind = label % 4
        if kind == 0:
            draw.ellipse(box, fill=fill)
        elif kind == 1:
            draw.rectangle(box, fill=fill)
        elif kind == 2:
            corners = [(centre_x, centre_y - radius), (box[0], box[3]), (box[2], box[3])]
            draw.polygon(corners, fill=fill)
        else:
            ends = [tuple(rng.uniform(0, size, 2)), tuple(rng.uniform(0, size, 2))]
            draw.line(ends, fill=fill, width=max(1, int(radius / 3)))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    side = max(2, size // 8)
    coarse = rng.normal(128, 40, (side, side)).clip(0, 255).astype(np.uint8)
    texture = np.asarray(
        Image.fromarray(coarse).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32
    )
    pixels = np.asarray(image, dtype=np.float32) + (texture[..., None] - 128) * 0.5
    pixels += rng.normal(0, rng.uniform(3, 10), pixels.shape)
    stream = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
        stream, format="JPEG", quality=int(rng.integers(80, 96))
    )
    return stream.getvalue()


def _write_images(folder: str, size: int, numbers: range) -> None:
    for number in numbers:
        label = number % CLASSES
        path = Path(folder) / f"class_{label}" / f"img_{number:07d}.jpg"
        path.write_bytes(synthetic_jpeg(label, number, size))


def generate(folder: Path, first: int, count: int, size: int) -> None:
    """Writes images ``first`` to ``first + count - 1`` (class ``number % 10``) into
    ``folder/class_<k>/``, on every core."""
    for label in range(CLASSES):
        (folder / f"class_{label}").mkdir(parents=True, exist_ok=True)
    step = 2000
    with ProcessPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        jobs = [
            pool.submit(
                _write_images, str(folder), size, range(start, min(start + step, first + count))
            )
            for start in range(first, first + count, step)
        ]
        for job in jobs:
            job.result()


def tree_bytes(*folders: Path, leave_out: tuple[str, ...] = ()) -> int:
    """Bytes of every file under ``folders`` whose name, and whose folders' names below
    ``folders``, start with none of ``leave_out``."""
    return sum(
        path.stat().st_size
        for folder in folders
        if folder.exists()
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(leave_out) for part in path.relative_to(folder).parts)
    )


def copy_project(target: Path) -> Path:
    """Copies the project as a clone has it (tracked files and untracked ones not
    ignored, as tests/e2e/conftest.py does) into ``target``, a git repository."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    for command in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", "copy"]):
        subprocess.run(["git", *command], cwd=target, env=_environment(), check=True)
    return target


def _environment() -> dict[str, str]:
    """What ``make`` gives the pipeline: the virtual environment first, telemetry off."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "COLUMNS": "250",  # Kedro's log lines unwrapped, so they can be searched
        "GIT_AUTHOR_NAME": "visionops benchmark",
        "GIT_AUTHOR_EMAIL": "benchmark@visionops.invalid",
        "GIT_COMMITTER_NAME": "visionops benchmark",
        "GIT_COMMITTER_EMAIL": "benchmark@visionops.invalid",
    }


@dataclass
class Measured:
    """One command's run: wall seconds, peak RSS and CPU seconds of its process tree,
    its outcome."""

    name: str
    seconds: float
    peak_rss_mb: float
    returncode: int
    output: str
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _tree_sample(process: psutil.Process, cpu: dict[int, float]) -> int:
    """Resident bytes of ``process`` and all its descendants, summed; records each
    one's CPU seconds so far (user and system) in ``cpu``, by pid."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_info().rss
            times = member.cpu_times()
            cpu[member.pid] = max(cpu.get(member.pid, 0.0), times.user + times.system)
    return total


def measure(name: str, command: list[str], cwd: Path) -> Measured:
    """Runs ``command``, polling the RSS and CPU time of its process tree every 0.1 s
    (CPU time depends less than wall time on what else the machine runs)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as output:
        child = subprocess.Popen(
            command, cwd=cwd, env=_environment(), stdout=output, stderr=subprocess.STDOUT, text=True
        )
        watched = psutil.Process(child.pid)
        peak = 0
        cpu: dict[int, float] = {}
        while child.poll() is None:
            peak = max(peak, _tree_sample(watched, cpu))
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        output.seek(0)
        text = output.read()
    return Measured(name, seconds, peak / 2**20, child.returncode, text, sum(cpu.values()))


def report(result: Measured, images: int | None = None) -> None:
    rate = f", {images / result.seconds:,.0f} images/s" if images else ""
    status = "ok" if result.ok else f"FAILED (exit {result.returncode})"
    print(
        f"{result.name}: {result.seconds:.1f} s{rate}, peak RSS {result.peak_rss_mb:,.0f} MB, "
        f"CPU {result.cpu_seconds:.1f} s (process tree), {status}",
        flush=True,
    )
    if not result.ok:
        print("  " + "\n  ".join(result.output.strip().splitlines()[-15:]), flush=True)


# Decodes and resizes the folder once with Keras (its own tf.data pipeline on every
# core) and prints the seconds that took, its import not counted, as a JSON line.
KERAS_BASELINE = """
import json, sys, time
import keras
started, cpu = time.perf_counter(), time.process_time()
dataset = keras.utils.image_dataset_from_directory(
    sys.argv[1], image_size=(int(sys.argv[2]), int(sys.argv[2])), batch_size=256, shuffle=False,
    verbose=False,
)
count = sum(int(labels.shape[0]) for _, labels in dataset)
print(json.dumps({
    "images": count,
    "seconds": time.perf_counter() - started,
    "cpu_seconds": time.process_time() - cpu,
}))
"""


def _logged_rate(output: str) -> str:
    """What the ingestion logged of its own speed (the Kedro process, less start-up)."""
    found = re.findall(r"ingestion: \d+ images in [\d.]+ s \([\d,]+ images/s\)", output)
    return found[-1] if found else "no ingestion speed logged"


def stage_params(images_folder: Path, epochs: int) -> str:
    """The ``--params`` of every stage's run."""
    return ",".join(
        [
            "ingestion.source=image_folder",
            f"ingestion.path={images_folder}",
            "data_validation.drift.reference=none",
            f"training.epochs={epochs}",
            "training.verbose=false",
        ]
    )


def run_stage(stage: str, project: Path, params: str, count: int) -> Measured:
    """``kedro run --pipelines <stage> --params <params>`` in the project copy."""
    load = os.getloadavg()[0]
    command = [str(BIN / "kedro"), "run", "--pipelines", stage, "--params", params]
    result = measure(stage, command, project)
    report(result, count)
    print(f"  (load average before: {load:.1f} on {os.cpu_count()} cores)", flush=True)
    return result


def prepare_images(folder: Path, count: int, size: int) -> int:
    """Generates the images (or reuses those of an earlier run with --keep); returns
    their bytes."""
    marker = folder / ".generated"
    wanted = f"{count} {size}"
    if marker.is_file() and marker.read_text() == wanted:
        print(f"reusing {count:,} images in {folder}", flush=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        generate(folder, 0, count, size)
        marker.write_text(wanted)
        print(
            f"generated {count:,} {size}x{size} JPEGs in {CLASSES} classes in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    source_bytes = tree_bytes(folder, leave_out=(".",))
    print(
        f"source: {source_bytes / 2**20:,.0f} MiB, {source_bytes / count:,.0f} bytes per image",
        flush=True,
    )
    return source_bytes


def prepare_project(project: Path, size: int) -> None:
    """A fresh copy of the project whose params.yaml stores images at ``size`` pixels.

    Kedro splits ``--params`` on every comma, so a list such as ``[128,128]`` cannot
    be passed there: the image size goes into the copy's params.yaml instead.
    """
    shutil.rmtree(project, ignore_errors=True)
    copy_project(project)
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["ingestion"]["image_size"] = [size, size]
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def keras_baseline(images_folder: Path, size: int, workdir: Path) -> tuple[float, float]:
    """Seconds and CPU seconds Keras takes to decode and resize the folder once (its
    import not counted)."""
    load = os.getloadavg()[0]
    result = measure(
        "keras baseline",
        [sys.executable, "-c", KERAS_BASELINE, str(images_folder), str(size)],
        workdir,
    )
    report(result)
    print(f"  (load average before: {load:.1f} on {os.cpu_count()} cores)", flush=True)
    if not result.ok:
        raise SystemExit("the Keras baseline failed")
    inner = json.loads(result.output.strip().splitlines()[-1])
    print(
        f"  decoding and resizing {inner['images']:,} images: {inner['seconds']:.1f} s, "
        f"{inner['images'] / inner['seconds']:,.0f} images/s, CPU {inner['cpu_seconds']:.1f} s "
        f"(the process, with its import: {result.seconds:.1f} s)",
        flush=True,
    )
    return float(inner["seconds"]), float(inner["cpu_seconds"])


def reingest_grown(project: Path, images_folder: Path, count: int, size: int) -> Measured:
    """Adds 1% more images, ingests again (the cache reuses the rest), removes them."""
    added = max(1, count // 100)
    generate(images_folder, count, added, size)
    try:
        params = f"ingestion.source=image_folder,ingestion.path={images_folder}"
        command = [str(BIN / "kedro"), "run", "--pipelines", "ingestion", "--params", params]
        result = measure(f"ingestion after adding {added:,} images", command, project)
    finally:
        for number in range(count, count + added):
            (images_folder / f"class_{number % CLASSES}" / f"img_{number:07d}.jpg").unlink()
    report(result, count + added)
    print(f"  logged: {_logged_rate(result.output)}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200_000, help="images to generate")
    parser.add_argument("--size", type=int, default=128, help="side of each image, in pixels")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to work (a temporary folder by default)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the images and project copy")
    parser.add_argument(
        "--epochs", type=int, default=1, help="training epochs (0: no training stage)"
    )
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="visionops-scale-"))).resolve()
    if "," in str(workdir):
        parser.error("--workdir must not hold a comma (kedro --params splits on commas)")
    images_folder, project = workdir / "images", workdir / "project"
    try:
        source_bytes = prepare_images(images_folder, args.images, args.size)
        prepare_project(project, args.size)
        params = stage_params(images_folder, max(args.epochs, 1))
        ingestion = run_stage("ingestion", project, params, args.images)
        if not ingestion.ok:
            raise SystemExit("ingestion failed: nothing more to measure")
        print(f"  ingestion logged: {_logged_rate(ingestion.output)}", flush=True)
        # Right after the ingestion, so that both see the machine as alike as may be.
        baseline_seconds, baseline_cpu = keras_baseline(images_folder, args.size, workdir)
        stages = {"ingestion": ingestion}
        for stage in ("data_validation", "data_processing", "training"):
            if stage == "training" and args.epochs == 0:
                print("training: not run (--epochs 0)", flush=True)
            elif all(result.ok for result in stages.values()):
                stages[stage] = run_stage(stage, project, params, args.images)
            else:
                print(f"{stage}: not run (an earlier stage failed)", flush=True)
        data = [project / folder for folder in DATASET_FOLDERS]
        stored_bytes = tree_bytes(*data, leave_out=(CACHE_NAME,))
        cache_bytes = tree_bytes(*data) - stored_bytes
        print(
            f"stored: {stored_bytes / 2**20:,.0f} MiB of dataset versions and manifests "
            f"(the ingestion caches, not counted: {cache_bytes / 2**20:,.0f} MiB, counting the "
            "shard cache's hard links to the dataset's shards)",
            flush=True,
        )
        again = reingest_grown(project, images_folder, args.images, args.size)
        peak = max(result.peak_rss_mb for result in [*stages.values(), again])
        ingest_rate = args.images / ingestion.seconds
        baseline_rate = args.images / baseline_seconds
        # CPU time per image, which depends less on what else runs on the machine.
        print(
            f"cpu_us_per_image: ingestion {ingestion.cpu_seconds / args.images * 1e6:.0f} "
            f"(the whole kedro run), keras {baseline_cpu / args.images * 1e6:.0f}; "
            f"cpu_ratio={baseline_cpu / ingestion.cpu_seconds:.3f}",
            flush=True,
        )
        print(
            f"images={args.images} peak_rss_mb={peak:.0f} ingest_images_per_s={ingest_rate:.0f} "
            f"baseline_images_per_s={baseline_rate:.0f} ratio={ingest_rate / baseline_rate:.3f} "
            f"stored_bytes_ratio={stored_bytes / source_bytes:.3f} "
            f"incremental_ratio={again.seconds / ingestion.seconds:.3f}"
        )
    finally:
        if not args.keep:
            shutil.rmtree(project, ignore_errors=True)
            shutil.rmtree(images_folder, ignore_errors=True)
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
