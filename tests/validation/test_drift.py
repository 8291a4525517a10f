"""Drift between an incoming dataset's distribution profile and the reference's."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image
from sklearn.datasets import load_digits

from visionops.dataplane.layout import SHARDS_DIR
from visionops.dataplane.reader import ShardedDataset
from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset
from visionops.validation.drift import (
    DRIFT_ACTIONS,
    compare_profiles,
    dataset_profile,
    distribution_profile,
    format_drift,
    plot_distributions,
    rebin_value_counts,
)

DIGIT_NAMES = [str(digit) for digit in range(10)]
STRICT = {
    "class_distribution": {"max_distance": 0.1, "action": "fail"},
    "intensity": {"max_distance": 0.1, "action": "fail"},
}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits as uint8 8x8x1 images stretched to 0..255, and their labels."""
    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[..., np.newaxis]
    return images, bunch.target.astype(np.int64)


@pytest.fixture(scope="module")
def reference(digits: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """The digits' profile, standing in for the production model's training data."""
    images, labels = digits
    return distribution_profile(images, labels, DIGIT_NAMES, (0, 255))


def _by_name(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {check["check"]: check for check in checks}


def _rgb_profile(brightness: int, labels: list[int], names: list[str]) -> dict[str, Any]:
    images = np.full((len(labels), 4, 4, 3), brightness, dtype=np.uint8)
    return distribution_profile(images, np.asarray(labels), names, (0, 255), bins=8)


def test_profile_counts_classes_and_ignores_unknown_labels() -> None:
    """Each class is counted once per image; labels naming no class are left out."""
    images = np.zeros((6, 2, 2, 1), dtype=np.uint8)
    profile = distribution_profile(images, np.array([0, 1, 1, 2, -1, 7]), ["a", "b", "c"], (0, 255))

    assert profile["images"] == 6
    assert profile["image_shape"] == [2, 2, 1]
    assert profile["class_names"] == ["a", "b", "c"]
    assert profile["class_counts"] == [1, 2, 1]


def test_profile_skips_non_finite_pixels_and_clips_out_of_range_ones() -> None:
    """NaN and Inf are not counted; values beyond the range land in the edge bins."""
    pixels = np.array([-5.0, 0.0, 0.4, 0.5, 1.0, 7.0, np.nan, np.inf, -np.inf])
    images = pixels.reshape(1, 3, 3, 1)

    profile = distribution_profile(images, np.array([0]), ["only"], (0.0, 1.0), bins=2)

    assert profile["channel_histograms"] == [[3, 3]]


def test_profile_is_json_ready(digits: tuple[np.ndarray, np.ndarray]) -> None:
    """The profile survives a JSON round trip unchanged, so it can be stored as a file."""
    images, labels = digits
    floats = images.astype(np.float32)
    floats[0, 0, 0, 0] = np.nan

    profile = distribution_profile(floats, labels, DIGIT_NAMES, (0, 255), bins=16)

    assert json.loads(json.dumps(profile)) == profile
    assert profile["bins"] == 16
    assert profile["value_range"] == [0.0, 255.0]
    assert sum(profile["channel_histograms"][0]) == images.size - 1


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_profile_does_not_depend_on_chunk_size(
    digits: tuple[np.ndarray, np.ndarray], dtype: type
) -> None:
    """Profiling in chunks of 7 images gives exactly what one chunk gives."""
    images, labels = digits
    images = images.astype(dtype)

    whole = distribution_profile(images, labels, DIGIT_NAMES, (0, 255), chunk_size=10_000)
    chunked = distribution_profile(images, labels, DIGIT_NAMES, (0, 255), chunk_size=7)

    assert chunked == whole


def test_profile_matches_numpy_histogram_per_channel() -> None:
    """Within the range, the counts are those of ``np.histogram`` on each channel."""
    images = np.random.default_rng(0).integers(0, 256, (20, 5, 5, 3), dtype=np.uint8)

    profile = distribution_profile(images, np.zeros(20, dtype=int), ["x"], (0, 255), bins=10)

    expected = [np.histogram(images[..., c], 10, (0, 255))[0].tolist() for c in range(3)]
    assert profile["channel_histograms"] == expected


def test_profile_of_no_images_is_empty() -> None:
    """An empty dataset profiles to zero counts rather than an error."""
    images = np.zeros((0, 8, 8, 1), dtype=np.uint8)

    profile = distribution_profile(images, np.zeros(0, dtype=int), ["a", "b"], (0, 255), bins=4)

    assert profile["images"] == 0
    assert profile["class_counts"] == [0, 0]
    assert profile["channel_histograms"] == [[0, 0, 0, 0]]


def test_profile_rejects_an_empty_value_range() -> None:
    """A range whose low end is not below its high end is refused up front."""
    images = np.zeros((1, 2, 2, 1), dtype=np.uint8)

    with pytest.raises(ValueError, match="value_range"):
        distribution_profile(images, np.array([0]), ["a"], (255, 255))


def _decoded_profile(dataset: ShardedDataset, value_range, bins: int) -> dict[str, Any]:
    """The profile of the version's readable images, decoded."""
    images = dataset.to_memory()
    return distribution_profile(
        images.images, images.labels, dataset.class_names, value_range, bins=bins
    )


@pytest.mark.parametrize(
    ("value_range", "bins"), [((0, 255), 32), ((0, 255), 7), ((10, 200), 16), ((0, 1), 4)]
)
def test_value_counts_rebin_as_uint8_pixels_are_binned(value_range, bins: int) -> None:
    images = np.random.default_rng(2).integers(0, 256, (12, 6, 6, 3), dtype=np.uint8)
    counts = np.stack([np.bincount(images[..., c].ravel(), minlength=256) for c in range(3)])

    rebinned = rebin_value_counts(counts, *value_range, bins)

    expected = distribution_profile(images, np.zeros(12, int), ["x"], value_range, bins=bins)
    assert rebinned.tolist() == expected["channel_histograms"]


@pytest.mark.parametrize(("value_range", "bins"), [((0, 255), 32), ((20, 230), 9)])
def test_the_profile_from_stored_histograms_is_that_of_the_decoded_images(
    ingest, image_folder, monkeypatch: pytest.MonkeyPatch, value_range, bins: int
) -> None:
    """An image folder with a JPEG and an unreadable file."""
    root, paths = image_folder
    paths[3].write_bytes(paths[3].read_bytes()[:150])
    image = Image.open(paths[8]).convert("RGB")
    image.save(paths[8].with_suffix(".jpg"), quality=80)
    paths[8].unlink()
    dataset = ingest("image_folder", root)
    assert dataset.meta.histograms is not None
    decoded = _decoded_profile(dataset, value_range, bins)
    shutil.rmtree(dataset.folder / SHARDS_DIR)

    profile = dataset_profile(ShardedDataset(dataset.folder), value_range, bins)

    assert profile == decoded
    assert profile["images"] == 159
    assert profile["class_counts"] == [39, 40, 40, 40]


def test_the_profile_of_float_images_streams_them_in_chunks(to_version) -> None:
    """Without stored histograms (float pixels) the images are read a chunk at a time."""
    rng = np.random.default_rng(4)
    images = rng.uniform(-10, 270, size=(30, 5, 5, 2)).astype(np.float32)
    images[4, 0, 0, 1] = np.nan
    dataset = to_version(
        ImageDataset(
            images=images,
            labels=np.arange(30) % 3,
            class_names=("a", "b", "c"),
            source_ids=np.asarray([f"float:{index}" for index in range(30)]),
        )
    )
    assert dataset.meta.histograms is None

    profile = dataset_profile(dataset, (0, 255), bins=16, chunk_size=7)

    assert profile == _decoded_profile(dataset, (0, 255), 16)
    assert sum(profile["channel_histograms"][1]) == 30 * 25 - 1


def test_identical_profiles_pass_every_check_at_distance_zero(reference: dict[str, Any]) -> None:
    """A dataset compared with itself shows no drift."""
    checks = compare_profiles(reference, reference, STRICT)

    assert [check["check"] for check in checks] == ["class_distribution", "intensity[channel 0]"]
    assert all(check["status"] == "ok" and check["distance"] == 0.0 for check in checks)
    assert format_drift(checks) == []


def test_brighter_images_fail_intensity_and_report_both_means(
    digits: tuple[np.ndarray, np.ndarray], reference: dict[str, Any]
) -> None:
    """Brightening every pixel by 60 fails intensity; the detail gives the mean then and now."""
    images, labels = digits
    brighter = np.clip(images.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    current = distribution_profile(brighter, labels, DIGIT_NAMES, (0, 255))

    checks = _by_name(compare_profiles(current, reference, STRICT))

    intensity = checks["intensity[channel 0]"]
    assert intensity["status"] == "fail"
    assert intensity["distance"] > 0.1
    assert checks["class_distribution"]["status"] == "ok"
    means = re.search(
        r"mean intensity ([\d.]+) in the reference, ([\d.]+) now", intensity["detail"]
    )
    assert means is not None
    # Bin centres stand in for pixel values, so the means are right to half a bin (4).
    assert float(means[1]) == pytest.approx(images.mean(), abs=4)
    assert float(means[2]) == pytest.approx(brighter.mean(), abs=4)


def test_changed_class_shares_fail_and_name_the_class(
    digits: tuple[np.ndarray, np.ndarray], reference: dict[str, Any]
) -> None:
    """Keeping mostly 3s fails the class check, and the detail names class '3'."""
    images, labels = digits
    keep = (labels == 3) | (np.arange(len(labels)) % 4 == 0)
    current = distribution_profile(images[keep], labels[keep], DIGIT_NAMES, (0, 255))

    check = _by_name(compare_profiles(current, reference, STRICT))["class_distribution"]

    assert check["status"] == "fail"
    assert "largest changes: class '3'" in check["detail"]
    assert format_drift([check]) == [
        f"  - drift class_distribution: {check['detail']} (action: fail)"
    ]


def test_warn_action_gives_warn_status() -> None:
    """With action 'warn', a check past its limit warns instead of failing."""
    current = _rgb_profile(200, [0, 1], ["a", "b"])
    reference = _rgb_profile(20, [0, 1], ["a", "b"])
    params = {"intensity": {"max_distance": 0.2, "action": "warn"}}

    checks = compare_profiles(current, reference, params)

    assert {check["status"] for check in checks} == {"warn"}
    assert len(checks) == 3
    assert all(line.endswith("(action: warn)") for line in format_drift(checks))


def test_classes_are_matched_by_name_not_position() -> None:
    """The same classes listed in another order do not count as drift."""
    current = _rgb_profile(10, [0, 1, 1], ["cat", "dog"])
    reference = _rgb_profile(10, [1, 0, 0], ["dog", "cat"])

    check = compare_profiles(current, reference, STRICT)[0]

    assert check["distance"] == 0.0
    assert check["status"] == "ok"


def test_class_on_one_side_only_counts_as_zero_on_the_other() -> None:
    """A class the reference never saw is drift, named in the detail."""
    current = _rgb_profile(10, [0, 1, 2, 2], ["cat", "dog", "bird"])
    reference = _rgb_profile(10, [0, 1], ["cat", "dog"])

    check = compare_profiles(current, reference, STRICT)[0]

    assert check["status"] == "fail"
    assert "class 'bird' 0.0% -> 50.0%" in check["detail"]


def test_a_missing_check_is_not_run(reference: dict[str, Any]) -> None:
    """Only the checks named in the parameters are run."""
    params = {"class_distribution": STRICT["class_distribution"]}

    checks = compare_profiles(reference, reference, params)

    assert [check["check"] for check in checks] == ["class_distribution"]
    assert compare_profiles(reference, reference, {}) == []


def test_different_channel_counts_compare_all_channels_together() -> None:
    """Grey against colour compares one histogram over all channels, and says so."""
    current = _rgb_profile(100, [0], ["a"])
    grey = distribution_profile(
        np.full((1, 4, 4, 1), 100, np.uint8), np.array([0]), ["a"], (0, 255), bins=8
    )

    checks = compare_profiles(current, grey, {"intensity": STRICT["intensity"]})

    assert [check["check"] for check in checks] == ["intensity[all channels]"]
    assert checks[0]["distance"] == 0.0
    assert "1 channel(s) in the reference, 3 now" in checks[0]["detail"]


def test_different_bins_are_not_comparable_and_take_the_action() -> None:
    """Profiles with other bins cannot be compared: the check takes its action anyway."""
    current = _rgb_profile(100, [0], ["a"])
    reference = distribution_profile(
        np.full((1, 4, 4, 3), 100, np.uint8), np.array([0]), ["a"], (0, 255), bins=16
    )
    params = {"intensity": {"max_distance": 1.0, "action": "warn"}}

    (check,) = compare_profiles(current, reference, params)

    assert check["status"] == "warn"
    assert "not comparable" in check["detail"]


def test_an_empty_side_is_as_far_as_possible() -> None:
    """No labelled images now against some in the reference is distance 1."""
    current = _rgb_profile(100, [], ["a"])
    reference = _rgb_profile(100, [0], ["a"])

    checks = _by_name(compare_profiles(current, reference, STRICT))

    assert checks["class_distribution"]["distance"] == 1.0
    assert checks["intensity[channel 0]"]["distance"] == 1.0
    assert compare_profiles(current, current, STRICT)[0]["distance"] == 0.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"intensity": {"max_distance": 0.1, "action": "stop"}},
            "data_validation.drift.intensity.action must be 'warn' or 'fail'; got 'stop'",
        ),
        (
            {"class_distribution": {"max_distance": 1.5, "action": "warn"}},
            "data_validation.drift.class_distribution.max_distance",
        ),
        (
            {"class_distribution": {"max_distance": "0.1", "action": "warn"}},
            "data_validation.drift.class_distribution.max_distance",
        ),
        (
            {"intensity": {"action": "fail"}},
            "data_validation.drift.intensity.max_distance",
        ),
        ({"intensity": None}, "data_validation.drift.intensity must be a mapping"),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(
    reference: dict[str, Any], params: dict[str, Any], message: str
) -> None:
    """A bad setting is reported with its full parameter path."""
    with pytest.raises(ConfigError) as error:
        compare_profiles(reference, reference, params)

    assert message in str(error.value)


def test_actions_are_warn_and_fail() -> None:
    """The two actions a user may configure."""
    assert DRIFT_ACTIONS == ("warn", "fail")


@pytest.mark.parametrize("key", ["class_counts", "channel_histograms", "bins"])
def test_malformed_reference_raises_config_error_naming_the_key(
    reference: dict[str, Any], key: str
) -> None:
    """A hand-edited reference missing a key is rejected, naming the key."""
    broken = {name: value for name, value in reference.items() if name != key}

    with pytest.raises(ConfigError, match=f"reference profile has no '{key}'"):
        compare_profiles(reference, broken, STRICT)


def test_reference_with_miscounted_classes_raises_config_error(reference: dict[str, Any]) -> None:
    """Class counts that do not line up with class names are rejected."""
    broken = copy.deepcopy(reference)
    broken["class_counts"].pop()

    with pytest.raises(ConfigError, match="class_counts"):
        compare_profiles(reference, broken, STRICT)


def test_compare_does_not_change_its_inputs(reference: dict[str, Any]) -> None:
    """Comparing leaves both profiles as they were."""
    before = copy.deepcopy(reference)

    compare_profiles(reference, reference, STRICT)

    assert reference == before


def test_plot_has_a_class_panel_and_one_per_channel(tmp_path: Path) -> None:
    """Class shares plus three intensity panels for colour images; savable as PNG."""
    current = _rgb_profile(200, [0, 1, 1], ["a", "b"])
    reference = _rgb_profile(20, [0, 1], ["a", "b"])

    figure = plot_distributions(current, reference)

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4
    assert figure.axes[0].get_title() == "Class shares"
    assert all(axes.get_legend() is not None for axes in figure.axes)
    path = tmp_path / "drift.png"
    figure.savefig(path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_plot_without_reference_says_so(reference: dict[str, Any], tmp_path: Path) -> None:
    """With no reference, only the current data is drawn and the title says why."""
    figure = plot_distributions(reference, None)

    assert len(figure.axes) == 2
    assert "no reference" in figure.axes[0].get_title()
    assert len(figure.axes[0].patches) == len(DIGIT_NAMES)
    figure.savefig(tmp_path / "drift.png")
    assert (tmp_path / "drift.png").stat().st_size > 0
