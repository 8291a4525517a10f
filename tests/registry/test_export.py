"""The exported SavedModel: its signatures, and encoded images giving what uint8 arrays give."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from visionops.modeling.architectures import build_model
from visionops.registry.export import DECODE_CHUNK, export_saved_model
from visionops.registry.signature_names import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    DEFAULT_SIGNATURE,
    EXPORTED_SIGNATURES,
    OUTPUT_KEYS,
    UINT8_INPUT,
    UINT8_SIGNATURE,
)

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    model = build_model("simple_cnn", SHAPE, 3, width=4)
    path = tmp_path_factory.mktemp("export") / "model"
    export_saved_model(model, ("a", "b", "c"), SHAPE, path)
    return tf.saved_model.load(str(path)).signatures


# Below, at, just over and at multiples of the chunk decoded per loop step.
@pytest.mark.parametrize("count", [1, DECODE_CHUNK - 1, DECODE_CHUNK, DECODE_CHUNK + 1, 32])
def test_png_batches_of_any_size_match_the_uint8_signature(exported, count: int) -> None:
    images = np.random.default_rng(count).integers(0, 256, (count, *SHAPE), dtype=np.uint8)
    encoded = tf.constant([tf.io.encode_png(image).numpy() for image in images])
    from_uint8 = exported[UINT8_SIGNATURE](**{UINT8_INPUT: tf.constant(images)})
    for name in (DEFAULT_SIGNATURE, BYTES_SIGNATURE):
        from_bytes = exported[name](**{BYTES_INPUT: encoded})
        assert from_bytes["probabilities"].shape == (count, 3)
        for key in OUTPUT_KEYS:
            np.testing.assert_array_equal(from_bytes[key].numpy(), from_uint8[key].numpy())


def test_images_of_other_sizes_are_resized_in_the_graph(exported) -> None:
    small = np.full((8, 8, 1), 200, np.uint8)
    large = np.full((16, 16, 1), 200, np.uint8)  # same content at twice the size
    rgb = np.full((8, 8, 3), 200, np.uint8)  # decoded to the model's one channel
    batch = [small, large, rgb] * 3  # 9 images: decoded in chunks, one padded
    encoded = tf.constant([tf.io.encode_png(image).numpy() for image in batch])
    from_bytes = exported[DEFAULT_SIGNATURE](**{BYTES_INPUT: encoded})["probabilities"].numpy()
    expected = exported[UINT8_SIGNATURE](**{UINT8_INPUT: tf.constant(small[None])})["probabilities"]
    np.testing.assert_allclose(from_bytes, np.repeat(expected.numpy(), 9, axis=0), atol=1e-6)


def test_the_default_signature_takes_encoded_images_and_serving_uint8_arrays(exported) -> None:
    """A request that names no signature carries encoded images, as TF Serving's clients send."""
    inputs = {name: exported[name].structured_input_signature[1] for name in exported}

    assert set(inputs) == set(EXPORTED_SIGNATURES)
    for name in (DEFAULT_SIGNATURE, BYTES_SIGNATURE):
        assert {key: (spec.dtype, spec.shape.as_list()) for key, spec in inputs[name].items()} == {
            BYTES_INPUT: (tf.string, [None])
        }
    assert {key: (s.dtype, s.shape.as_list()) for key, s in inputs[UINT8_SIGNATURE].items()} == {
        UINT8_INPUT: (tf.uint8, [None, *SHAPE])
    }
    assert BYTES_INPUT.endswith("_bytes"), "TF Serving's REST API sends *_bytes as b64"


def test_jpeg_files_are_decoded_too(exported) -> None:
    images = np.random.default_rng(5).integers(0, 256, (3, *SHAPE), dtype=np.uint8)
    files = [tf.io.encode_jpeg(image, quality=90).numpy() for image in images]
    decoded = np.stack([tf.io.decode_jpeg(data, channels=1).numpy() for data in files])

    from_bytes = exported[DEFAULT_SIGNATURE](**{BYTES_INPUT: tf.constant(files)})
    from_uint8 = exported[UINT8_SIGNATURE](**{UINT8_INPUT: tf.constant(decoded)})

    np.testing.assert_array_equal(from_bytes["probabilities"], from_uint8["probabilities"])
