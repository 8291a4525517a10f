"""The one in-memory form of an image dataset that every stage passes on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visionops.errors import SourceError

# Keys of the arrays in a dataset's NPZ file; shared by the Kedro dataset and the tests.
NPZ_KEYS = ("images", "labels", "class_names", "source_ids")
# Keys stored only when a source needs them (see ImageDataset.image_shapes, read_errors).
OPTIONAL_NPZ_KEYS = ("image_shapes", "read_errors")


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
        image_shapes: ``[N, 3]`` height, width and channels of each image as its source
            held it, when they differ: the smaller ones are zero-padded into
            ``images``. None when every image has the array's shape.
        read_errors: Why each image could not be read, ``""`` when it could. An
            unreadable image is all zeros in ``images``. None when every image was read.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source_ids: np.ndarray
    image_shapes: np.ndarray | None = None
    read_errors: np.ndarray | None = None

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
        if self.image_shapes is not None and self.image_shapes.shape != (count, 3):
            raise SourceError(f"image_shapes must have shape [{count}, 3]")
        if self.read_errors is not None and len(self.read_errors) != count:
            raise SourceError(f"read_errors must hold one entry per image ({count})")

    @property
    def readable(self) -> np.ndarray:
        """Boolean mask of the images that could be read."""
        if self.read_errors is None:
            return np.ones(len(self), dtype=bool)
        return np.asarray([not error for error in self.read_errors], dtype=bool)

    def shapes(self) -> np.ndarray:
        """``[N, 3]`` height, width and channels of each image as its source held it."""
        if self.image_shapes is not None:
            return np.asarray(self.image_shapes, dtype=np.int64)
        return np.tile(np.asarray(self.image_shape, dtype=np.int64), (len(self), 1))

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
            image_shapes=None if self.image_shapes is None else self.image_shapes[indices],
            read_errors=None if self.read_errors is None else self.read_errors[indices],
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Returns plain arrays (no Python objects) to store with ``allow_pickle=False``."""
        arrays = {
            "images": self.images,
            "labels": self.labels.astype(np.int64),
            "class_names": np.asarray(self.class_names, dtype=str),
            "source_ids": np.asarray(self.source_ids, dtype=str),
        }
        if self.image_shapes is not None:
            arrays["image_shapes"] = np.asarray(self.image_shapes, dtype=np.int64)
        if self.read_errors is not None:
            arrays["read_errors"] = np.asarray(self.read_errors, dtype=str)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ImageDataset:
        """Builds a dataset from the arrays written by :meth:`to_arrays`."""
        return cls(
            images=arrays["images"],
            labels=arrays["labels"],
            class_names=tuple(str(name) for name in arrays["class_names"]),
            source_ids=arrays["source_ids"],
            image_shapes=arrays.get("image_shapes"),
            read_errors=arrays.get("read_errors"),
        )
