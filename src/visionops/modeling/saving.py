"""Saves Keras models as .keras files whose bytes depend only on the model, and loads them.

Keras's own .keras archive records when it was written (``date_saved`` in its
metadata.json, the time of day on some of its zip entries) and where objects sat in
memory (config.json marks an object that several layers share, such as their dtype
policy, with its Python ``id``). Two runs that train the same weights would therefore
write different files, and DVC would see a new model. The archive written here is
Keras's own, rewritten without those: entries in name order, each dated 1980-01-01 (the
earliest date a zip entry can hold) with fixed permissions, metadata.json without
``date_saved``, and shared objects numbered 1, 2, ... in the order config.json first
names them. ``keras.models.load_model`` reads it as any other .keras file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import keras

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
DIRECTORY_MODE = 0o755
# Keras's names for the archive's entries and the keys that vary from run to run.
METADATA_FILE = "metadata.json"
CONFIG_FILE = "config.json"
SAVE_TIME_KEYS = ("date_saved",)
SHARED_OBJECT_KEY = "shared_object_id"
_UNIX = 3  # The "made by" system of a zip entry whose mode is a Unix mode.
_MSDOS_DIRECTORY = 0x10
_S_IFREG = 0o100000
_S_IFDIR = 0o040000


def save_model_deterministic(model: keras.Model, path: str | os.PathLike[str]) -> None:
    """Saves ``model`` as a .keras file, byte for byte the same whenever it is the same.

    The file is written beside ``path`` and renamed into place, so a reader never sees
    half a file and a failed save leaves the previous file as it was.

    Args:
        model: The model to save, with its optimizer state when it is compiled.
        path: Where the file goes; it must end in ``.keras``.

    Raises:
        ValueError: ``path`` does not end in ``.keras``.
    """
    target = Path(path)
    if target.suffix != ".keras":
        raise ValueError(f"cannot save a Keras model to {target}: the file name must end in .keras")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as folder:
        saved = Path(folder) / target.name
        keras.saving.save_model(model, saved)
        normalized = Path(folder) / f"normalized{target.suffix}"
        with normalized.open("wb") as stream:
            stream.write(normalize_keras_archive(saved.read_bytes()))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(normalized, target)


def normalize_keras_archive(archive: bytes) -> bytes:
    """The .keras archive ``archive`` without what differs between two saves of one model.

    Args:
        archive: The bytes of a .keras file.

    Returns:
        The same entries with the same contents, except metadata.json without its save
        time and config.json with its shared objects renumbered, in name order, each
        with a fixed date and mode and its own compression.
    """
    output = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(archive)) as source,
        zipfile.ZipFile(output, "w") as normalized,
    ):
        for entry in sorted(source.infolist(), key=lambda info: info.filename):
            content = source.read(entry)
            if entry.filename == METADATA_FILE:
                content = _without_save_time(content)
            elif entry.filename == CONFIG_FILE:
                content = _with_numbered_shared_objects(content)
            normalized.writestr(_fixed_info(entry), content)
    return output.getvalue()


def _without_save_time(metadata: bytes) -> bytes:
    fields = json.loads(metadata)
    for key in SAVE_TIME_KEYS:
        fields.pop(key, None)
    # Written as Keras writes it: json.dumps with its defaults.
    return json.dumps(fields).encode("utf-8")


def _with_numbered_shared_objects(config: bytes) -> bytes:
    """config.json with each shared object's memory address replaced by a number.

    Keras only matches these ids against one another while loading, so any numbering
    that keeps equal ids equal and different ids different loads the same model.
    """
    numbers: dict[Any, int] = {}

    def renumber(value: Any) -> Any:
        if isinstance(value, list):
            return [renumber(item) for item in value]
        if not isinstance(value, dict):
            return value
        return {
            key: numbers.setdefault(item, len(numbers) + 1)
            if key == SHARED_OBJECT_KEY
            else renumber(item)
            for key, item in value.items()
        }

    return json.dumps(renumber(json.loads(config))).encode("utf-8")


def _fixed_info(entry: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A header for ``entry``'s name and compression, with nothing taken from the clock."""
    info = zipfile.ZipInfo(entry.filename, date_time=ZIP_DATE_TIME)
    info.compress_type = entry.compress_type
    info.create_system = _UNIX
    if entry.is_dir():
        info.external_attr = ((_S_IFDIR | DIRECTORY_MODE) << 16) | _MSDOS_DIRECTORY
    else:
        info.external_attr = (_S_IFREG | FILE_MODE) << 16
    return info


def load_model(path: str | os.PathLike[str]) -> keras.Model:
    """The model saved at ``path``, compiled as it was saved.

    Only objects Keras or this project registered are deserialized (Keras's safe mode):
    a .keras file cannot run code of its own when loaded.
    """
    return keras.models.load_model(str(path), compile=True, safe_mode=True)
