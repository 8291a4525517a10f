"""One place for configuration: params.yaml, read by every command through one module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from visionops.config import load_config, read_parameters, registry_root
from visionops.console import build_parser
from visionops.errors import ConfigError
from visionops.registry.command import resolve_registry

ROOT = Path(__file__).parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's configuration: params.yaml and conf/."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def _edit(project: Path, **values: object) -> None:
    path = project / "params.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **values}))


def test_the_parameter_file_is_what_runs(project: Path) -> None:
    _edit(project, model_name="pets", registry_root="/srv/models")
    parameters = read_parameters(project)
    assert (parameters["model_name"], parameters["registry_root"]) == ("pets", "/srv/models")
    assert registry_root(project) == Path("/srv/models")
    catalog = load_config(project, "catalog")
    assert catalog["production_model"] == {
        "type": "visionops.datasets.ProductionModelDataset",
        "registry": "/srv/models",
        "model_name": "pets",
    }
    assert catalog["drift_reference"]["pinned"] == "conf/base/reference/pets.json"


def test_kedro_run_params_reach_the_parameters_and_the_catalog(project: Path) -> None:
    runtime = {"model_name": "scans", "training.epochs": 3, "registry_root": "elsewhere"}
    assert read_parameters(project, runtime)["training"]["epochs"] == 3
    assert read_parameters(project, runtime)["training"]["batch_size"] == 64
    catalog = load_config(project, "catalog", runtime)
    assert catalog["model_registry"]["path"] == "elsewhere"
    assert catalog["production_model"]["model_name"] == "scans"


@pytest.mark.parametrize(
    "stray",
    ["conf/local/parameters.yml", "conf/base/parameters_training.yml", "conf/local/globals.yml"],
)
def test_a_parameter_file_under_conf_is_refused_with_the_fix(project: Path, stray: str) -> None:
    """DVC tracks params.yaml only: a value set elsewhere would be silently ignored by it."""
    (project / stray).write_text("model_name: pets\n")
    with pytest.raises(ConfigError, match=rf"{stray} sets parameters.*move its values"):
        read_parameters(project)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("model_name: classifier\n", "'registry_root' must be set"),
        ("model_name: 'a b'\nregistry_root: r\n", "model_name 'a b' must be"),
        ("[1, 2]\n", "must hold a mapping"),
        ("model_name: [\n", "is not valid YAML"),
    ],
)
def test_a_bad_parameter_file_is_named(project: Path, content: str, message: str) -> None:
    (project / "params.yaml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_parameters(project)


def test_a_folder_without_params_yaml_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a visionops project"):
        read_parameters(tmp_path)


COMMANDS_WITH_A_REGISTRY = [
    ["models", "list"],
    ["models", "show", "classifier"],
    ["models", "promote", "classifier:1", "--reason", "r"],
    ["models", "rollback", "classifier", "--reason", "r"],
    ["models", "events", "classifier"],
    ["models", "tfserving-config", "--mount", "/models"],
    ["lineage", "show", "classifier@production"],
    ["lineage", "trace", "abcdef12"],
    ["lineage", "verify", "--all"],
    ["reproduce", "classifier:1"],
    ["serve"],
]


@pytest.mark.parametrize("argv", COMMANDS_WITH_A_REGISTRY, ids=" ".join)
def test_every_command_finds_the_registry_the_pipeline_writes(
    project: Path, argv: list[str]
) -> None:
    _edit(project, registry_root="stores/models")
    args = build_parser().parse_args([*argv, "--project-dir", str(project)])
    resolve_registry(args)
    assert Path(args.registry) == project / "stores/models"
    explicit = build_parser().parse_args([*argv, "--registry", "/elsewhere"])
    resolve_registry(explicit)
    assert explicit.registry == "/elsewhere"


def test_the_scheduler_and_validate_read_the_same_values(project: Path) -> None:
    from visionops.scheduling.checks import registry_location
    from visionops.validation.command import reference_location, suite_paths

    _edit(project, model_name="pets", registry_root="stores/models")
    assert registry_location(project) == (project / "stores/models", "pets")
    catalog = load_config(project, "catalog")
    assert reference_location(catalog, project) == (
        project / "stores/models",
        "pets",
        project / "conf/base/reference/pets.json",
    )
    assert suite_paths(catalog, project)["images"] == project / "conf/base/expectations/images.json"
