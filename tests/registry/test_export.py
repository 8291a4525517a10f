"""The exported SavedModel: encoded images give what the uint8 signature gives."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from visionops.modeling.architectures import build_model
from visionops.registry.export import DECODE_CHUNK, export_saved_model

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
    from_bytes = exported["serving_bytes"](image_bytes=encoded)
    from_uint8 = exported["serving_default"](images=tf.constant(images))
    assert from_bytes["probabilities"].shape == (count, 3)
    for key in ("probabilities", "class_ids", "class_names"):
        np.testing.assert_array_equal(from_bytes[key].numpy(), from_uint8[key].numpy())


def test_images_of_other_sizes_are_resized_in_the_graph(exported) -> None:
    small = np.full((8, 8, 1), 200, np.uint8)
    large = np.full((16, 16, 1), 200, np.uint8)  # same content at twice the size
    rgb = np.full((8, 8, 3), 200, np.uint8)  # decoded to the model's one channel
    batch = [small, large, rgb] * 3  # 9 images: decoded in chunks, one padded
    encoded = tf.constant([tf.io.encode_png(image).numpy() for image in batch])
    from_bytes = exported["serving_bytes"](image_bytes=encoded)["probabilities"].numpy()
    expected = exported["serving_default"](images=tf.constant(small[None]))["probabilities"]
    np.testing.assert_allclose(from_bytes, np.repeat(expected.numpy(), 9, axis=0), atol=1e-6)
