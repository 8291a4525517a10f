"""The report plots say what the data says, when their inputs and outputs go through the
project's own catalog (conf/base/catalog.yml) as ``kedro run`` does.

Predictions saved as CSV come back with other types (the digits' class names "0".."9"
as integers), which once drew a confusion matrix of zeros; each plot is checked by what
it draws, then saved through the catalog and read back as a PNG.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from matplotlib.figure import Figure
from PIL import Image

from visionops.config import load_config
from visionops.evaluation.gallery import plot_worst_mistakes, worst_mistakes
from visionops.image_dataset import ImageDataset
from visionops.pipelines.evaluation.nodes import plot_confusion_matrix
from visionops.validation.drift import distribution_profile, plot_distributions

ROOT = Path(__file__).parents[2]
# Catalog arguments that name a place in the project folder.
PATH_KEYS = ("filepath", "path", "registry", "pinned")
DIGITS = tuple(str(digit) for digit in range(10))
WORDS = ("cloud", "forest", "sand", "sea")


@pytest.fixture(scope="module")
def catalog_config() -> dict[str, Any]:
    """conf/base/catalog.yml as ``kedro run`` resolves it (globals from params.yaml)."""
    return load_config(ROOT, "catalog")


@pytest.fixture
def catalog(catalog_config: dict[str, Any], tmp_path: Path) -> tuple[DataCatalog, dict]:
    """The project's catalog with every path moved under ``tmp_path``; returns it with
    the moved configuration."""
    moved = {}
    for name, entry in catalog_config.items():
        moved[name] = dict(entry)
        for key in PATH_KEYS:
            if isinstance(entry.get(key), str):
                assert not Path(entry[key]).is_absolute(), f"{name}.{key} is absolute"
                moved[name][key] = str(tmp_path / entry[key])
    return DataCatalog.from_config(moved), moved


def _split(class_names: tuple[str, ...], labels: np.ndarray, seed: int = 0) -> ImageDataset:
    rng = np.random.default_rng(seed)
    return ImageDataset(
        images=rng.integers(0, 256, size=(len(labels), 8, 8, 1), dtype=np.uint8),
        labels=labels.astype(np.int64),
        class_names=class_names,
        source_ids=np.asarray([f"test:{index}" for index in range(len(labels))]),
    )


def _save_png(catalog: tuple[DataCatalog, dict], name: str, figure: Figure) -> np.ndarray:
    """Saves ``figure`` as the catalog's ``name`` and returns the PNG's pixels, checking
    that it decodes at the figure's size and the catalog's dpi."""
    data_catalog, config = catalog
    dpi = config[name]["save_args"]["dpi"]
    size = (round(figure.get_figwidth() * dpi), round(figure.get_figheight() * dpi))
    data_catalog[name].save(figure)
    with Image.open(config[name]["filepath"]) as image:
        assert (image.format, image.size) == ("PNG", size)
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 0, f"{name} is a blank picture"
    return pixels


def _predictions(class_names: tuple[str, ...], count: int = 150) -> pd.DataFrame:
    """Actual and predicted class names of ``count`` test images, about 70 % right."""
    rng = np.random.default_rng(1)
    actual = rng.integers(0, len(class_names), count)
    wrong = rng.random(count) > 0.7
    shift = rng.integers(1, len(class_names), count)
    predicted = np.where(wrong, (actual + shift) % len(class_names), actual)
    names = np.asarray(class_names)
    return pd.DataFrame({"actual": names[actual], "predicted": names[predicted]})


def _drawn_counts(figure: Figure, classes: int) -> np.ndarray:
    """The counts written in the confusion matrix's cells, read back from the figure."""
    counts = np.full((classes, classes), -1)
    for text in figure.axes[0].texts:
        column, row = text.get_position()
        counts[int(row), int(column)] = int(text.get_text())
    assert (counts >= 0).all(), "a cell has no count written in it"
    return counts


@pytest.mark.parametrize("class_names", [DIGITS, WORDS], ids=["digit names", "word names"])
def test_confusion_matrix_counts_every_test_image_through_the_catalog(
    catalog: tuple[DataCatalog, dict], class_names: tuple[str, ...]
) -> None:
    data_catalog, _ = catalog
    predictions = _predictions(class_names)
    data_catalog["test_predictions"].save(predictions)
    loaded = data_catalog["test_predictions"].load()
    # What once made the matrix all zeros: "0".."9" read back as numbers. The catalog
    # reads the names as text now; the node copes either way.
    assert list(loaded["actual"]) == list(predictions["actual"])
    labels = pd.Categorical(predictions["actual"], categories=class_names).codes
    figure = plot_confusion_matrix(loaded, _split(class_names, labels))

    drawn = _drawn_counts(figure, len(class_names))
    assert drawn.sum() == len(predictions)
    assert np.trace(drawn) == (predictions["actual"] == predictions["predicted"]).sum()
    expected = pd.crosstab(predictions["actual"], predictions["predicted"])
    expected = expected.reindex(index=class_names, columns=class_names, fill_value=0)
    assert drawn.tolist() == expected.to_numpy().tolist()
    assert figure.axes[0].images[0].get_array().tolist() == drawn.tolist()
    ticks = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert ticks == list(class_names)
    _save_png(catalog, "confusion_matrix_plot", figure)


def _probabilities(labels: np.ndarray, classes: int, seed: int = 2) -> np.ndarray:
    """Softmax-like rows: each image predicted with its own confidence, 1 in 3 wrongly."""
    rng = np.random.default_rng(seed)
    count = len(labels)
    confidence = rng.permutation(np.linspace(0.5, 0.99, count))  # all different
    predicted = np.where(
        np.arange(count) % 3 == 0, (labels + rng.integers(1, classes, count)) % classes, labels
    )
    probabilities = np.full((count, classes), 0.0)
    probabilities += ((1 - confidence) / (classes - 1))[:, None]
    probabilities[np.arange(count), predicted] = confidence
    return probabilities


@pytest.mark.parametrize("class_names", [DIGITS, WORDS], ids=["digit names", "word names"])
def test_worst_mistakes_show_the_most_confident_wrong_images(
    catalog: tuple[DataCatalog, dict], class_names: tuple[str, ...]
) -> None:
    labels = np.arange(30) % len(class_names)
    split = _split(class_names, labels)
    probabilities = _probabilities(labels, len(class_names))
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    assert len(wrong) > 4
    worst = wrong[np.argsort(-probabilities[wrong].max(axis=1))][:4]

    chosen = worst_mistakes(probabilities, labels, 4)
    np.testing.assert_array_equal(chosen, worst)
    figure = plot_worst_mistakes(split.subset(chosen), probabilities[chosen])
    shown = [axis for axis in figure.axes if axis.images]
    assert len(shown) == 4
    assert "4 most confident" in figure.get_suptitle()
    for axis, index in zip(shown, worst, strict=True):
        match = re.fullmatch(r"(.+) -> (.+) \((\d\.\d\d)\)\n(.+)", axis.get_title())
        assert match, axis.get_title()
        assert match.groups() == (
            class_names[labels[index]],
            class_names[predicted[index]],
            f"{probabilities[index].max():.2f}",
            f"test:{index}",
        )
        assert (axis.images[0].get_array() == split.images[index][..., 0]).all()
    _save_png(catalog, "worst_mistakes_plot", figure)


def test_data_drift_bars_are_the_class_shares_through_the_catalog(
    catalog: tuple[DataCatalog, dict],
) -> None:
    """The current data has a class (9) the reference lacks; its reference bar is 0."""
    data_catalog, config = catalog
    current_labels = np.repeat(np.arange(10), [30, 20, 20, 10, 10, 10, 10, 10, 20, 10])
    reference_labels = np.repeat(np.arange(9), 10)
    current = distribution_profile(
        _split(DIGITS, current_labels).images, current_labels, DIGITS, (0, 255), bins=16
    )
    reference = distribution_profile(
        _split(DIGITS[:9], reference_labels, seed=3).images,
        reference_labels,
        DIGITS[:9],
        (0, 255),
        bins=16,
    )
    data_catalog["data_profile"].save(current)
    pinned = Path(config["drift_reference"]["pinned"])
    pinned.parent.mkdir(parents=True, exist_ok=True)
    pinned.write_text(json.dumps(reference))
    loaded_reference = data_catalog["drift_reference"].load()
    assert loaded_reference["origin"] == f"file:{pinned}"

    figure = plot_distributions(data_catalog["data_profile"].load(), loaded_reference["profile"])
    class_axes = figure.axes[0]
    assert [label.get_text() for label in class_axes.get_xticklabels()] == list(DIGITS)
    bars = {container.get_label(): container for container in class_axes.containers}
    now = [bar.get_height() for bar in bars["current"]]
    then = [bar.get_height() for bar in bars["reference"]]
    assert now == pytest.approx(np.bincount(current_labels) / len(current_labels))
    assert then == pytest.approx([*(np.bincount(reference_labels) / 90), 0.0])
    assert sum(now) == pytest.approx(1) and sum(then) == pytest.approx(1)
    for channel_axes in figure.axes[1:]:
        assert len(channel_axes.patches) == 2  # current and reference
        for stairs in channel_axes.patches:
            assert stairs.get_data().values.sum() == pytest.approx(1)
    _save_png(catalog, "data_drift_plot", figure)
