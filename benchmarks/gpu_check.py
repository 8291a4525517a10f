"""Training throughput of simple_cnn and resnet_small on an accelerator, any Keras backend.

Meant for the lent accelerator machine, which has JAX (maybe PyTorch) but no
TensorFlow: run it through benchmarks/gpu_check.sh, which installs Keras and sets
KERAS_BACKEND=jax. It imports only keras, numpy and, by file path,
src/visionops/errors.py and src/visionops/modeling/architectures.py, under a stub
``visionops`` package, so nothing of visionops that needs TensorFlow is loaded.

Each model (simple_cnn, and resnet_small at ``--width``, 64 being the DAWNBench
ResNet-9) is compiled with SGD with Nesterov momentum and categorical cross-entropy
with label smoothing 0.1 on one-hot labels, under a mixed-precision policy, and trained
on ``--images`` seeded random 32x32x3 uint8 images with random labels (throughput does
not depend on the pixels). The first epoch compiles and warms up and is not timed;
then up to ``--epochs`` epochs run, stopping early once ``--seconds`` have passed.
Images/s counts only the timed epochs. Last line:
``simple_cnn_images_per_s=<x> resnet_small_images_per_s=<y>``.

The labels are random, so the loss says nothing about the model; the script only checks
that it stays finite (mixed float16 training is loss-scaled by Keras's compile).

Usage: KERAS_BACKEND=jax python benchmarks/gpu_check.py [--images 50000] [--epochs 10]
    [--seconds 40] [--batch-size 512] [--width 64] [--learning-rate 0.01]
    [--precision bfloat16|float16|float32] [--seed 0]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import sys
import time
import types
from pathlib import Path

import keras
import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src" / "visionops"
IMAGE_SHAPE = (32, 32, 3)
CLASSES = 10
# The only visionops modules this script may load: two stubs and two source files.
ALLOWED_VISIONOPS_MODULES = {
    "visionops",
    "visionops.errors",
    "visionops.modeling",
    "visionops.modeling.architectures",
}
POLICIES = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16", "float32": "float32"}


def _load_by_path(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_architectures() -> types.ModuleType:
    """visionops.modeling.architectures, loaded without the package's own __init__ files."""
    for package, folder in (("visionops", SRC), ("visionops.modeling", SRC / "modeling")):
        stub = types.ModuleType(package)
        stub.__path__ = [str(folder)]  # a package, but its __init__.py is never run
        sys.modules[package] = stub
    sys.modules["visionops"].errors = _load_by_path("visionops.errors", SRC / "errors.py")
    architectures = _load_by_path(
        "visionops.modeling.architectures", SRC / "modeling" / "architectures.py"
    )
    sys.modules["visionops.modeling"].architectures = architectures
    loaded = {name for name in sys.modules if name.split(".")[0] == "visionops"}
    if loaded != ALLOWED_VISIONOPS_MODULES:
        raise RuntimeError(f"unexpected visionops modules loaded: {sorted(loaded)}")
    return architectures


def describe_devices() -> str:
    """The Keras backend and the devices it can use."""
    backend = keras.backend.backend()
    if backend == "jax":
        devices = importlib.import_module("jax").devices()
    elif backend == "torch":
        torch = importlib.import_module("torch")
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        devices = devices or ["cpu"]
    elif backend == "tensorflow":
        devices = importlib.import_module("tensorflow").config.list_logical_devices()
    else:
        devices = ["unknown"]
    return f"backend={backend} devices={devices}"


def random_cifar(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random 32x32x3 uint8 images and their one-hot float32 labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, *IMAGE_SHAPE), dtype=np.uint8)
    labels = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, size=count)]
    return images, labels


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time; stops training once the timed epochs use the budget.

    The first epoch (compilation, warm-up) is recorded but counts toward no budget.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.durations: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.durations.append(time.perf_counter() - self._start)
        if sum(self.durations[1:]) >= self.seconds:
            self.model.stop_training = True


def measure(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, args: argparse.Namespace
) -> float:
    """Trains ``model`` for one warm-up epoch plus timed epochs; returns timed images/s."""
    model.compile(
        optimizer=keras.optimizers.SGD(
            learning_rate=args.learning_rate, momentum=0.9, nesterov=True
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy"],
    )
    timer = EpochTimer(args.seconds)
    history = model.fit(
        images,
        labels,
        batch_size=args.batch_size,
        epochs=1 + args.epochs,
        callbacks=[timer],
        verbose=0,
    )
    losses = history.history["loss"]
    if not all(math.isfinite(loss) for loss in losses):
        raise RuntimeError(f"{model.name}: non-finite training loss {losses}")
    timed = timer.durations[1:]
    rate = len(images) * len(timed) / sum(timed)
    print(
        f"{model.name}: params={model.count_params():,} warm_up_s={timer.durations[0]:.1f} "
        f"timed_epochs={len(timed)} timed_s={sum(timed):.1f} images_per_s={rate:,.0f} "
        f"loss={losses[-1]:.4f}",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=10, help="timed epochs at most")
    parser.add_argument("--seconds", type=float, default=40.0, help="timed budget per model")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--width", type=int, default=64, help="resnet_small width")
    parser.add_argument("--precision", choices=sorted(POLICIES), default="bfloat16")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1 (one warm-up epoch always runs first)")

    architectures = load_architectures()
    keras.mixed_precision.set_dtype_policy(POLICIES[args.precision])
    keras.utils.set_random_seed(args.seed)
    print(f"keras={keras.__version__} {describe_devices()}", flush=True)
    print(
        f"policy={keras.mixed_precision.dtype_policy().name} images={args.images} "
        f"batch_size={args.batch_size} epochs<={args.epochs} seconds<={args.seconds}",
        flush=True,
    )
    images, labels = random_cifar(args.images, args.seed)
    models = {
        "simple_cnn": architectures.build_simple_cnn(IMAGE_SHAPE, CLASSES),
        "resnet_small": architectures.build_resnet_small(IMAGE_SHAPE, CLASSES, width=args.width),
    }
    rates = {name: measure(model, images, labels, args) for name, model in models.items()}
    print(" ".join(f"{name}_images_per_s={rate:.1f}" for name, rate in rates.items()))


if __name__ == "__main__":
    main()
