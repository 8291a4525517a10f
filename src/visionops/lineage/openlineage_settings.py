"""OpenLineage's settings: ``conf/base/openlineage.yml``, then conf/local.

Read through :func:`visionops.config.read_settings_file`: conf/local/openlineage.yml,
when present, is laid over conf/base/openlineage.yml key by key. A project without the
file gets :data:`DEFAULTS`. Every value is checked once, here, with a message naming
the key and the file that set it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from visionops.config import merged, read_settings_file
from visionops.errors import ConfigError

SETTINGS_FILE = "openlineage.yml"
TRANSPORTS = ("file", "http")
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "namespace": "visionops",
    "dataset_namespace": "visionops",
    "transport": {
        "type": "file",
        "file": {"folder": "data/08_reporting/openlineage"},
        "http": {
            "url": "http://localhost:5000",
            "endpoint": "api/v1/lineage",
            "timeout_s": 5,
            "retries": 2,
            "api_key_env": "OPENLINEAGE_API_KEY",
        },
    },
}


@dataclass(frozen=True)
class HttpSettings:
    """Where the HTTP transport sends events.

    Attributes:
        url: The server's base URL, e.g. Marquez's ``http://localhost:5000``.
        endpoint: The path events are POSTed to, under ``url``.
        timeout_s: Seconds one request may take.
        retries: Retries after a refused connection or a 5xx answer.
        api_key: The API key sent as a Bearer token, if any.
    """

    url: str
    endpoint: str
    timeout_s: float
    retries: int
    api_key: str | None


@dataclass(frozen=True)
class OpenLineageSettings:
    """Everything conf/base/openlineage.yml sets, resolved against one project.

    Attributes:
        enabled: Whether stage runs send events at all.
        namespace: The jobs' namespace.
        dataset_namespace: The datasets' namespace.
        transport: ``file`` or ``http``.
        folder: The file transport's folder, absolute.
        http: The HTTP transport's settings.
    """

    enabled: bool
    namespace: str
    dataset_namespace: str
    transport: str
    folder: Path
    http: HttpSettings


class _Checker:
    """Reads dotted keys of the merged settings; a bad value names the file that set it."""

    def __init__(self, values: dict[str, Any], base: Path, local: Path, overlay: dict) -> None:
        self.values, self.base, self.local, self.overlay = values, base, local, overlay

    def _where(self, dotted: str) -> Path:
        value: Any = self.overlay
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                return self.base
            value = value[part]
        return self.local

    def get(self, dotted: str) -> Any:
        value: Any = self.values
        for part in dotted.split("."):
            value = value[part]
        return value

    def fail(self, dotted: str, expected: str) -> ConfigError:
        return ConfigError(
            f"{dotted} in {self._where(dotted)} must be {expected}; got {self.get(dotted)!r}"
        )

    def text(self, dotted: str, expected: str = "a non-empty string") -> str:
        value = self.get(dotted)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(dotted, expected)
        return value.strip()

    def flag(self, dotted: str) -> bool:
        value = self.get(dotted)
        if not isinstance(value, bool):
            raise self.fail(dotted, "true or false")
        return value

    def number(self, dotted: str, low: float, whole: bool = False) -> float:
        value = self.get(dotted)
        kinds = int if whole else int | float
        if isinstance(value, bool) or not isinstance(value, kinds) or value < low:
            raise self.fail(dotted, f"a {'whole ' if whole else ''}number of at least {low:g}")
        return value


def load_openlineage_settings(project_dir: Path) -> OpenLineageSettings:
    """Reads the project's OpenLineage settings (the defaults where it has none).

    Raises:
        ConfigError: A setting is unknown or invalid; the message names it and its file.
    """
    project_dir = Path(project_dir)
    base = project_dir / "conf" / "base" / SETTINGS_FILE
    local = project_dir / "conf" / "local" / SETTINGS_FILE
    overlay = read_settings_file(local, DEFAULTS)
    values = merged(merged(DEFAULTS, read_settings_file(base, DEFAULTS)), overlay)
    check = _Checker(values, base, local, overlay)
    transport = check.text("transport.type", f"one of {', '.join(TRANSPORTS)}")
    if transport not in TRANSPORTS:
        raise check.fail("transport.type", f"one of {', '.join(TRANSPORTS)}")
    url = check.text("transport.http.url", "an http(s) URL such as http://localhost:5000")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise check.fail("transport.http.url", "an http(s) URL such as http://localhost:5000")
    key_variable = values["transport"]["http"]["api_key_env"]
    if key_variable is not None:
        key_variable = check.text("transport.http.api_key_env", "an environment variable name")
    http = HttpSettings(
        url=url,
        endpoint=check.text("transport.http.endpoint", "a URL path such as api/v1/lineage"),
        timeout_s=float(check.number("transport.http.timeout_s", 0.001)),
        retries=int(check.number("transport.http.retries", 0, whole=True)),
        api_key=os.environ.get(key_variable) or None if key_variable else None,
    )
    return OpenLineageSettings(
        enabled=check.flag("enabled"),
        namespace=check.text("namespace"),
        dataset_namespace=check.text("dataset_namespace"),
        transport=transport,
        folder=project_dir / check.text("transport.file.folder", "a folder path"),
        http=http,
    )
