"""A CIFAR-10 ``cifar-10-batches-py`` folder, read without trusting its pickles."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from visionops.errors import SourceError
from visionops.image_dataset import ImageDataset

BATCH_FILES = (*(f"data_batch_{index}" for index in range(1, 6)), "test_batch")
META_FILE = "batches.meta"
CIFAR_SIDE = 32
CIFAR_CHANNELS = 3

# The only globals a CIFAR-10 pickle needs: numpy's array reconstruction, and the
# codec call that Python 3 uses to pickle bytes at protocol 2. Nothing else loads.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, bytes, numbers and arrays."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}; a CIFAR-10 batch holds only "
                "arrays, lists and bytes"
            )
        if module.startswith("numpy.core."):
            module = module.replace("numpy.core.", "numpy._core.", 1)
        return super().find_class(module, name)


def load_pickle(path: Path) -> dict[Any, Any]:
    """Loads one CIFAR-10 pickle with :class:`RestrictedUnpickler`.

    Raises:
        SourceError: The file is missing, not a pickle, or asks for anything but data.
    """
    if not path.is_file():
        raise SourceError(f"CIFAR-10 file {path} does not exist")
    try:
        content = RestrictedUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise SourceError(f"cannot read CIFAR-10 file {path}: {error}") from error
    if not isinstance(content, dict):
        raise SourceError(f"CIFAR-10 file {path} holds a {type(content).__name__}, not a dict")
    return {
        key.decode() if isinstance(key, bytes) else key: value for key, value in content.items()
    }


def _batch_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = load_pickle(path)
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise SourceError(f"CIFAR-10 batch {path} has no {', '.join(missing)}")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    pixels = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
        raise SourceError(
            f"'data' in CIFAR-10 batch {path} must be uint8 [N, {pixels}]; "
            f"got {data.dtype} {data.shape}"
        )
    if labels.shape != (len(data),):
        raise SourceError(f"CIFAR-10 batch {path}: {len(data)} images but {labels.size} labels")
    images = data.reshape(-1, CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1)
    return images, labels.astype(np.int64)


def read_cifar10(root: Path) -> ImageDataset:
    """Reads every batch file present in a ``cifar-10-batches-py`` folder.

    The training batches and ``test_batch`` are merged: visionops makes its own
    seeded splits. ``batches.meta`` names the classes.

    Raises:
        SourceError: The folder, its metadata or every batch is missing, or a file is
            not a plain-data CIFAR-10 pickle.
    """
    if not root.is_dir():
        raise SourceError(f"CIFAR-10 folder {root} does not exist")
    present = [name for name in BATCH_FILES if (root / name).is_file()]
    if not present:
        raise SourceError(
            f"CIFAR-10 folder {root} holds none of {', '.join(BATCH_FILES)}; point "
            "ingestion.path at the extracted cifar-10-batches-py folder"
        )
    meta = load_pickle(root / META_FILE)
    if "label_names" not in meta:
        raise SourceError(f"CIFAR-10 metadata {root / META_FILE} has no label_names")
    class_names = tuple(
        name.decode() if isinstance(name, bytes) else str(name) for name in meta["label_names"]
    )
    images, labels, source_ids = [], [], []
    for name in present:
        batch_images, batch_labels = _batch_arrays(root / name)
        images.append(batch_images)
        labels.append(batch_labels)
        source_ids.extend(f"{name}:{index}" for index in range(len(batch_images)))
    return ImageDataset(
        images=np.concatenate(images),
        labels=np.concatenate(labels),
        class_names=class_names,
        source_ids=np.asarray(source_ids),
    )
