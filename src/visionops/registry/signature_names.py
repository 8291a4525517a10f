"""The exported SavedModel's signature and tensor names, defined once for every part that uses them.

The export writes them, infra validation calls them, the server names them in its answers
and evaluation scores the production version through them. A version exported by
visionops has three signatures, which TensorFlow Serving serves as they are:

- ``serving_default``: encoded PNG or JPEG files (GIF and BMP too for 3-channel models)
  ``[N]`` as a string input ``image_bytes``, decoded and resized to the model's input
  inside the graph. A request that names no signature lands here, so TF Serving's own
  image clients, which send ``{"instances": [{"b64": "<JPEG>"}]}`` to ``:predict``,
  work unchanged. The ``_bytes`` suffix is TF Serving's REST convention for values that
  travel as ``{"b64": ...}``.
- ``serving_bytes``: the same, under the name the earlier layout gave it, so a client
  that names it works with versions of either layout.
- ``serving_uint8``: uint8 images ``[N, H, W, C]`` as ``images``; send
  ``"signature_name": "serving_uint8"`` with arrays of numbers.

Versions exported before this layout take uint8 ``images`` on ``serving_default`` and
encoded images on ``serving_bytes``. They are served as they are (a signature's inputs
have fixed dtypes, and the SavedModel is the only source of its signatures), and
:func:`uint8_signature_name` finds the uint8 signature of either layout by its dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from visionops.errors import RegistryError

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
UINT8_SIGNATURE = "serving_uint8"
EXPORTED_SIGNATURES = (DEFAULT_SIGNATURE, BYTES_SIGNATURE, UINT8_SIGNATURE)
BYTES_INPUT = "image_bytes"
UINT8_INPUT = "images"
PROBABILITIES = "probabilities"
CLASS_IDS = "class_ids"
CLASS_NAMES = "class_names"
OUTPUT_KEYS = (PROBABILITIES, CLASS_IDS, CLASS_NAMES)


def uint8_signature_name(signatures: Mapping[str, Any]) -> str:
    """The name of the signature that takes uint8 images, in a SavedModel of either layout.

    Args:
        signatures: ``tf.saved_model.load(...).signatures``.

    Raises:
        RegistryError: Neither ``serving_uint8`` nor ``serving_default`` takes uint8
            ``images`` as its one input.
    """
    for name in (UINT8_SIGNATURE, DEFAULT_SIGNATURE):
        if name not in signatures:
            continue
        _, specs = signatures[name].structured_input_signature
        if set(specs) == {UINT8_INPUT} and specs[UINT8_INPUT].dtype.name == "uint8":
            return name
    raise RegistryError(
        f"the SavedModel has no signature taking uint8 {UINT8_INPUT!r} ({UINT8_SIGNATURE} or "
        f"{DEFAULT_SIGNATURE}); its signatures are {sorted(signatures)}. Register models "
        "exported by visionops.registry.export.export_saved_model"
    )
