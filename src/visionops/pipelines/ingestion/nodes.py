"""Nodes of the ingestion pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np

from visionops.image_dataset import ImageDataset


def ingest_images(
    source_images: ImageDataset, params: dict[str, Any]
) -> tuple[ImageDataset, dict[str, Any]]:
    """Takes the source's images as the raw dataset and summarises what arrived.

    Args:
        source_images: The images read from the source named by the parameters.
        params: The ``ingestion`` parameters (source, path, ...).

    Returns:
        The raw dataset, and a summary: source, image count, shape, dtype and the
        number of images per class.
    """
    counts = np.bincount(source_images.labels, minlength=len(source_images.class_names))
    names = [
        source_images.class_names[i] if i < len(source_images.class_names) else f"<label {i}>"
        for i in range(len(counts))
    ]
    summary = {
        "source": params["source"],
        "path": None if params["source"] == "digits" else str(params.get("path")),
        "images": len(source_images),
        "image_shape": list(source_images.image_shape),
        "dtype": str(source_images.images.dtype),
        "classes": len(source_images.class_names),
        "images_per_class": {name: int(count) for name, count in zip(names, counts, strict=True)},
    }
    return source_images, summary
