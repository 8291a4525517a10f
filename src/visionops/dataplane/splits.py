"""Train, val and test splits of a dataset version: which images go where, and the copy.

A split is planned from the index alone (labels, content hashes, perceptual hashes and
thumbnails), then written as a dataset version of its own by copying its images'
records from the source's shards unchanged: no image is decoded, and memory holds one
record plus the index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from visionops.dataplane.layout import INDEX_FILE, DatasetMeta
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.records import decode_example, read_framed
from visionops.dataplane.similarity import group_pairs, hashes_from_hex, thumbnail_pairs
from visionops.dataplane.writer import DEFAULT_IMAGES_PER_SHARD, ShardWriter
from visionops.errors import ConfigError, DataValidationError, SourceError

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "val", "test")
# Columns the writer sets for the copy: where the record is now, and the class name.
_PLACED_COLUMNS = ("shard", "position", "offset", "length", "encoding", "class_name")
# Whole numbers of every readable row; a source with unreadable rows holds them as floats.
_INTEGER_COLUMNS = (
    "label",
    "height",
    "width",
    "channels",
    "source_height",
    "source_width",
    "source_channels",
)
# Index rows turned into dicts at a time while copying.
_ROWS_PER_BATCH = 4096


def index_sha256(folder: Path) -> str:
    """sha256 of the bytes of ``folder/index.parquet``: names one dataset version."""
    digest = hashlib.sha256()
    with (Path(folder) / INDEX_FILE).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def kept_rows(dataset: ShardedDataset, manifest: dict[str, Any]) -> np.ndarray:
    """The index rows that data validation let through: readable and not set aside.

    Args:
        dataset: The raw dataset version.
        manifest: What data validation wrote (``validated_dataset``): ``index_sha256``
            of the dataset it validated, and the ``excluded`` source ids.

    Raises:
        DataValidationError: The manifest is of another version of the dataset (it
            changed after validation).
    """
    actual = index_sha256(dataset.folder)
    validated = manifest.get("index_sha256")
    if validated != actual:
        raise DataValidationError(
            f"the validation manifest (validated_dataset) is of a dataset whose index has "
            f"sha256 {validated}, but {dataset.folder / INDEX_FILE} has sha256 {actual}: "
            "the raw dataset changed after it was validated; rerun data validation "
            "(kedro run --pipelines data_validation, or dvc repro) before splitting it"
        )
    index = dataset.read_index(["source_id", "readable"])
    excluded = index["source_id"].isin([str(item) for item in manifest.get("excluded", [])])
    return np.flatnonzero(index["readable"].to_numpy(dtype=bool) & ~excluded.to_numpy())


def copy_groups(
    dataset: ShardedDataset, rows: np.ndarray, near_duplicates: dict[str, Any]
) -> np.ndarray:
    """Groups of identical and near-duplicate images among ``rows``, from the stored
    content hashes, perceptual hashes and thumbnails.

    Returns:
        For each of ``rows``, a group number (the position in ``rows`` of its group's
        first member).
    """
    index = dataset.read_index(["sha256", "phash"])
    candidates = np.zeros(len(index), dtype=bool)
    candidates[rows] = True
    hashes = np.zeros(len(index), dtype=np.uint64)
    hashes[rows] = hashes_from_hex(index["phash"].fillna("").to_numpy(dtype=str)[rows])
    near = thumbnail_pairs(
        hashes,
        dataset.thumbnails(),
        int(near_duplicates["max_hash_distance"]),
        float(near_duplicates["min_correlation"]),
        candidates,
    )
    position = np.full(len(index), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    # Identical images are one group even where their thumbnails could not tell.
    content = index["sha256"].fillna("").to_numpy(dtype=str)[rows]
    order = np.argsort(content, kind="stable")
    same = content[order][1:] == content[order][:-1]
    exact = np.stack([order[:-1][same], order[1:][same]], axis=1)
    return group_pairs(len(rows), np.concatenate([position[near], exact]))


def assign_splits(labels: np.ndarray, groups: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Assigns each image to split 0 (train), 1 (val) or 2 (test).

    Images of one group (identical images and their near-duplicates) always land in
    the same split, so no image can leak from train into val or test. Groups are
    split stratified by label with a seeded shuffle, so the result is deterministic.

    Raises:
        ConfigError: The fractions are out of range, or a class has too few images
            to appear in every split.
    """
    val_fraction, test_fraction = float(params["val_fraction"]), float(params["test_fraction"])
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            "data_processing.val_fraction and test_fraction must be in (0, 1) with a sum below 1; "
            f"got {val_fraction} and {test_fraction}"
        )
    _, first_index, group_of_image = np.unique(groups, return_index=True, return_inverse=True)
    group_labels = labels[first_index]
    # Imported here: scikit-learn takes 1.5 s to import, and the validation stage,
    # which imports this module for index_sha256, never splits.
    from sklearn.model_selection import train_test_split

    groups = np.arange(len(first_index))
    seed = int(params["seed"])
    try:
        rest, test = train_test_split(
            groups, test_size=test_fraction, stratify=group_labels, random_state=seed
        )
        train, val = train_test_split(
            rest,
            test_size=val_fraction / (1 - test_fraction),
            stratify=group_labels[rest],
            random_state=seed,
        )
    except ValueError as error:
        raise ConfigError(
            f"cannot make stratified splits of {len(labels)} images: {error}; "
            "every class needs enough distinct images for train, val and test"
        ) from error
    split_of_group = np.empty(len(groups), dtype=np.int64)
    for split_index, members in enumerate((train, val, test)):
        split_of_group[members] = split_index
    return split_of_group[group_of_image]


@dataclass(frozen=True, eq=False)
class SplitBuild:
    """One split of a dataset version, planned; :meth:`write` makes it a dataset version.

    Attributes:
        source: The dataset version the split is taken from.
        name: ``train``, ``val`` or ``test``.
        rows: The source's index rows in the split, ascending.
        seed: Seeds the order the images are written in.
        images_per_shard: Rows per shard of the split.
    """

    source: ShardedDataset
    name: str
    rows: np.ndarray
    seed: int
    images_per_shard: int = DEFAULT_IMAGES_PER_SHARD

    def __len__(self) -> int:
        return len(self.rows)

    def summary(self) -> dict[str, Any]:
        """``{"images": count, "images_per_class": {class name: count}}``."""
        labels = self.source.labels[self.rows]
        counts = np.bincount(labels, minlength=len(self.source.class_names))
        return {
            "images": len(self.rows),
            "images_per_class": dict(zip(self.source.class_names, counts.tolist(), strict=True)),
        }

    def write(self, target: Path) -> DatasetMeta:
        """Copies the split's records into a dataset version at ``target`` (replaced
        only when complete), in a seeded shuffled order so that every shard mixes the
        classes (the source is in class-folder order, and training shuffles within a
        bounded buffer).

        Records are copied byte for byte, never decoded; index rows (with their new
        shard, position, offset and length) and thumbnails carry over. The split's
        ``histograms`` are None: the source keeps no per-image histograms to sum, and
        readers compute them when asked.

        Raises:
            SourceError: A source shard does not hold the record its index names.
        """
        source = self.source
        index = source.index
        thumbnails = source.thumbnails()
        files = source.shard_files()
        order = np.random.default_rng(self.seed).permutation(np.asarray(self.rows, dtype=np.int64))
        writer = ShardWriter(Path(target), list(source.class_names), self.images_per_shard)
        kept = [name for name in index.columns if name not in _PLACED_COLUMNS]
        try:
            with ExitStack() as stack:
                handles: dict[int, BinaryIO] = {}

                def open_shard(shard: int) -> BinaryIO:
                    if shard not in handles:
                        handles[shard] = stack.enter_context(files[shard].open("rb"))
                    return handles[shard]

                for start in range(0, len(order), _ROWS_PER_BATCH):
                    batch = order[start : start + _ROWS_PER_BATCH]
                    rows = index.iloc[batch]
                    columns = {name: rows[name].tolist() for name in kept}
                    for name in _INTEGER_COLUMNS:
                        if name in columns:
                            columns[name] = [int(value) for value in columns[name]]
                    images, encodings = _read_records(rows, columns, files, open_shard)
                    # A batch at a time: the writer's columns, not one row's each.
                    writer.add_columns(
                        columns, images, encodings, None, np.asarray(thumbnails[batch])
                    )
            return writer.finish({**source.meta.source, "split": self.name, "seed": self.seed})
        except BaseException:
            writer.abort()
            raise


def _read_records(
    rows: pd.DataFrame,
    columns: dict[str, list[Any]],
    files: list[Path],
    open_shard: Callable[[int], BinaryIO],
) -> tuple[list[bytes], list[str]]:
    """The stored image and encoding of each of ``rows`` (index rows), read from their
    shards by byte offset, each record's label checked against the index's.

    Raises:
        SourceError: A shard does not hold the record its index names.
    """
    images, encodings = [], []
    for shard, offset, length, label, source_id in zip(
        rows["shard"].tolist(),
        rows["offset"].tolist(),
        rows["length"].tolist(),
        columns["label"],
        columns["source_id"],
        strict=True,
    ):
        where = f"{files[int(shard)]} ({source_id})"
        record = read_framed(open_shard(int(shard)), int(offset), int(length), where)
        image, stored_label, encoding = decode_example(record)
        if stored_label != label:
            raise SourceError(
                f"{where}: the record's label {stored_label} is not the index's {label}; "
                "rebuild the dataset (dvc repro)"
            )
        images.append(image)
        encodings.append(encoding)
    return images, encodings


def rows_per_shard(dataset: ShardedDataset) -> int:
    """The source's rows per shard (what its first shard holds when it has several)."""
    if len(dataset.meta.shards) < 2:
        return DEFAULT_IMAGES_PER_SHARD
    return int((dataset.read_index(["shard"])["shard"].to_numpy() == 0).sum())


def plan_splits(
    dataset: ShardedDataset,
    manifest: dict[str, Any],
    params: dict[str, Any],
    near_duplicates: dict[str, Any],
) -> tuple[SplitBuild, SplitBuild, SplitBuild]:
    """The train, val and test splits of the images data validation let through.

    Identical images and near-duplicates stay in one split (:func:`copy_groups`,
    :func:`assign_splits`); split ``k`` is written in an order seeded with
    ``data_processing.seed + k``.

    Args:
        dataset: The raw dataset version.
        manifest: The data validation manifest (see :func:`kept_rows`).
        params: The ``data_processing`` parameters: val_fraction, test_fraction, seed.
        near_duplicates: ``data_validation.near_duplicates``: max_hash_distance and
            min_correlation.

    Raises:
        DataValidationError: The manifest is not of this dataset version.
        ConfigError: The fractions are invalid, or a class has too few images.
    """
    rows = kept_rows(dataset, manifest)
    groups = copy_groups(dataset, rows, near_duplicates)
    split_of_row = assign_splits(dataset.labels[rows], groups, params)
    per_shard = rows_per_shard(dataset)
    seed = int(params["seed"])
    train, val, test = (
        SplitBuild(dataset, name, rows[split_of_row == number], seed + number, per_shard)
        for number, name in enumerate(SPLITS)
    )
    return train, val, test
