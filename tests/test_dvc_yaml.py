"""dvc.yaml stays in sync with the Kedro pipelines, params.yaml and the catalog."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro.framework.project import configure_project, pipelines

from visionops.pipeline_registry import STAGES

ROOT = Path(__file__).parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
CATALOG = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
# What a run measures of the machine (timings, latency): written beside the outputs but
# not DVC outputs, so every output is byte-identical for the same inputs.
MEASUREMENTS = {"training_performance", "evaluation_performance"}
# Stores outside the DVC graph: the registry (a database-like store that evaluation and
# validation read and deployment writes) and the drift reference kept in it.
WRITTEN_WHILE_RUNNING = {"visionops.datasets.LiveLogDataset"}
# Checkpoints must survive DVC removing a failed stage's outputs, so they are not outs.
OUTSIDE_DVC = {
    "visionops.datasets.CheckpointDataset",
    "visionops.datasets.ProductionModelDataset",
    "visionops.datasets.RunContextDataset",
    "visionops.datasets.LineageSourcesDataset",
    "visionops.datasets.ModelRegistryDataset",
    "visionops.datasets.ReferenceProfileDataset",
}


def _paths(entries: list[Any]) -> set[str]:
    return {next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries}


def _leaf_keys(value: Any, prefix: str) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_leaf_keys(v, f"{prefix}.{k}") for k, v in value.items()))
    return {prefix}


def _catalog_file(name: str) -> str | None:
    entry = CATALOG.get(name)
    if not entry or entry["type"] in OUTSIDE_DVC or name in MEASUREMENTS:
        return None
    return entry.get("filepath") or entry.get("path")


@pytest.fixture(scope="module", autouse=True)
def _project() -> None:
    configure_project("visionops")


def test_one_stage_per_pipeline_in_order() -> None:
    assert tuple(DVC["stages"]) == STAGES
    assert set(STAGES) | {"__default__"} == set(pipelines)
    for name, stage in DVC["stages"].items():
        assert stage["cmd"] == f"kedro run --pipelines {name}"


def _parameter_keys(group: str) -> set[str]:
    """Leaf keys under ``group`` (``name`` or ``name.sub.key``) of params.yaml."""
    value = PARAMS
    for key in group.split("."):
        value = value[key]
    return _leaf_keys(value, group)


@pytest.mark.parametrize("name", STAGES)
def test_params_are_exactly_the_keys_the_pipeline_reads(name: str) -> None:
    """The stage's own parameter group, and any group of another it takes as input, as
    keys of params.yaml (DVC's default parameter file, which `dvc exp run -S` edits)."""
    declared = DVC["stages"][name]["params"]
    assert all(isinstance(key, str) for key in declared), "params come from params.yaml"
    groups = {
        dataset.removeprefix("params:")
        for dataset in pipelines[name].inputs()
        if dataset.startswith("params:")
    }
    assert name in groups
    # Catalog entries read parameters too, as ${globals:model_name} and the like.
    for dataset in pipelines[name].datasets():
        entry = str(CATALOG.get(dataset, ""))
        groups |= {key for key in PARAMS if f"${{globals:{key}}}" in entry}
    read = set().union(*(_parameter_keys(group) for group in groups))
    assert set(declared) == read


def test_no_parameters_outside_params_yaml() -> None:
    """conf/ holds no parameter or globals file that DVC would not see."""
    conf = ROOT / "conf"
    stray = [p for p in conf.rglob("*") if p.name.startswith(("parameters", "globals"))]
    assert stray == []


def test_measurements_are_no_outputs_and_are_ignored_by_git() -> None:
    """Timings differ from run to run: outside dvc.lock, outside git."""
    import subprocess

    declared = set()
    for stage in DVC["stages"].values():
        declared |= _paths(stage.get("outs", [])) | _paths(stage.get("metrics", []))
    for name in MEASUREMENTS:
        path = CATALOG[name]["filepath"]
        assert path not in declared
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} is not git-ignored"


def test_every_output_is_cached_so_experiments_keep_it() -> None:
    """`dvc exp show` reads a revision's metrics from the cache, and `dvc exp apply`
    restores its outputs from it: only the persistent live log is not cached."""
    for name, stage in DVC["stages"].items():
        for entry in stage.get("outs", []) + stage.get("metrics", []):
            if isinstance(entry, dict):
                (path, options) = next(iter(entry.items()))
                assert options.get("cache", True) or options.get("persist"), (name, path)


@pytest.mark.parametrize("name", STAGES)
def test_outs_are_the_catalog_files_the_pipeline_writes(name: str) -> None:
    stage = DVC["stages"][name]
    declared = _paths(stage.get("outs", [])) | _paths(stage.get("metrics", []))
    written = {_catalog_file(output) for output in pipelines[name].all_outputs()} - {None}
    # Handles a node writes through while it runs (the live training log).
    written |= {
        CATALOG[dataset]["path"]
        for dataset in pipelines[name].inputs()
        if CATALOG.get(dataset, {}).get("type") in WRITTEN_WHILE_RUNNING
    }
    assert declared == written


@pytest.mark.parametrize("name", STAGES)
def test_deps_hold_the_pipeline_source_and_every_input_file(name: str) -> None:
    deps = set(DVC["stages"][name]["deps"])
    assert f"src/visionops/pipelines/{name}" in deps
    read = {
        _catalog_file(dataset)
        for dataset in pipelines[name].inputs()
        if CATALOG.get(dataset, {}).get("type") not in WRITTEN_WHILE_RUNNING
    } - {None}
    assert read <= deps, f"{name} reads {read - deps} without declaring them"
    produced = set()
    for stage in DVC["stages"].values():
        produced |= _paths(stage.get("outs", [])) | _paths(stage.get("metrics", []))
    for dep in deps - produced - {"${ingestion.path}"}:
        assert (ROOT / dep).exists(), f"{name} depends on missing source or config {dep}"


def test_plots_and_metrics_point_at_declared_outputs() -> None:
    declared = set()
    for stage in DVC["stages"].values():
        declared |= _paths(stage.get("outs", [])) | _paths(stage.get("metrics", []))
    for plot in DVC["plots"]:
        if isinstance(plot, str):
            assert plot in declared
        else:
            (definition,) = plot.values()
            assert set(definition["y"]) <= declared


# Sends the OpenLineage events of a run (conf/base/openlineage.yml), written beside the
# outputs and never one of them: a change to it changes no output, so no stage depends on it.
EVENTS_ONLY = "visionops.lineage.openlineage"


def _module_file(name: str) -> Path | None:
    base = ROOT / "src" / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_files(start: list[Path]) -> set[Path]:
    """Every visionops module file that ``start`` imports, directly or not (imports
    inside functions included: they run when the stage does)."""
    import ast

    seen: set[Path] = set()
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            for name in names:
                if name.startswith("visionops") and not name.startswith(EVENTS_ONLY):
                    parts = name.split(".")
                    for depth in range(1, len(parts) + 1):
                        found = _module_file(".".join(parts[:depth]))
                        if found is not None and found not in seen:
                            todo.append(found)
    return seen


@pytest.mark.parametrize("name", STAGES)
def test_deps_cover_every_module_the_stage_runs(name: str) -> None:
    """A change to any code a stage runs (its nodes, what they import, the datasets its
    catalog entries use) reruns the stage: else `dvc repro` would keep stale outputs."""
    start = sorted((ROOT / "src/visionops/pipelines" / name).glob("*.py"))
    used = pipelines[name].inputs() | pipelines[name].all_outputs()
    for dataset in used:
        kind = CATALOG.get(dataset, {}).get("type", "")
        if kind.startswith("visionops.datasets."):
            module = import_module("visionops.datasets")._MODULES[kind.rsplit(".", 1)[1]]
            start.append(_module_file(module))
    if name == "ingestion":
        start.append(ROOT / "src/visionops/hooks.py")  # builds source_images
    deps = [dep for dep in DVC["stages"][name]["deps"] if dep.startswith("src/")]
    missing = {
        path.relative_to(ROOT).as_posix()
        for path in _imported_files(start)
        if not any(
            path.relative_to(ROOT).as_posix() == dep
            or path.relative_to(ROOT).as_posix().startswith(f"{dep}/")
            for dep in deps
        )
    }
    # Docstring-only package markers, and what changes no output (errors' classes).
    missing -= {
        "src/visionops/__init__.py",
        "src/visionops/pipelines/__init__.py",
        "src/visionops/errors.py",
    }
    assert not missing, f"{name} runs {sorted(missing)} without depending on them"
