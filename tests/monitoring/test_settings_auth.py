"""conf/base/monitoring.yml and the write tokens: defaults, overrides, and clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from visionops.errors import ConfigError
from visionops.monitoring.auth import DISABLED, MISSING, WRONG, AuthError, load_write_tokens
from visionops.monitoring.settings import load_monitoring_settings, parse_since

TOKEN = "a-token-of-enough-length"


def test_the_committed_settings_load_with_their_documented_values(project: Path) -> None:
    settings = load_monitoring_settings(project)
    assert settings.log.folder == project / "data" / "09_production"
    assert settings.log.sample_rate == 1.0 and settings.log.capture_images
    assert settings.retention_days == 30
    assert settings.thresholds.min_labels == 20


def test_conf_local_overrides_one_key_and_keeps_the_rest(project: Path) -> None:
    (project / "conf" / "local" / "monitoring.yml").write_text(
        "prediction_log: {sample_rate: 0.25}\nmonitor: {accuracy: {min_labels: 5}}\n"
    )
    settings = load_monitoring_settings(project)
    assert settings.log.sample_rate == 0.25 and settings.log.capture_images
    assert settings.thresholds.min_labels == 5 and settings.thresholds.min_accuracy == 0.9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prediction_log: {sample_rate: 2}", "prediction_log.sample_rate in "),
        ("prediction_log: {sampling: 1}", "unknown setting(s) prediction_log.sampling"),
        ("monitor: {since: yesterday}", "--since 'yesterday' is neither"),
        ("retention: 30", "retention in "),
    ],
)
def test_a_bad_setting_is_refused_naming_key_and_file(
    project: Path, text: str, message: str
) -> None:
    (project / "conf" / "base" / "monitoring.yml").write_text(text)
    with pytest.raises(ConfigError, match="monitoring.yml|since") as caught:
        load_monitoring_settings(project)
    assert message in str(caught.value)


def test_since_takes_durations_and_iso_times() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert parse_since("5m", now) == now - timedelta(minutes=5)
    assert parse_since("1h30m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2026-12-01T10:00", now) == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_tokens_come_from_the_environment_and_conf_local(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VISIONOPS_WRITE_TOKEN", raising=False)
    assert not load_write_tokens(project).enabled
    (project / "conf" / "local" / "credentials.yml").write_text(
        f"visionops_write_tokens:\n  labelling-team: {TOKEN}\n"
    )
    monkeypatch.setenv("VISIONOPS_WRITE_TOKEN", "another-token-long-enough")
    tokens = load_write_tokens(project)
    assert tokens.sender(f"Bearer {TOKEN}") == "labelling-team"
    assert tokens.sender("bearer another-token-long-enough") == "VISIONOPS_WRITE_TOKEN"


@pytest.mark.parametrize(
    ("header", "reason"), [(None, MISSING), ("Basic abc", MISSING), (f"Bearer {TOKEN}x", WRONG)]
)
def test_a_missing_or_wrong_token_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch, header: str | None, reason: str
) -> None:
    monkeypatch.setenv("VISIONOPS_WRITE_TOKEN", TOKEN)
    with pytest.raises(AuthError) as caught:
        load_write_tokens(project).sender(header)
    assert caught.value.reason == reason


def test_with_no_token_writing_is_off_and_says_how_to_turn_it_on(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VISIONOPS_WRITE_TOKEN", raising=False)
    with pytest.raises(AuthError, match="writing is off.*VISIONOPS_WRITE_TOKEN") as caught:
        load_write_tokens(project).sender(f"Bearer {TOKEN}")
    assert caught.value.reason == DISABLED


def test_short_tokens_and_committed_credentials_are_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISIONOPS_WRITE_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_write_tokens(project)
    monkeypatch.delenv("VISIONOPS_WRITE_TOKEN")
    (project / "conf" / "base" / "credentials.yml").write_text("visionops_write_tokens: {}\n")
    with pytest.raises(ConfigError, match="would commit credentials; move it to conf/local"):
        load_write_tokens(project)


def test_conf_local_credentials_are_ignored_by_git() -> None:
    import subprocess

    root = Path(__file__).parents[2]
    ignored = subprocess.run(
        ["git", "check-ignore", "conf/local/credentials.yml"], cwd=root, check=False
    )
    assert ignored.returncode == 0
