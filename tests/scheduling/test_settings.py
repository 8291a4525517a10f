"""conf/base/scheduling.yml, conf/local over it, flags over both; the cron forms."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from visionops.errors import ConfigError
from visionops.scheduling.cron import cron_trigger, crontab_weekdays
from visionops.scheduling.settings import load_settings

from .conftest import ROOT


def test_project_settings_file_loads_with_its_defaults() -> None:
    settings = load_settings(ROOT)
    assert settings.cron == "0 3 * * *"
    assert settings.retrain_on_schedule is False
    assert settings.triggers == {
        "new_data": True,
        "drift": True,
        "model_age": True,
        "live_drift": True,
        "live_accuracy": True,
    }
    assert settings.live_window == "1d" and settings.feedback_export is None
    assert settings.max_model_age_days == 30
    assert settings.drift_max_distance is None
    assert settings.log == ROOT / "data/08_reporting/schedule.jsonl"


def test_local_file_and_flags_override(conf_project: Path) -> None:
    (conf_project / "conf/local/scheduling.yml").write_text(
        "triggers: {drift: false}\nmax_model_age_days: 7\n"
    )
    settings = load_settings(conf_project, cron="*/5 * * * * *", log="logs/s.jsonl")
    assert settings.triggers == {
        "new_data": True,
        "drift": False,
        "model_age": True,
        "live_drift": True,
        "live_accuracy": True,
    }
    assert settings.max_model_age_days == 7
    assert settings.cron == "*/5 * * * * *"
    assert settings.log == conf_project / "logs/s.jsonl"
    assert load_settings(conf_project, cron=None).cron == "0 3 * * *"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("crons: '* * * * *'\n", "unknown setting(s) crons"),
        ("triggers: {new_data: yes please}\n", "triggers.new_data"),
        ("triggers: {age: true}\n", "unknown trigger(s) age"),
        ("max_model_age_days: -1\n", "max_model_age_days"),
        ("drift_max_distance: 2\n", "drift_max_distance"),
        ("retrain_on_schedule: sometimes\n", "retrain_on_schedule"),
    ],
)
def test_bad_settings_name_the_setting_and_the_file(
    conf_project: Path, text: str, message: str
) -> None:
    (conf_project / "conf/base/scheduling.yml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        load_settings(conf_project)
    assert "scheduling.yml" in str(error.value)


def test_a_folder_without_conf_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a visionops project"):
        load_settings(tmp_path)


def test_crontab_weekday_numbers_mean_what_crontab_means() -> None:
    assert crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_weekdays("0,6") == "sun,sat"
    assert crontab_weekdays("7") == "sun"
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    assert crontab_weekdays("mon-fri") == "mon-fri"
    utc = ZoneInfo("UTC")
    monday = cron_trigger("0 3 * * 1", "UTC").get_next_fire_time(
        None, datetime(2025, 1, 1, tzinfo=utc)
    )
    assert monday == datetime(2025, 1, 6, 3, 0, tzinfo=utc)  # a Monday, as crontab means


def test_six_fields_add_seconds() -> None:
    trigger = cron_trigger("*/2 * * * * *", "UTC")
    start = datetime(2025, 1, 1, 0, 0, 1, tzinfo=ZoneInfo("UTC"))
    assert trigger.get_next_fire_time(None, start).second == 2


@pytest.mark.parametrize("expression", ["* * *", "61 * * * *", "* * * * * * *"])
def test_bad_cron_says_how_to_write_one(expression: str) -> None:
    with pytest.raises(ConfigError, match="cron"):
        cron_trigger(expression)
