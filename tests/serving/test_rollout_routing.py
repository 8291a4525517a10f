"""Rollout routing and guards, without a server: exact shares, fallbacks, guard verdicts,
and the settings file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from visionops.errors import ConfigError
from visionops.registry.rollout import CANARY, Rollout
from visionops.serving.batching import Predictor
from visionops.serving.errors import BadRequestError, ModelInputError
from visionops.serving.models import ModelState
from visionops.serving.rollout import (
    ACTIVE,
    ROLLED_BACK,
    LiveRollout,
    Rollouts,
    _Counter,
    predicted_classes,
)
from visionops.serving.rollout_settings import load_rollout_settings


def rollout(mode: str = CANARY, share: float = 0.1) -> Rollout:
    return Rollout("r1", "digits", 2, 1, mode, share, "2026-01-01T00:00:00+00:00", "me@here")


def canary_state(
    production, candidate, share: float, labels: dict[str, int] | None = None
) -> ModelState:
    """The model's state with both versions loaded, production labelled (and ``labels``),
    and a canary of ``share`` in progress."""
    return ModelState(
        "digits",
        loaded={1: production, 2: candidate},
        labels={"production": 1, **(labels or {})},
        rollout=rollout(CANARY, share),
    )


def write_settings(project: Path, text: str, where: str = "base") -> Path:
    path = project / "conf" / where / "release_rollout.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("share", [0.1, 0.05, 1 / 3, 0.999, 1.0, 0.0])
def test_the_kth_request_goes_to_the_candidate_when_floor_k_share_grows(share: float) -> None:
    counter = _Counter(share, "r1")
    taken = np.cumsum([counter.take() for _ in range(2000)])
    units = round(share * 1_000_000)
    assert taken.tolist() == [k * units // 1_000_000 for k in range(1, 2001)]


def batch_sizes(order: str) -> np.ndarray:
    """20,000 batch sizes between 1 and 32: independent, or alternating as a busy
    micro-batcher's do (the clients one batch answered send again together)."""
    rng = np.random.default_rng(7)
    if order == "independent":
        return rng.integers(1, 33, size=20_000)
    first = rng.integers(1, 32, size=10_000)
    return np.ravel(np.column_stack([first, 32 - first]))


@pytest.mark.parametrize("order", ["independent", "alternating"])
@pytest.mark.parametrize("share", [0.1, 0.01, 1 / 3])
def test_batches_drawn_are_a_fair_sample_within_four_batches_of_the_share(
    share: float, order: str
) -> None:
    sizes = batch_sizes(order)
    counter = _Counter(share, "r1")
    taken = np.array([counter.draw(int(size), slack=4 * 32) for size in sizes])
    # As large as the others: choosing by the count alone gave 0.83 to 0.86 of the
    # mean on alternating sizes, and nearest-the-share 0.17 at 1%.
    assert abs(sizes[taken].mean() / sizes.mean() - 1) < 0.1
    count = np.cumsum(sizes * taken)
    expected = np.cumsum(sizes) * round(share * 1_000_000) / 1_000_000
    assert np.max(np.abs(count - expected)) <= 4 * 32 + 32
    assert abs(count[-1] / np.sum(sizes) - share) < 0.001 + 160 / np.sum(sizes)


def test_the_same_rollout_draws_the_same_batches() -> None:
    first, second = _Counter(0.1, "r1"), _Counter(0.1, "r1")
    sizes = batch_sizes("independent")[:500]
    assert [first.draw(int(s), 128) for s in sizes] == [second.draw(int(s), 128) for s in sizes]


def test_defaults_apply_without_a_settings_file(tmp_path: Path) -> None:
    settings = load_rollout_settings(tmp_path)
    guards = {guard.name: (guard.limit, guard.min_requests) for guard in settings.guards}
    assert guards == {
        "error_rate": (0.02, 50),
        "p99_latency_ms": (500.0, 100),
        "disagreement": (0.2, 100),
    }
    assert (settings.compare_share, settings.max_pending, settings.log_comparisons) == (
        0.0,
        64,
        True,
    )


def test_the_projects_file_and_conf_local_are_laid_over_the_defaults(tmp_path: Path) -> None:
    write_settings(tmp_path, "guards:\n  error_rate: {max: 0.1}\n")
    write_settings(tmp_path, "guards:\n  error_rate: {min_requests: 5}\n", "local")
    (error_rate, *_) = load_rollout_settings(tmp_path).guards
    assert (error_rate.limit, error_rate.min_requests) == (0.1, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("guards:\n  error_rat: {max: 0.1}\n", r"unknown setting\(s\) guards.error_rat"),
        ("guards:\n  error_rate: {max: 2}\n", "guards.error_rate.max in .* must be at most 1"),
        ("guards:\n  disagreement: {min_requests: 0}\n", "guards.disagreement.min_requests"),
        ("canary: {compare_share: -1}\n", "canary.compare_share in .* at least 0"),
        ("comparison: {log: maybe}\n", "comparison.log in .* must be true or false"),
        ("- a list\n", "must be a mapping of settings"),
    ],
)
def test_a_bad_setting_names_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write_settings(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as raised:
        load_rollout_settings(tmp_path)
    assert str(path) in str(raised.value)


def live_rollout(tmp_path: Path, settings_text: str, mode: str = CANARY) -> LiveRollout:
    write_settings(tmp_path, settings_text)
    return LiveRollout(rollout(mode), load_rollout_settings(tmp_path))


def test_no_guard_is_judged_below_its_minimum(tmp_path: Path) -> None:
    live = live_rollout(tmp_path, "guards:\n  error_rate: {max: 0.1, min_requests: 10}\n")
    for _ in range(9):
        live.observe_call(False, 0.001)
    assert live.judge() is None, "9 failures of 9 calls are fewer than min_requests"
    live.observe_call(False, 0.001)
    guard, value, count = live.judge()
    assert (guard.name, value, count) == ("error_rate", 1.0, 10)


def test_p99_latency_and_disagreement_guards(tmp_path: Path) -> None:
    text = (
        "guards:\n  p99_latency_ms: {max: 50, min_requests: 20}\n"
        "  disagreement: {max: 0.3, min_requests: 4}\n"
    )
    live = live_rollout(tmp_path, text)
    for _ in range(20):
        live.observe_call(True, 0.010)
    assert live.judge() is None
    for _ in range(4):
        live.observe_comparison(images=2, disagreeing=1)
    guard, value, count = live.judge()
    assert (guard.name, value, count) == ("disagreement", 0.5, 4)
    slow = live_rollout(tmp_path, "guards:\n  p99_latency_ms: {max: 50, min_requests: 20}\n")
    for _ in range(20):
        slow.observe_call(True, 0.200)
    guard, value, count = slow.judge()
    assert (guard.name, round(value), count) == ("p99_latency_ms", 200, 20)


class Version:
    """The part of a loaded version that routing reads: its number."""

    def __init__(self, version: int) -> None:
        self.version = version


def test_a_failed_canary_request_is_answered_by_production(tmp_path: Path) -> None:
    """Half the requests go to the candidate, which fails every other one it gets: every
    request is answered, the failures by production, and the candidate is charged."""
    write_settings(tmp_path, "guards:\n  error_rate: {max: 0.9, min_requests: 1000}\n")
    rollouts = Rollouts(tmp_path, load_rollout_settings(tmp_path), None)
    production, candidate = Version(1), Version(2)
    state = canary_state(production, candidate, 0.5, {"candidate": 2})
    calls = {1: 0, 2: 0}

    async def run(target: Version) -> tuple:
        calls[target.version] += 1
        if target.version == 2 and calls[2] % 2 == 0:
            raise BadRequestError("the candidate rejected it")
        return None, {}, {"class_ids": np.array([target.version])}

    async def send(count: int) -> list[int]:
        answers = []
        for index in range(count):
            live = rollouts.live(state, None, None)
            answered, _ = await rollouts.answer(live, state, production, run, f"request-{index}")
            answers.append(answered.version)
        return answers

    answers = asyncio.run(send(100))

    live = rollouts.live(state, None, None)
    assert live.arms == {"production": 50, "candidate": 25, "fallback": 25}
    assert (live.calls, live.errors) == (50, 25)
    assert answers.count(2) == 25 and answers.count(1) == 75
    assert rollouts.live(state, 2, None) is None, "a request naming a version is not routed"
    assert rollouts.live(state, None, "candidate") is None
    assert live.state == ACTIVE


def test_a_request_production_fails_too_is_not_charged_to_the_candidate(tmp_path: Path) -> None:
    rollouts = Rollouts(tmp_path, load_rollout_settings(tmp_path), None)
    production = Version(1)
    state = canary_state(production, Version(2), 1.0)

    async def run(target: Version) -> tuple:
        raise BadRequestError("these bytes are no image")

    live = rollouts.live(state, None, None)
    with pytest.raises(BadRequestError, match="no image"):
        asyncio.run(rollouts.answer(live, state, production, run, "request"))
    assert (live.calls, live.errors) == (0, 0)


def test_routing_waits_for_the_candidate_and_stops_when_production_moves(tmp_path: Path) -> None:
    rollouts = Rollouts(tmp_path, load_rollout_settings(tmp_path), None)
    waiting = ModelState("digits", loaded={1: Version(1)}, labels={"production": 1})
    assert rollouts.live(waiting, None, None) is None
    waiting = ModelState(
        "digits", loaded={1: Version(1)}, labels={"production": 1}, rollout=rollout()
    )
    assert rollouts.live(waiting, None, None) is None, "the candidate has not loaded"
    moved = ModelState(
        "digits",
        loaded={1: Version(1), 2: Version(2)},
        labels={"production": 2},
        rollout=rollout(),
    )
    assert rollouts.live(moved, None, None) is None, "production moved: the rollout is over"
    metrics = "\n".join(rollouts.render_metrics({"digits": moved}))
    assert 'visionops_serving_rollout_state{model="digits",rollout="r1",candidate="2"' in metrics
    assert 'state="over"} 1' in metrics


def test_a_breach_stops_routing_at_once(tmp_path: Path) -> None:
    write_settings(tmp_path, "guards:\n  error_rate: {max: 0.1, min_requests: 3}\n")
    rollouts = Rollouts(tmp_path, load_rollout_settings(tmp_path), None)
    production = Version(1)
    state = canary_state(production, Version(2), 1.0)

    async def run(target: Version) -> tuple:
        if target.version == 2:
            raise BadRequestError("broken candidate")
        return None, {}, {"class_ids": np.array([1])}

    async def send() -> None:
        for index in range(3):
            live = rollouts.live(state, None, None)
            await rollouts.answer(live, state, production, run, str(index))
        await rollouts.close()

    asyncio.run(send())

    assert rollouts.live(state, None, None) is None
    live = rollouts._live["digits"]
    assert live.state == ROLLED_BACK
    assert live.breach[0].name == "error_rate"


def test_classes_come_from_class_ids_or_probabilities() -> None:
    assert predicted_classes({"class_ids": np.array([3, 1])}).tolist() == [3, 1]
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert predicted_classes({"probabilities": probabilities}).tolist() == [1, 0]
    assert predicted_classes({"logits": probabilities}) is None


class Scaler:
    """A loaded version for batch routing: multiplies its input by its version number;
    refuses negative numbers, and the candidate (2) refuses numbers above 1000 too."""

    model_name = "digits"

    def __init__(self, version: int) -> None:
        self.version = version
        self.batches: list[int] = []

    def predict(self, signature_name: str, inputs: dict) -> dict:
        values = inputs["x"]
        self.batches.append(len(values))
        if (values < 0).any() or (self.version == 2 and (values > 1000).any()):
            raise ModelInputError(f"version {self.version} refuses {values.tolist()}")
        return {"y": values * self.version}


def test_a_batched_canary_sends_whole_batches_to_one_arm(tmp_path: Path) -> None:
    """Requests queued together run as one call, on one version, and the candidate's
    share is kept by the batch. In a batch the candidate refuses, a request only it
    refuses is answered by production and charged; one both refuse fails alone and
    charges nobody."""
    write_settings(tmp_path, "guards:\n  error_rate: {max: 0.9, min_requests: 1000}\n")
    rollouts = Rollouts(tmp_path, load_rollout_settings(tmp_path), None)
    production, candidate = Scaler(1), Scaler(2)
    state = canary_state(production, candidate, 0.25)
    live = rollouts.live(state, None, None)
    predictor = Predictor(8, 0.05, lambda *_: None)
    values = [float(value) for value in range(1, 161)]
    # The rollout's seeded draws give the candidate waves 4, 7, 10 and 19 of 8 requests
    # (32 of 160, within four batches of 0.25's 40); two of wave 4's are refused.
    values[33], values[34] = 1500.0, -1.0

    def router():
        return rollouts.batch_router(
            live, production, candidate, lambda v, batch: predictor.run_batch(v, "s", batch), 8
        )

    async def one(value: float):
        inputs = {"x": np.array([value])}
        try:
            return await predictor.predict_routed(
                ("digits", "s"), (production, candidate, live), router, inputs, 1
            )
        except ModelInputError as error:
            return error

    async def waves() -> list:
        answers = []
        for start in range(0, len(values), 8):  # eight clients sending together
            answers += await asyncio.gather(*(one(value) for value in values[start : start + 8]))
        return answers

    answers = asyncio.run(waves())
    predictor.close()

    assert isinstance(answers[34], ModelInputError), "the request both refuse gets its error"
    answers[34] = (production, {"y": np.array([-1.0])})  # for the checks below
    got = [(version.version, outputs["y"][0]) for version, outputs in answers]
    assert all(y == x * v for (v, y), x in zip(got, values, strict=True))
    assert got[33][0] == 1, "production answered what only the candidate refused"
    by_candidate = [index for index, (v, _) in enumerate(got) if v == 2]
    assert len(by_candidate) == 4 * 8 - 2
    assert {index // 8 for index in by_candidate} == {4, 7, 10, 19}, "whole waves"
    assert candidate.batches == [8] + [1] * 8 + [8] * 3, "one batch retried one by one"
    assert production.batches == [8] * 4 + [2, 1, 1] + [8] * 12, "the fallback, then alone"
    assert live.arms == {"production": 128, "candidate": 30, "fallback": 1}
    assert (live.calls, live.errors) == (31, 1)


def test_a_new_rollout_gets_a_new_queue_in_the_old_ones_place() -> None:
    predictor = Predictor(8, 0.05, lambda *_: None)
    production, candidate = Scaler(1), Scaler(2)
    routed_by = []

    def router_for(name: str):
        async def answer(batch):
            routed_by.append(name)
            return [(production, {"y": item.inputs["x"]}) for item in batch]

        return lambda: answer

    async def send(rollout_tag: str) -> None:
        bound = (production, candidate, rollout_tag)
        await predictor.predict_routed(
            ("digits", "s"), bound, router_for(rollout_tag), {"x": np.array([1.0])}, 1
        )

    async def both() -> None:
        await send("first rollout")
        await send("second rollout")

    asyncio.run(both())
    predictor.close()

    assert routed_by == ["first rollout", "second rollout"]
    assert [key for key in predictor._batchers if key[0] == "routed"] == [("routed", "digits", "s")]
