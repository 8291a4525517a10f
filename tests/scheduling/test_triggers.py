"""Each trigger's decision, and the tick's, from observations given directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from visionops.scheduling import triggers
from visionops.scheduling.triggers import RETRAIN, SKIP

NOW = datetime(2025, 3, 2, 3, 0, tzinfo=UTC)


def _fingerprint(digest: str, files: int) -> dict:
    return {"digest": digest, "files": files, "bytes": files * 100, "location": "data/01_raw/x"}


def test_schedule_retrains_only_when_retrain_on_schedule_is_set() -> None:
    assert triggers.schedule_check(True, "0 3 * * *").decision == RETRAIN
    check = triggers.schedule_check(False, "0 3 * * *")
    assert check.decision == SKIP
    assert "retrain_on_schedule is false" in check.reason


def test_same_hash_skips_and_says_there_is_no_new_data() -> None:
    check = triggers.new_data_check(_fingerprint("a", 120), _fingerprint("a", 120))
    assert check.decision == SKIP
    assert check.reason.startswith("no new data")


def test_changed_hash_retrains_and_counts_the_added_files() -> None:
    check = triggers.new_data_check(_fingerprint("b", 150), _fingerprint("a", 120))
    assert check.decision == RETRAIN
    assert "+30 file(s), now 150" in check.reason
    assert check.details["last"]["digest"] == "a"


def test_edited_file_retrains_even_with_the_same_count() -> None:
    check = triggers.new_data_check(_fingerprint("b", 120), _fingerprint("a", 120))
    assert check.decision == RETRAIN
    assert "the same number of files" in check.reason


def test_no_recorded_hash_retrains_once_to_record_one() -> None:
    check = triggers.new_data_check(_fingerprint("a", 120), None)
    assert check.decision == RETRAIN
    assert "no data hash recorded yet" in check.reason


def _drift_report(status: str, reference: str | None = "registry:classifier/3") -> dict:
    check = {"check": "class_distribution", "distance": 0.25, "max_distance": 0.1}
    return {"reference": reference, "note": "", "checks": [check | {"status": status}]}


def test_drift_past_a_threshold_retrains_naming_the_check() -> None:
    check = triggers.drift_check(_drift_report("fail"))
    assert check.decision == RETRAIN
    assert "class_distribution 0.250 > 0.1" in check.reason
    assert "registry:classifier/3" in check.reason
    assert triggers.drift_check(_drift_report("warn")).decision == RETRAIN


def test_drift_within_thresholds_or_without_reference_skips() -> None:
    assert triggers.drift_check(_drift_report("ok")).decision == SKIP
    note = "drift not checked: no production model and no pinned reference yet"
    check = triggers.drift_check({"reference": None, "note": note, "checks": []})
    assert check.decision == SKIP
    assert check.reason == note


def test_old_production_model_retrains_young_one_skips() -> None:
    old = triggers.model_age_check("classifier", 3, NOW - timedelta(days=31), NOW, 30)
    assert old.decision == RETRAIN
    assert "classifier:3 is 31.0 days old, past max_model_age_days 30" in old.reason
    young = triggers.model_age_check("classifier", 3, NOW - timedelta(days=2), NOW, 30)
    assert young.decision == SKIP
    assert young.details["age_days"] == 2.0


def test_no_production_model_retrains() -> None:
    check = triggers.model_age_check("classifier", None, None, NOW, 30)
    assert check.decision == RETRAIN
    assert "no version of classifier is labelled production" in check.reason


def test_tick_decision_names_every_trigger_that_fired() -> None:
    checks = [
        triggers.schedule_check(False, "* * * * *"),
        triggers.new_data_check(_fingerprint("b", 150), _fingerprint("a", 120)),
        triggers.model_age_check("classifier", None, None, NOW, 30),
    ]
    decision = triggers.summarize(checks)
    assert decision.decision == RETRAIN
    assert decision.trigger == "new_data+model_age"
    assert decision.details["triggers"] == ["new_data", "model_age"]
    quiet = triggers.summarize([triggers.schedule_check(False, "* * * * *")])
    assert (quiet.decision, quiet.reason) == (SKIP, "no trigger fired")


def test_disabled_and_failed_checks_never_fire() -> None:
    assert triggers.disabled("drift").decision == SKIP
    failed = triggers.failed("drift", FileNotFoundError("data/01_raw/x does not exist"))
    assert failed.decision == SKIP
    assert "could not check drift: data/01_raw/x does not exist" in failed.reason
