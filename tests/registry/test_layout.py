"""Registry layout: version folders and the TF Serving ``models.config``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from visionops.errors import RegistryError
from visionops.registry.layout import (
    MODELS_CONFIG,
    absolute_models_config,
    list_models,
    list_versions,
    model_dir,
    read_labels,
    read_models_config,
    render_models_config,
    snapshot,
    version_dir,
    write_models_config,
)
from visionops.registry.policy import ALL, SPECIFIC, VersionPolicy
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
    make_versions(tmp_path, "digits", "1", "2", "3", "4")
    make_versions(tmp_path, "unlabelled", "1", "5")
    (config_list,) = fields(parse(render_models_config(tmp_path, LABELS)), "model_config_list")
    configs = {fields(config, "name")[0]: config for config in fields(config_list, "config")}
    assert sorted(configs) == ["digits", "pets", "unlabelled"]
    digits = configs["digits"]
    assert fields(digits, "base_path") == ["digits"]
    assert fields(digits, "model_platform") == ["tensorflow"]
    # The labelled versions and the newest; version 1 is neither.
    assert fields(digits, "model_version_policy") == [
        [("specific", [("versions", 2), ("versions", 3), ("versions", 4)])]
    ]
    labels = {
        dict(entry)["key"]: dict(entry)["value"] for entry in fields(digits, "version_labels")
    }
    assert labels == {"production": 2, "candidate": 3}
    assert fields(configs["unlabelled"], "version_labels") == []
    assert fields(configs["unlabelled"], "model_version_policy") == [
        [("specific", [("versions", 5)])]
    ]


def test_written_config_parses_with_tf_serving_own_proto(tmp_path: Path) -> None:
    """TF Serving's ModelServerConfig reads models.config and its absolute copy."""
    config_pb2 = pytest.importorskip("tensorflow_serving.config.model_server_config_pb2")
    from google.protobuf import text_format

    make_versions(tmp_path, "digits", "1", "2", "3")
    write_models_config(tmp_path, {"digits": {"production": 1, "candidate": 2}})

    written = text_format.Parse(
        (tmp_path / MODELS_CONFIG).read_text(), config_pb2.ModelServerConfig()
    )
    copy = text_format.Parse(
        absolute_models_config(tmp_path, "/models"), config_pb2.ModelServerConfig()
    )

    (config,) = written.model_config_list.config
    assert (config.name, config.base_path, config.model_platform) == (
        "digits",
        "digits",
        "tensorflow",
    )
    assert list(config.model_version_policy.specific.versions) == [1, 2, 3]
    assert dict(config.version_labels) == {"production": 1, "candidate": 2}
    assert copy.model_config_list.config[0].base_path == "/models/digits"


def test_a_copied_registry_reads_the_same_from_its_new_place(tmp_path: Path) -> None:
    """models.config names no place: a copy, the original deleted, reads its own versions."""
    original, copy = tmp_path / "original", tmp_path / "elsewhere" / "registry"
    make_versions(original, "digits", "1", "2")
    write_models_config(original, {"digits": {"production": 1}})
    text = (original / MODELS_CONFIG).read_text()
    shutil.copytree(original, copy)
    shutil.rmtree(original)

    (entry,) = read_models_config(copy).values()

    assert (copy / MODELS_CONFIG).read_text() == text
    assert str(original) not in text
    assert entry.folder == model_dir(copy, "digits")
    assert entry.labels == {"production": 1}
    assert entry.policy == VersionPolicy(SPECIFIC, versions=frozenset({1, 2}))


OLD_CONFIG = """model_config_list {
  config {
    name: "digits"
    base_path: "BASE"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "production" value: 2 }
  }
}
"""


def test_an_old_config_with_absolute_paths_of_another_place_is_read(tmp_path: Path) -> None:
    """A models.config written before base paths were relative still reads right."""
    make_versions(tmp_path, "digits", "1", "2")
    old = OLD_CONFIG.replace("BASE", "/home/someone/old-project/registry/digits")
    (tmp_path / MODELS_CONFIG).write_text(old)

    (entry,) = read_models_config(tmp_path).values()

    assert entry.folder == model_dir(tmp_path, "digits")
    assert entry.policy == VersionPolicy(ALL)
    assert read_labels(tmp_path) == {"digits": {"production": 2}}
    write_models_config(tmp_path, read_labels(tmp_path))
    assert '"/home/someone' not in (tmp_path / MODELS_CONFIG).read_text()


def test_an_absolute_base_path_is_used_only_where_the_folder_beside_is_missing(
    tmp_path: Path,
) -> None:
    """The stored path counts when it exists and the registry has no such folder."""
    elsewhere = tmp_path / "elsewhere" / "digits"
    (elsewhere / "1").mkdir(parents=True)
    root = tmp_path / "registry"
    root.mkdir()
    (root / MODELS_CONFIG).write_text(OLD_CONFIG.replace("BASE", str(elsewhere)))
    assert read_models_config(root)["digits"].folder == elsewhere

    make_versions(root, "digits", "1")  # e.g. a copy of the registry, original still there
    assert read_models_config(root)["digits"].folder == model_dir(root, "digits")


def test_absolute_copy_puts_every_base_path_under_the_mount_point(tmp_path: Path) -> None:
    """The copy for TF Serving keeps labels and policies, with absolute base paths."""
    make_versions(tmp_path, "digits", "2", "3")
    make_versions(tmp_path, "pets", "1")
    write_models_config(tmp_path, LABELS)

    copy = absolute_models_config(tmp_path, "/models/")
    relative = (tmp_path / MODELS_CONFIG).read_text()

    (config_list,) = fields(parse(copy), "model_config_list")
    base_paths = {
        fields(c, "name")[0]: fields(c, "base_path") for c in fields(config_list, "config")
    }
    assert base_paths == {"digits": ["/models/digits"], "pets": ["/models/pets"]}
    body = copy[copy.index("model_config_list") :]
    expected = relative[relative.index("model_config_list") :]
    assert body == expected.replace('base_path: "', 'base_path: "/models/')
    assert render_models_config(tmp_path, LABELS, base="/models").endswith(body)


def test_absolute_copy_refuses_a_relative_mount_point_and_a_missing_config(
    tmp_path: Path,
) -> None:
    """TF Serving rejects relative base paths, so no copy is made with one."""
    with pytest.raises(RegistryError, match="does not exist"):
        absolute_models_config(tmp_path, "/models")
    write_models_config(tmp_path, LABELS)
    with pytest.raises(ValueError, match="not absolute"):
        absolute_models_config(tmp_path, "models")


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
        'model_config_list { config { name: "m" } config { name: "m" } }',
        'model_config_list { config { name: "m" model_version_policy { newest {} } } }',
        'model_config_list { config { name: "m" model_version_policy { all {} latest {} } } }',
        'model_config_list{config{name:"m" model_version_policy{specific{versions:x}}}}',
    ],
    ids=[
        "unbalanced-open",
        "unbalanced-close",
        "empty",
        "not-text-format",
        "config-without-name",
        "non-integer-version",
        "label-without-key",
        "model-listed-twice",
        "unknown-policy",
        "two-policies",
        "non-integer-specific-version",
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
