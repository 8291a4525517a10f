"""Bounds that keep bad input from exhausting the server: declared image sizes, bytes in flight.

- **Declared image size.** An encoded image is refused (400, naming the instance) when
  its header declares more pixels than ``--max-image-pixels``, read by
  :mod:`visionops.image_header` before TensorFlow decodes anything. By default the limit
  follows the model: 64 times the pixels of its input image (images up to 8 times its
  side, which the graph scales down), at least 1,048,576 (1024x1024); 16,777,216
  (4096x4096) for a model whose signatures do not show its input size. For the digits
  model (8x8) and CIFAR-sized ones (32x32) that is the 1024x1024 floor; for 224x224, a
  1792x1792 image.
- **Bytes in flight.** The request bodies being answered hold at most
  ``--max-inflight-mb`` together; a request that would go past it is answered 503
  (Retry-After: 1) instead of being read into memory. A body with a Content-Length
  reserves it all as it arrives, so slow uploads count in full; a chunked one reserves
  as it is read. A refused body is still read, and dropped, so that the client gets to
  read the answer rather than a reset connection. The server holds a few times a body's
  size while parsing it, so memory grows with this bound, not without one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from weakref import WeakKeyDictionary

import numpy as np

from visionops.image_header import declared_size, describe_excess
from visionops.serving.errors import ImageTooLargeError
from visionops.serving.models import LoadedVersion
from visionops.serving.signatures import Signature

PIXELS_PER_INPUT_PIXEL = 64
MIN_IMAGE_PIXELS = 1024 * 1024
UNKNOWN_INPUT_IMAGE_PIXELS = 4096 * 4096


# Each loaded version's input pixels, asked of it once (every predict call asks).
_INPUT_PIXELS: WeakKeyDictionary[LoadedVersion, int | None] = WeakKeyDictionary()


def input_image_pixels(version: LoadedVersion) -> int | None:
    """Height x width of the images the model takes, from an input ``[N, H, W, C]`` of
    one of its signatures; None when no signature shows them."""
    try:
        return _INPUT_PIXELS[version]
    except (KeyError, TypeError):  # not asked yet, or an object that takes no weak reference
        pass
    pixels = None
    for signature in version.signatures.values():
        for info in signature.inputs.values():
            shape = info.shape
            if shape is not None and len(shape) == 4 and None not in shape[1:3]:
                pixels = shape[1] * shape[2]
                break
        if pixels is not None:
            break
    with contextlib.suppress(TypeError):
        _INPUT_PIXELS[version] = pixels
    return pixels


def image_pixel_limit(version: LoadedVersion, configured: int | None) -> int:
    """The most pixels an image sent to ``version`` may declare: ``configured``
    (``--max-image-pixels``) when set, else the default sized for its model."""
    if configured is not None:
        return configured
    pixels = input_image_pixels(version)
    if pixels is None:
        return UNKNOWN_INPUT_IMAGE_PIXELS
    return max(PIXELS_PER_INPUT_PIXEL * pixels, MIN_IMAGE_PIXELS)


def check_image_sizes(arrays: Mapping[str, np.ndarray], signature: Signature, limit: int) -> None:
    """Refuses the request if an encoded image in a string input declares over ``limit`` pixels.

    Values that are no PNG, JPEG, GIF, BMP or WebP file are left to the model.

    Raises:
        ImageTooLargeError: Names the first such image's instance, input, declared size
            and the limit.
    """
    for key, array in arrays.items():
        if not signature.inputs[key].is_string or array.size == 0:
            continue
        values_per_instance = array.size // array.shape[0] if array.ndim else 1
        for index, value in enumerate(array.flat):
            size = declared_size(value)
            if size is not None and size.pixels > limit:
                raise ImageTooLargeError(
                    f"instance {index // values_per_instance}: input {key!r} holds a "
                    f"{size.format} image that {describe_excess(size, limit)} pixels that "
                    "this server decodes (--max-image-pixels); send it scaled down"
                )


class InflightBytes:
    """The bytes of request bodies held by requests being answered, and their bound.

    Used on the event loop only, so it needs no lock.

    Args:
        limit: Most bytes held at once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    @contextmanager
    def reservation(self) -> Iterator[Reservation]:
        """A reservation for one request's body, given back when the block ends."""
        reservation = Reservation(self)
        try:
            yield reservation
        finally:
            self.held -= reservation.size


class Reservation:
    """The bytes one request holds of an :class:`InflightBytes` bound."""

    def __init__(self, budget: InflightBytes) -> None:
        self.budget = budget
        self.size = 0

    def grow(self, size: int) -> bool:
        """Takes ``size`` more bytes; False, taking none, if that would pass the bound."""
        if self.budget.held + size > self.budget.limit:
            return False
        self.budget.held += size
        self.size += size
        return True
