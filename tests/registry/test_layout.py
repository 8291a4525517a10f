"""Registry layout: version folders and the TF Serving ``models.config``."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionops.errors import RegistryError
from visionops.registry.layout import (
    MODELS_CONFIG,
    list_models,
    list_versions,
    read_labels,
    render_models_config,
    snapshot,
    version_dir,
    write_models_config,
)
from visionops.registry.textproto import fields, parse

LABELS = {"digits": {"production": 2, "candidate": 3}, "pets": {"production": 1}}


def make_versions(root: Path, model: str, *names: str) -> None:
    """Creates version folders (any names) for ``model``."""
    for name in names:
        (root / model / name).mkdir(parents=True)


def test_labels_round_trip_for_two_models(tmp_path: Path) -> None:
    """Labels written to models.config read back exactly, for every model."""
    make_versions(tmp_path, "digits", "2", "3")
    make_versions(tmp_path, "pets", "1")
    write_models_config(tmp_path, LABELS)
    assert read_labels(tmp_path) == LABELS
    assert snapshot(tmp_path) == {
        "digits": {"versions": [2, 3], "labels": LABELS["digits"]},
        "pets": {"versions": [1], "labels": LABELS["pets"]},
    }


def test_write_leaves_only_models_config(tmp_path: Path) -> None:
    """Writing twice leaves no temporary file beside models.config."""
    write_models_config(tmp_path, LABELS)
    write_models_config(tmp_path, {"digits": {"production": 3}})
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODELS_CONFIG]
    assert read_labels(tmp_path) == {"digits": {"production": 3}}


def test_render_parses_as_a_model_config_list(tmp_path: Path) -> None:
    """The rendered text is valid text format with what TF Serving needs per model."""
    make_versions(tmp_path, "unlabelled", "1")
    (config_list,) = fields(parse(render_models_config(tmp_path, LABELS)), "model_config_list")
    configs = {fields(config, "name")[0]: config for config in fields(config_list, "config")}
    assert sorted(configs) == ["digits", "pets", "unlabelled"]
    digits = configs["digits"]
    assert fields(digits, "base_path") == [str((tmp_path / "digits").resolve())]
    assert fields(digits, "model_platform") == ["tensorflow"]
    assert fields(digits, "model_version_policy") == [[("all", [])]]
    labels = {
        dict(entry)["key"]: dict(entry)["value"] for entry in fields(digits, "version_labels")
    }
    assert labels == {"production": 2, "candidate": 3}
    assert fields(configs["unlabelled"], "version_labels") == []


def test_list_versions_ignores_staging_and_non_numeric(tmp_path: Path) -> None:
    """Only numbered folders are versions, sorted numerically, not as text."""
    make_versions(tmp_path, "digits", "10", "2", "1", ".staging-abc123", "latest", "3.tmp")
    (tmp_path / "digits" / "7").write_text("a file, not a version folder")
    assert list_versions(tmp_path, "digits") == [1, 2, 10]
    assert list_versions(tmp_path, "absent") == []


def test_list_models_needs_a_version(tmp_path: Path) -> None:
    """A model folder with only a staging folder is not a registered model."""
    make_versions(tmp_path, "digits", "1")
    make_versions(tmp_path, "half", ".staging-0f")
    assert list_models(tmp_path) == ["digits"]
    assert version_dir(tmp_path, "digits", 1).is_dir()


def test_missing_config_reads_as_no_labels(tmp_path: Path) -> None:
    """A registry without models.config has no labels, and a missing root is empty."""
    assert read_labels(tmp_path) == {}
    assert snapshot(tmp_path / "nowhere") == {}


@pytest.mark.parametrize(
    "text",
    [
        "model_config_list {",
        'model_config_list { config { name: "m" } } }',
        "",
        "just some words",
        'model_config_list { config { base_path: "/models/m" } }',
        'model_config_list { config { name: "m" version_labels { key: "prod" value: two } } }',
        'model_config_list { config { name: "m" version_labels { value: 2 } } }',
    ],
    ids=[
        "unbalanced-open",
        "unbalanced-close",
        "empty",
        "not-text-format",
        "config-without-name",
        "non-integer-version",
        "label-without-key",
    ],
)
def test_malformed_config_is_a_registry_error(tmp_path: Path, text: str) -> None:
    """A models.config we cannot read is reported as a RegistryError naming the file."""
    (tmp_path / MODELS_CONFIG).write_text(text)
    with pytest.raises(RegistryError, match=str(tmp_path / MODELS_CONFIG)):
        read_labels(tmp_path)


def test_non_ascii_model_name_round_trips(tmp_path: Path) -> None:
    """A model name outside ASCII keeps its labels after a write and a read."""
    labels = {"modèle": {"production": 1}}
    write_models_config(tmp_path, labels)
    assert read_labels(tmp_path) == labels
