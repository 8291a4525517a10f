"""The one in-memory form of an image dataset that every stage passes on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visionops.errors import SourceError

# Keys of the arrays in a dataset's NPZ file; shared by the Kedro dataset and the tests.
NPZ_KEYS = ("images", "labels", "class_names", "source_ids")


@dataclass(frozen=True)
class ImageDataset:
    """Images in NHWC layout with integer labels, class names and a source id per image.

    The dtype of ``images`` is kept as the source gave it (image decoders give uint8);
    checking dtype, range and finiteness is the validation stage's job, so that it can
    name what is wrong instead of the loader silently converting it.

    Attributes:
        images: Array of shape ``[N, H, W, C]``.
        labels: Integer array of shape ``[N]``; ``labels[i]`` indexes ``class_names``.
        class_names: Name of each class, in label order.
        source_ids: Where each image came from (a file path, or ``source:index``).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source_ids: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise SourceError(f"images must have shape [N, H, W, C]; got shape {self.images.shape}")
        count = len(self.images)
        if len(self.labels) != count or len(self.source_ids) != count:
            raise SourceError(
                f"{count} images but {len(self.labels)} labels and "
                f"{len(self.source_ids)} source ids; each image needs one of each"
            )
        if not np.issubdtype(self.labels.dtype, np.integer):
            raise SourceError(f"labels must be integers; got dtype {self.labels.dtype}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Height, width and channels of every image."""
        return tuple(int(d) for d in self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, indices: np.ndarray) -> ImageDataset:
        """Returns a new dataset holding the images at ``indices``, in that order."""
        return ImageDataset(
            images=self.images[indices],
            labels=self.labels[indices],
            class_names=self.class_names,
            source_ids=self.source_ids[indices],
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Returns plain arrays (no Python objects) to store with ``allow_pickle=False``."""
        return {
            "images": self.images,
            "labels": self.labels.astype(np.int64),
            "class_names": np.asarray(self.class_names, dtype=str),
            "source_ids": np.asarray(self.source_ids, dtype=str),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ImageDataset:
        """Builds a dataset from the arrays written by :meth:`to_arrays`."""
        return cls(
            images=arrays["images"],
            labels=arrays["labels"],
            class_names=tuple(str(name) for name in arrays["class_names"]),
            source_ids=arrays["source_ids"],
        )
