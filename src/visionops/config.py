"""The project's configuration: one file of parameters, one entry point that reads it.

``params.yaml`` at the project root holds every parameter, as DVC projects keep them:
users edit it, ``dvc exp run -S training.epochs=3`` edits it for an experiment, and
``dvc.yaml`` tracks its keys, so whatever runs is what DVC sees. ``conf/`` holds what
is not a parameter: the catalog, the expectation suites, credentials. Two of the
parameters also name places the catalog uses, ``model_name`` and ``registry_root``;
they reach the catalog as ``${globals:...}``, taken from the same parameters.

Every command reads through this module: ``kedro run`` (through
:class:`ProjectConfigLoader`, set in settings.py), ``dvc repro`` (whose stages are
``kedro run``), and ``visionops validate``, ``schedule``, ``models``, ``lineage`` and
``serve``. A parameter file or ``globals.yml`` anywhere under ``conf/`` is refused
with the fix: DVC would not see it, so an edit there could be silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from visionops.errors import ConfigError

PARAMS_FILE = "params.yaml"
# Top-level parameters that the catalog uses too, as ${globals:<name>}.
GLOBAL_PARAMETERS = ("model_name", "registry_root")
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_STRAY_PATTERNS = ("parameters*", "**/parameters*", "globals.yml", "**/globals.yml")


def merged(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` laid over ``base``: mappings merge key by key, other values replace."""
    result = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def read_settings_file(
    path: Path, known: Mapping[str, Any], *, nested: bool = True
) -> dict[str, Any]:
    """The settings in the YAML file ``path`` (e.g. conf/base/monitoring.yml); ``{}``
    when it is missing or empty.

    Args:
        path: The file.
        known: The settings it may set, with their defaults; where a default is a
            mapping, the file's value must be a mapping too.
        nested: Whether the keys inside such mappings are checked against the
            default's keys as well (False leaves them to the caller).

    Raises:
        ConfigError: The file is not YAML, not a mapping, or sets a setting ``known``
            does not have; the message names the setting and the file.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path} cannot be read as YAML: {error}") from error
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path} must be a mapping of settings; got {type(content).__name__}")
    _check_keys(content, known, path, "", nested)
    return content


def read_layered_settings(
    project_dir: Path, name: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """``defaults``, with conf/base/``name`` laid over them and conf/local/``name`` over
    that, key by key (:func:`read_settings_file` checks each file's keys).

    Raises:
        ConfigError: A file is not YAML, not a mapping, or sets an unknown setting.
    """
    conf = Path(project_dir) / "conf"
    values = merged(dict(defaults), read_settings_file(conf / "base" / name, defaults))
    return merged(values, read_settings_file(conf / "local" / name, defaults))


def _check_keys(
    values: dict[str, Any], known: Mapping[str, Any], path: Path, prefix: str, nested: bool
) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{path} has unknown setting(s) {', '.join(prefix + str(key) for key in unknown)}; "
            f"known under {prefix or 'the top level'}: {', '.join(known)}"
        )
    if not nested:
        return
    for key, value in values.items():
        if isinstance(known[key], Mapping):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{key} in {path} must be a mapping")
            _check_keys(value, known[key], path, f"{prefix}{key}.", nested)


def _refuse_stray_files(project_dir: Path) -> None:
    conf = project_dir / "conf"
    for pattern in _STRAY_PATTERNS:
        for path in sorted(conf.glob(pattern)) if conf.is_dir() else ():
            if path.is_file():
                raise ConfigError(
                    f"{path.relative_to(project_dir)} sets parameters, but parameters live in "
                    f"{PARAMS_FILE} only (DVC tracks that file, so a value set elsewhere could be "
                    f"silently ignored); move its values into {PARAMS_FILE} and delete it"
                )


def _check(parameters: dict[str, Any], where: str) -> dict[str, Any]:
    for key in GLOBAL_PARAMETERS:
        value = parameters.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {key!r} must be set to a non-empty string")
    if not MODEL_NAME_PATTERN.fullmatch(parameters["model_name"]):
        raise ConfigError(
            f"{where}: model_name {parameters['model_name']!r} must be 1-64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit (it names a registry folder "
            "and a URL path)"
        )
    return parameters


def read_parameters(project_dir: Path, runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parameters a run of the project uses: ``params.yaml``, with ``runtime`` (the
    values of ``kedro run --params``) laid over it.

    Raises:
        ConfigError: ``params.yaml`` is missing or malformed, a required value is
            missing, or parameters are set in a file under ``conf/`` that DVC cannot see.
    """
    project_dir = Path(project_dir)
    path = project_dir / PARAMS_FILE
    if not path.is_file():
        raise ConfigError(
            f"{project_dir} is not a visionops project (no {PARAMS_FILE}); run the command "
            "from the project folder or pass --project-dir"
        )
    _refuse_stray_files(project_dir)
    try:
        parameters = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(parameters, dict):
        raise ConfigError(f"{path} must hold a mapping of parameters")
    if runtime:
        parameters = merged(parameters, _nested(runtime))
    return _check(parameters, str(path))


def _nested(values: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` as ``{"a": {"b": 1}}``; nested mappings are kept as they are."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        nested = _nested(value) if isinstance(value, dict) else value
        head, *rest = str(key).split(".")
        for part in reversed(rest):
            nested = {part: nested}
        result = merged(result, {head: nested})
    return result


def global_values(parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters the catalog reads as ``${globals:...}``."""
    return {key: parameters[key] for key in GLOBAL_PARAMETERS}


def registry_root(project_dir: Path, parameters: dict[str, Any] | None = None) -> Path:
    """The registry's root folder: ``registry_root``, relative to the project folder."""
    project_dir = Path(project_dir)
    parameters = parameters if parameters is not None else read_parameters(project_dir)
    return project_dir / parameters["registry_root"]


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's config loader, with parameters (and globals) from ``params.yaml``.

    ``kedro run --params`` values are laid over ``params.yaml``; the catalog's
    ``${globals:model_name}`` and ``${globals:registry_root}`` follow both.
    """

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key not in ("parameters", "globals"):
            return super().__getitem__(key)
        runtime = dict(self.runtime_params or {})
        parameters = read_parameters(Path(self.conf_source).parent, runtime)
        return parameters if key == "parameters" else global_values(parameters)


def load_config(
    project_dir: Path, kind: str, runtime: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The project's ``parameters``, ``globals`` or ``catalog`` (with ``${globals:...}``
    resolved), as ``kedro run`` sees them, ``runtime`` standing for ``--params``.

    Raises:
        ConfigError: The project's configuration is missing or malformed.
    """
    project_dir = Path(project_dir)
    if kind == "parameters":
        return read_parameters(project_dir, runtime)
    conf = project_dir / "conf"
    if not (conf / "base").is_dir():
        raise ConfigError(
            f"{project_dir} is not a visionops project (no conf/base); run the command "
            "from the project folder or pass --project-dir"
        )
    loader = ProjectConfigLoader(
        conf_source=str(conf), base_env="base", default_run_env="local", runtime_params=runtime
    )
    return OmegaConf.to_container(OmegaConf.create(loader[kind]), resolve=True)
