"""Wall time of the training stage against a plain Keras script doing the same training.

Both sides train the same model (``build_model`` from the training parameters), with
the same optimizer and learning-rate schedule (``build_optimizer``), loss (categorical
crossentropy with the configured label smoothing), seed, op determinism, data (the
default digits train/val splits), epochs and batch size, and both save a ``.keras``
file. Each side is timed as a whole process, start to exit, since that is what a
user waits for: ``kedro run --pipelines training`` against ``python plain.py``, where
the plain script calls ``model.fit`` on float32 numpy arrays with ``validation_data``.

The plain script does no augmentation; the stage does its configured augmentation
(``translate: 1``). The headline figure therefore times the stage with
``--params training.augmentation.translate=0``, the same work on both sides; the
default-config ratio is printed on the line before it. The stage's extra work is
what it is for: per-epoch checkpoints, DVCLive logs, history and metadata files.

Runs in a fresh temporary copy of the project (tracked files only); the split folders
come from ``kedro run --pipelines ingestion,data_validation,data_processing``, untimed,
and the plain script gets them as NPZ arrays, converted untimed too: the stage's time
includes decoding its splits from their shards, the plain script's does not.
Every command runs twice, alternating, and the faster of the two counts. Last line:
``stage_s=<x> plain_s=<y> ratio=<x/y>`` (stage without augmentation).

Usage: .venv/bin/python benchmarks/training_overhead.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from visionops.dataplane.reader import ShardedDataset

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import copy_project, run  # noqa: E402

ROUNDS = 2
CHECKPOINT = Path("data/06_models/training_checkpoint")
HISTORY = Path("data/07_model_output/training_history.json")
SPLITS = Path("data/05_model_input")
NO_AUGMENTATION = "training.augmentation.translate=0"

# What a user would write without the project: arguments are the train and val
# NPZ files, the training parameters as JSON, and where to save the model and history.
PLAIN_SCRIPT = """\
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from visionops.modeling.architectures import build_model
from visionops.modeling.distribution import resolve_deterministic, resolve_precision
from visionops.modeling.optimization import build_optimizer

train_path, val_path, params_path, model_path, history_path = sys.argv[1:]
params = json.loads(Path(params_path).read_text())
with np.load(train_path, allow_pickle=False) as arrays:
    train_x, train_labels = arrays["images"].astype(np.float32), arrays["labels"]
    classes = len(arrays["class_names"])
with np.load(val_path, allow_pickle=False) as arrays:
    val_x, val_labels = arrays["images"].astype(np.float32), arrays["labels"]
train_y = keras.utils.to_categorical(train_labels, classes)
val_y = keras.utils.to_categorical(val_labels, classes)

keras.utils.set_random_seed(int(params["seed"]))
if resolve_deterministic(params["deterministic"]):
    tf.config.experimental.enable_op_determinism()
precision = resolve_precision(params["precision"])
keras.mixed_precision.set_dtype_policy(precision)

batch_size = int(params["batch_size"])
model = build_model(
    params["architecture"],
    train_x.shape[1:],
    classes,
    dropout_rate=float(params["dropout_rate"]),
    width=int(params["width"]),
)
model.compile(
    optimizer=build_optimizer(params, len(train_x) // batch_size, precision),
    loss=keras.losses.CategoricalCrossentropy(label_smoothing=float(params["label_smoothing"])),
    metrics=["accuracy"],
)
history = model.fit(
    train_x,
    train_y,
    batch_size=batch_size,
    epochs=int(params["epochs"]),
    validation_data=(val_x, val_y),
    shuffle=True,
    verbose=0,
)
model.save(model_path)
records = {key: [float(value) for value in values] for key, values in history.history.items()}
Path(history_path).write_text(json.dumps(records))
"""


def timed(project: Path, *command: str) -> float:
    """Seconds one command takes in the project copy, start to exit."""
    start = time.perf_counter()
    run(project, *command)
    return time.perf_counter() - start


def stage_seconds(project: Path, *params: str) -> float:
    """One ``kedro run --pipelines training``, from no checkpoint."""
    shutil.rmtree(project / CHECKPOINT, ignore_errors=True)
    command = ["kedro", "run", "--pipelines", "training"]
    if params:
        command += ["--params", ",".join(params)]
    return timed(project, *command)


def final_val_accuracy(project: Path) -> float:
    """The stage's last-epoch validation accuracy."""
    return json.loads((project / HISTORY).read_text())[-1]["val_accuracy"]


def as_npz(split: Path, target: Path) -> Path:
    """The split folder's images, labels and class names as an NPZ file (untimed)."""
    np.savez(target, **ShardedDataset(split).to_memory().to_arrays())
    return target


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder) / "visionops")
        run(project, "kedro", "run", "--pipelines", "ingestion,data_validation,data_processing")
        params = yaml.safe_load((project / "params.yaml").read_text())["training"]
        params_path, script = Path(folder) / "params.json", Path(folder) / "plain.py"
        params_path.write_text(json.dumps(params))
        script.write_text(PLAIN_SCRIPT)
        plain_history = Path(folder) / "plain_history.json"
        plain_command = [
            sys.executable,
            str(script),
            str(as_npz(project / SPLITS / "train", Path(folder) / "train.npz")),
            str(as_npz(project / SPLITS / "val", Path(folder) / "val.npz")),
            str(params_path),
            str(Path(folder) / "plain.keras"),
            str(plain_history),
        ]
        default, same_work, plain = [], [], []
        for _ in range(ROUNDS):
            default.append(stage_seconds(project))
            default_accuracy = final_val_accuracy(project)
            same_work.append(stage_seconds(project, NO_AUGMENTATION))
            same_work_accuracy = final_val_accuracy(project)
            plain.append(timed(project, *plain_command))
        plain_accuracy = json.loads(plain_history.read_text())["val_accuracy"][-1]
    stage_s, default_s, plain_s = min(same_work), min(default), min(plain)
    print(
        f"digits, {params['architecture']}, {params['epochs']} epochs, batch "
        f"{params['batch_size']}; whole-process wall seconds, best of {ROUNDS}"
    )
    print(
        f"stage, augmentation as configured: {_runs(default)}; val accuracy {default_accuracy:.4f}"
    )
    print(f"stage, no augmentation: {_runs(same_work)}; val accuracy {same_work_accuracy:.4f}")
    print(f"plain model.fit, no augmentation: {_runs(plain)}; val accuracy {plain_accuracy:.4f}")
    print(f"default_stage_s={default_s:.2f} plain_s={plain_s:.2f} ratio={default_s / plain_s:.3f}")
    print(f"stage_s={stage_s:.2f} plain_s={plain_s:.2f} ratio={stage_s / plain_s:.3f}")


def _runs(seconds: list[float]) -> str:
    return " / ".join(f"{value:.2f} s" for value in seconds)


if __name__ == "__main__":
    main()
