"""What ingestion wrote, in a few figures: the ingestion report."""

from __future__ import annotations

from typing import Any

import numpy as np

from visionops.dataplane.reader import ShardedDataset


def folder_bytes(dataset: ShardedDataset) -> int:
    """Bytes of every file of a dataset version."""
    return sum(path.stat().st_size for path in dataset.folder.rglob("*") if path.is_file())


def ingestion_summary(dataset: ShardedDataset) -> dict[str, Any]:
    """Source, image count, stored shape and dtype, images per class, unreadable files,
    shards and stored bytes of a freshly ingested dataset version."""
    index = dataset.read_index(["label", "readable", "source_format"])
    names = list(dataset.class_names)
    counts = np.bincount(index["label"].to_numpy(dtype=np.int64), minlength=len(names))
    formats = index.loc[index["readable"], "source_format"].value_counts().sort_index()
    source = dataset.meta.source
    return {
        "source": source.get("source"),
        "path": source.get("path"),
        "images": len(dataset),
        "unreadable": int((~index["readable"]).sum()),
        "image_shape": list(dataset.image_shape),
        "dtype": dataset.meta.dtype,
        "classes": len(names),
        "images_per_class": {name: int(count) for name, count in zip(names, counts, strict=False)},
        "source_formats": {str(name): int(count) for name, count in formats.items()},
        "shards": len(dataset.meta.shards),
        "stored_bytes": folder_bytes(dataset),
    }
