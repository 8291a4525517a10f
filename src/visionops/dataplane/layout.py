"""The folder of one dataset version, and the names every reader and writer shares.

::

    <dataset>/dataset.json                         format, class names, image shape, dtype,
                                                   counts, shard files, pixel histograms
    <dataset>/index.parquet                        one row per image (INDEX_COLUMNS)
    <dataset>/shards/part-00000-of-000NN.tfrecord  tf.train.Example records: the encoded
                                                   image, its label and its encoding

TFRecord is what tf.data reads in parallel in C++ (``TFRecordDataset`` interleaved
over the shards), with the image decoded in the graph (``tf.io.decode_image``). Shards
hold a bounded number of images each, so a million images make a few hundred files,
which DVC handles well, not a million. The index is Parquet because it is a table, the
ground Great Expectations validates, and pyarrow reads a few of its columns without
the rest.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from visionops.errors import SourceError

FORMAT = "visionops-shards/1"
META_FILE = "dataset.json"
INDEX_FILE = "index.parquet"
SHARDS_DIR = "shards"
SHARD_SUFFIX = ".tfrecord"

# What each index row holds. The profile columns (pixel statistics) are those of
# visionops.validation.profile; the rest say where the image came from and where it is.
INDEX_COLUMNS = (
    "source_id",  # the file, relative to the source folder, or "<source>:<index>"
    "label",  # index into class_names
    "class_name",
    "file_sha256",  # sha256 of the source file's bytes ("" for array sources)
    "sha256",  # sha256 of the stored pixels' shape, dtype and bytes
    "phash",  # 64-bit DCT perceptual hash, 16 hex digits
    "shard",  # shard number, and the record's position, byte offset and length in it
    "position",
    "offset",
    "length",
    "encoding",  # png | jpeg (the source's own bytes or re-encoded) | raw (tensor bytes)
    "height",  # the image as its source held it (before any resize)
    "width",
    "channels",
    "source_format",  # what the file really was (JPEG, PNG, WEBP, ...), whatever its name
    "readable",
    "read_error",
)


def shard_name(number: int, count: int) -> str:
    """``part-00003-of-00012.tfrecord``: the shard's number and the dataset's count."""
    return f"part-{number:05d}-of-{count:05d}{SHARD_SUFFIX}"


@dataclass
class DatasetMeta:
    """What ``dataset.json`` says of a dataset version.

    Attributes:
        class_names: Name of each class, in label order.
        image_shape: Height, width and channels of the stored images; the most common
            shape when they differ (validation then fails on the others).
        dtype: The stored pixels' dtype (``uint8`` for every image file).
        images: Rows of the index.
        shards: Shard file names, in order.
        histograms: ``[channels][256]`` counts of every uint8 pixel value of the
            readable images, for drift; None for other dtypes (then computed on read).
        source: What was ingested (source kind, path, image size, channels).
        format: :data:`FORMAT`.
    """

    class_names: list[str]
    image_shape: list[int]
    dtype: str
    images: int
    shards: list[str]
    histograms: list[list[int]] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def read(cls, folder: Path) -> DatasetMeta:
        """Reads ``folder/dataset.json``.

        Raises:
            SourceError: The folder is not a dataset version of this format.
        """
        path = folder / META_FILE
        if not path.is_file():
            legacy = folder.with_suffix(".npz")
            hint = (
                f"; {legacy} is a dataset of visionops before the sharded data plane: "
                "rerun the pipeline (dvc repro) to rebuild it"
                if legacy.exists()
                else "; run the stage that writes it (dvc repro)"
            )
            raise SourceError(f"{folder} is not a dataset version: it has no {META_FILE}{hint}")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise SourceError(f"cannot read {path}: {error}") from error
        if data.get("format") != FORMAT:
            raise SourceError(
                f"{path} has format {data.get('format')!r}, not {FORMAT!r}; rebuild it (dvc repro)"
            )
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link to ``source`` at ``target`` (replacing it), or a copy where the two
    are on different file systems: a shard is kept in two places without its bytes
    written twice."""
    Path(target).unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
