"""Routing a model's production requests through its rollout, and guarding the candidate.

A rollout (:mod:`visionops.registry.rollout`) reaches the server with the model's state
(the watcher reads its state file as it reads labels). It applies to the requests that
production answers: those naming no version, and those naming the ``production`` label;
a request naming a version or another label is answered by it as ever. It takes effect
once the candidate has loaded.

- Canary: ``share`` of those requests go to the candidate. Routed one by one, the k-th
  request goes when floor(k * share) grows, so the candidate's count is within one
  request of ``share`` of every prefix of them, not just right on average. With
  micro-batching on, whole batches are routed: production's requests queue together as
  they would without a rollout (:meth:`Predictor.predict_routed
  <visionops.serving.batching.Predictor.predict_routed>`), and each merged batch goes to
  the candidate with probability ``share``, drawn from a generator seeded by the
  rollout's id; a draw that would let the count drift more than four full batches from
  its share is overruled. So each arm's batches are as full as production's alone
  would be, and a rollout costs no more TensorFlow calls than none (``canary_overhead``
  in the README). A rule that chose by the count alone (the batch that brings it
  nearest the share, or the first once it is behind) would pick batches by their place
  in the sequence, and under steady load the place goes with the size: clients
  answered by one batch send their next requests together, so large and small batches
  alternate. On the load benchmark at a 10% share, such rules gave the candidate
  batches of 6 and of 13 requests on average, against production's 17 to 22; it ran
  more, costlier calls, and its latency was judged on batches production never runs.
  Requests are routed one by one when batching is off, a request fills a batch alone,
  or the candidate's signature takes other inputs than production's.
  When the candidate fails a request that production then answers, the client gets
  production's answer (a fallback) and the candidate is charged an error: a canary
  request never fails for the candidate's sake. When production fails it too, the
  request itself was at fault (say bytes that are no image): the client gets
  production's error, and the candidate is not charged. A merged batch the candidate
  rejects is retried one request at a time, as any batch is, so one bad request charges
  nobody else's. ``canary.compare_share`` of the candidate's answers are also asked of
  production, off the request's path, to measure disagreement.
- Shadow: production answers every request. For ``share`` of them the candidate is
  asked too, in a task of its own started after production has answered, so it never
  delays or changes the response; its answer is compared and logged
  (:mod:`visionops.serving.rollout_log`). At most ``comparison.max_pending`` such calls
  are in flight; past that a request is not compared (counted).

After every observation of the candidate the guards
(:mod:`visionops.serving.rollout_settings`) are judged; at the first breach the server
stops routing to the candidate at once (requests in flight finish on the version they
hold) and, in a thread, ends the rollout in the registry with a ``rollout_rolled_back``
event naming the guard, the measured value and the limit. Counters and histograms are
touched on the event loop only, as in :mod:`visionops.serving.metrics`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from visionops.registry.layout import PRODUCTION
from visionops.registry.rollout import CANARY, SHADOW, Rollout, roll_back_rollout
from visionops.registry.signature_names import CLASS_IDS, CLASS_NAMES, PROBABILITIES
from visionops.serving.batching import BatchAnswer, Queued
from visionops.serving.errors import BadRequestError
from visionops.serving.models import LoadedVersion, ModelState
from visionops.serving.rollout_log import ComparisonLog
from visionops.serving.rollout_settings import (
    DISAGREEMENT,
    ERROR_RATE,
    P99_LATENCY_MS,
    Guard,
    RolloutSettings,
)

logger = logging.getLogger(__name__)

PREFIX = "visionops_serving_rollout"
ACTIVE, WAITING, ROLLED_BACK, OVER = "active", "waiting", "rolled_back", "over"
ARM_PRODUCTION, ARM_CANDIDATE, ARM_FALLBACK = "production", "candidate", "fallback"
# Shares are counted in millionths, so that the routing counter works in integers.
SCALE = 1_000_000
LATENCY_WINDOW = 4096
P99_EVERY = 16  # latencies observed between two computations of the p99
# How far, in full batches, a canary's batch draws may drift from its share.
DRAW_SLACK_BATCHES = 4

Result = tuple[Any, dict[str, Any], dict[str, Any]]  # signature, inputs, outputs
Run = Callable[[LoadedVersion], Awaitable[Result]]
RunBatch = Callable[[LoadedVersion, list[Queued]], Awaitable[list[Any]]]


class _Counter:
    """Says yes or no to calls (a request, or a batch of requests), so that ``share`` of
    them are taken.

    Single requests (:meth:`take`) are counted exactly: the k-th is taken when
    floor(k * share) grows. Batches (:meth:`draw`) are drawn at random, so that the
    batches taken are a fair sample of all, whatever their sizes and order; the draw is
    overruled when the count has drifted more than ``slack`` calls from its share.
    The generator is seeded with ``seed``: the same calls get the same answers.
    """

    def __init__(self, share: float, seed: str) -> None:
        self.units = round(share * SCALE)
        self.calls = 0
        self.taken = 0
        self._random = random.Random(seed)

    def take(self) -> bool:
        return self._count(1, (self.taken + 1) * SCALE <= (self.calls + 1) * self.units)

    def draw(self, size: int, slack: int) -> bool:
        behind = self.calls * self.units - self.taken * SCALE  # in calls * SCALE
        if abs(behind) > slack * SCALE:
            return self._count(size, behind > 0)
        return self._count(size, self._random.random() * SCALE < self.units)

    def _count(self, size: int, taken: bool) -> bool:
        self.calls += size
        if taken:
            self.taken += size
        return taken


def _with(version: LoadedVersion, answer: Any) -> Any:
    return answer if isinstance(answer, BaseException) else (version, answer)


def predicted_classes(outputs: Mapping[str, Any]) -> np.ndarray | None:
    """Each image's predicted class id; None when the outputs hold no class."""
    if CLASS_IDS in outputs:
        return np.asarray(outputs[CLASS_IDS]).reshape(-1)
    if PROBABILITIES in outputs:
        return np.argmax(np.asarray(outputs[PROBABILITIES]), axis=-1).reshape(-1)
    return None


def _answer_summary(outputs: Mapping[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    classes = predicted_classes(outputs)
    if classes is not None:
        summary["class_ids"] = classes.tolist()
    if CLASS_NAMES in outputs:
        names = np.asarray(outputs[CLASS_NAMES]).reshape(-1)
        summary["class_names"] = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    if PROBABILITIES in outputs:
        confidence = np.max(np.asarray(outputs[PROBABILITIES]), axis=-1).reshape(-1)
        summary["confidence"] = [round(float(value), 6) for value in confidence]
    return summary


class LiveRollout:
    """One rollout as this server runs it: its routing counters, its candidate's figures
    and the guards' verdict."""

    def __init__(self, rollout: Rollout, settings: RolloutSettings) -> None:
        self.rollout = rollout
        self.guards = settings.guards
        self.state = ACTIVE
        self.breach: tuple[Guard, float, int] | None = None
        self._routing = _Counter(rollout.share, rollout.id)
        compare_share = settings.compare_share if rollout.mode == CANARY else 0.0
        self._comparing = _Counter(compare_share, rollout.id)
        self.same_inputs: dict[str, bool] = {}  # by signature name: see Rollouts.batched
        self.arms: Counter = Counter()
        self.calls = 0  # candidate calls judged: answers and errors
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._since_p99 = 0
        self.p99_ms: float | None = None
        self.compared = 0  # requests both arms answered
        self.images = 0
        self.disagreeing = 0
        self.comparisons: Counter = Counter()  # compared, skipped, failed
        self.values: dict[str, float] = {}

    def takes(self) -> bool:
        """Whether this request goes to the candidate (canary) or to it too (shadow)."""
        return self._routing.take()

    def takes_batch(self, size: int, largest: int) -> bool:
        """Whether this merged batch of ``size`` requests goes to the candidate; batches
        hold at most ``largest``."""
        return self._routing.draw(size, DRAW_SLACK_BATCHES * largest)

    def compares(self) -> bool:
        """Whether production is asked too for this canary request."""
        return self._comparing.units > 0 and self._comparing.take()

    def observe_call(self, ok: bool, seconds: float) -> None:
        """One call of the candidate that production answered too."""
        self.calls += 1
        if not ok:
            self.errors += 1
            return
        self.latencies.append(seconds * 1000)
        self._since_p99 += 1

    def observe_comparison(self, images: int, disagreeing: int) -> None:
        """One request answered by both arms: how many images, how many differed."""
        self.compared += 1
        self.images += images
        self.disagreeing += disagreeing

    def judge(self) -> tuple[Guard, float, int] | None:
        """The first guard breached, its value and the requests it was measured over."""
        for guard in self.guards:
            if guard.name == ERROR_RATE:
                count = self.calls
                value = self.errors / count if count else 0.0
            elif guard.name == P99_LATENCY_MS:
                count = len(self.latencies)
                if self.p99_ms is None or self._since_p99 >= P99_EVERY:
                    if count:
                        self.p99_ms = float(np.percentile(np.fromiter(self.latencies, float), 99))
                    self._since_p99 = 0
                value = self.p99_ms or 0.0
            elif guard.name == DISAGREEMENT:
                count = self.compared
                value = self.disagreeing / self.images if self.images else 0.0
            else:  # pragma: no cover - the settings name only the guards above
                continue
            self.values[guard.name] = value
            if count >= guard.min_requests and value > guard.limit:
                return guard, value, count
        return None


class Rollouts:
    """Every model's rollout as this server runs it; what predict calls consult.

    Args:
        registry: The registry served (where a breach ends the rollout).
        settings: The guards and comparison settings.
        log: Where comparisons are written; None writes none.
    """

    def __init__(
        self,
        registry: Path,
        settings: RolloutSettings,
        log: ComparisonLog | None,
    ) -> None:
        self.registry = Path(registry)
        self.settings = settings
        self.log = log
        self._live: dict[str, LiveRollout] = {}
        self._tasks: set[asyncio.Task] = set()
        self._pending = 0

    def _current(self, state: ModelState) -> LiveRollout | None:
        rollout = state.rollout
        if rollout is None:
            return None
        live = self._live.get(state.name)
        if live is None or live.rollout.id != rollout.id:
            live = self._live[state.name] = LiveRollout(rollout, self.settings)
            logger.info("Rollout %s: %s", rollout.id, rollout.describe())
        return live

    def live(self, state: ModelState, version: int | None, label: str | None) -> LiveRollout | None:
        """The rollout a predict call on ``state`` goes through; None when none applies
        (no rollout, a version or another label named, candidate not loaded yet, rolled
        back, or production moved)."""
        if state.rollout is None or version is not None or label not in (None, PRODUCTION):
            return None
        live = self._current(state)
        if live is None or live.state != ACTIVE:
            return None
        rollout = live.rollout
        if rollout.candidate not in state.loaded or state.labels.get(PRODUCTION) != (
            rollout.production
        ):
            return None
        return live

    async def answer(
        self,
        live: LiveRollout,
        state: ModelState,
        production: LoadedVersion,
        run: Run,
        request_id: str,
    ) -> tuple[LoadedVersion, Result]:
        """Answers one production request through ``live``: the version that answered
        and what ``run`` returned for it.

        Raises:
            Exception: Whatever production raised; the candidate's errors never reach
                the client.
        """
        candidate = state.loaded[live.rollout.candidate]
        if live.rollout.mode == CANARY and live.takes():
            started = time.perf_counter()
            try:
                result = await run(candidate)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 -- any candidate failure falls back
                fallback = await run(production)  # raises: the request was at fault
                live.arms[ARM_FALLBACK] += 1
                self._observe(live, False, time.perf_counter() - started, error)
                return production, fallback
            live.arms[ARM_CANDIDATE] += 1
            self._observe(live, True, time.perf_counter() - started)
            if live.compares():
                self._compare_later(live, run, production, candidate, result, request_id)
            return candidate, result
        result = await run(production)
        live.arms[ARM_PRODUCTION] += 1
        if live.rollout.mode == SHADOW and live.takes():
            self._compare_later(live, run, candidate, production, result, request_id)
        return production, result

    def batched(self, live: LiveRollout, state: ModelState, signature_name: str) -> bool:
        """Whether ``live``'s requests to ``signature_name`` are routed by the batch: a
        canary whose candidate's signature takes the inputs production's takes (names,
        types and shapes), so that a batch read for one runs on the other."""
        if live.rollout.mode != CANARY:
            return False
        same = live.same_inputs.get(signature_name)
        if same is None:
            production = state.loaded[live.rollout.production]
            candidate = state.loaded[live.rollout.candidate]
            try:
                inputs = [
                    {
                        key: (info.dtype, info.shape)
                        for key, info in v.signature(signature_name).inputs.items()
                    }
                    for v in (production, candidate)
                ]
            except BadRequestError:  # no such signature: the request fails as ever
                inputs = [{}, None]
            same = live.same_inputs[signature_name] = inputs[0] == inputs[1]
        return same

    def batch_router(
        self,
        live: LiveRollout,
        production: LoadedVersion,
        candidate: LoadedVersion,
        run_batch: RunBatch,
        largest: int,
    ) -> BatchAnswer:
        """What runs each merged batch of ``live``'s production requests (at most
        ``largest``): on the candidate when its share's draw says so (and the rollout is
        active), else on production; answers ``(version, outputs)`` or the request's error.

        ``run_batch(version, batch)`` returns each request's outputs or error.
        """

        async def answer(batch: list[Queued]) -> list[Any]:
            if live.state != ACTIVE or not live.takes_batch(len(batch), largest):
                answers = await run_batch(production, batch)
                answered = [a for a in answers if not isinstance(a, BaseException)]
                live.arms[ARM_PRODUCTION] += len(answered)
                return [_with(production, a) for a in answers]
            answers = [_with(candidate, a) for a in await run_batch(candidate, batch)]
            failed = [i for i, a in enumerate(answers) if isinstance(a, BaseException)]
            errors = {i: answers[i] for i in failed}
            retried = await run_batch(production, [batch[i] for i in failed])
            now = asyncio.get_running_loop().time()
            for index, other in zip(failed, retried, strict=True):
                answers[index] = _with(production, other)
            for index, (item, settled) in enumerate(zip(batch, answers, strict=True)):
                if index not in errors:
                    live.arms[ARM_CANDIDATE] += 1
                    live.observe_call(True, now - item.arrival)
                elif not isinstance(settled, BaseException):  # production answered it
                    live.arms[ARM_FALLBACK] += 1
                    self._observe(live, False, now - item.arrival, errors[index])
            self._judge(live)
            return answers

        return answer

    def compare_batched(
        self,
        live: LiveRollout,
        run: Run,
        production: LoadedVersion,
        answered: LoadedVersion,
        result: Result,
        request_id: str,
    ) -> None:
        """After a batched canary request: asks production too, off the request's path,
        for ``canary.compare_share`` of the candidate's answers."""
        if answered is not production and live.compares():
            self._compare_later(live, run, production, answered, result, request_id)

    def _observe(
        self, live: LiveRollout, ok: bool, seconds: float, error: BaseException | None = None
    ) -> None:
        if error is not None and live.errors == 0:
            logger.warning(
                "Rollout %s: candidate %s:%d failed a request production answered: %s",
                live.rollout.id,
                live.rollout.model,
                live.rollout.candidate,
                error,
            )
        live.observe_call(ok, seconds)
        self._judge(live)

    def _compare_later(
        self,
        live: LiveRollout,
        run: Run,
        asked: LoadedVersion,
        answered: LoadedVersion,
        result: Result,
        request_id: str,
    ) -> None:
        """Asks ``asked`` the same request in a task of its own, to compare its answer
        with ``answered``'s ``result``, unless too many such calls are in flight."""
        if self._pending >= self.settings.max_pending:
            live.comparisons["skipped"] += 1
            return
        self._pending += 1
        task = asyncio.get_running_loop().create_task(
            self._compare(live, run, asked, answered, result, request_id)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _compare(
        self,
        live: LiveRollout,
        run: Run,
        asked: LoadedVersion,
        answered: LoadedVersion,
        result: Result,
        request_id: str,
    ) -> None:
        shadow = live.rollout.mode == SHADOW  # asked is the candidate, else production
        started = time.perf_counter()
        record: dict[str, Any] = {
            "time": time.time(),
            "request_id": request_id,
            "rollout": live.rollout.id,
            "mode": live.rollout.mode,
            "answered_by": answered.version,
        }
        try:
            other = await run(asked)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 -- a comparison must never fail a request
            seconds = time.perf_counter() - started
            live.comparisons["failed"] += 1
            arm = ARM_CANDIDATE if shadow else ARM_PRODUCTION
            record[arm] = {"version": asked.version, "error": str(error)}
            if shadow and live.state == ACTIVE:
                self._observe(live, False, seconds, error)
            self._write(live, record)
            return
        finally:
            self._pending -= 1
        seconds = time.perf_counter() - started
        production_outputs, candidate_outputs = (
            (result[2], other[2]) if shadow else (other[2], result[2])
        )
        first, second = (
            predicted_classes(production_outputs),
            predicted_classes(candidate_outputs),
        )
        if shadow:
            live.arms["shadow"] += 1
        if first is not None and second is not None and first.shape == second.shape:
            disagreeing = int(np.count_nonzero(first != second))
            live.comparisons["compared"] += 1
            if live.state == ACTIVE:
                live.observe_comparison(len(first), disagreeing)
            record["agree"] = disagreeing == 0
        if shadow:
            if live.state == ACTIVE:
                self._observe(live, True, seconds)
        elif live.state == ACTIVE:
            self._judge(live)
        if self.log is not None:
            production_version = answered.version if shadow else asked.version
            record[ARM_PRODUCTION] = {
                "version": production_version,
                **_answer_summary(production_outputs),
            }
            record[ARM_CANDIDATE] = {
                "version": live.rollout.candidate,
                **_answer_summary(candidate_outputs),
            }
            if shadow:
                record[ARM_CANDIDATE]["ms"] = round(seconds * 1000, 3)
            self._write(live, record)

    def _write(self, live: LiveRollout, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.add(live.rollout.model, live.rollout.id, record)

    def _judge(self, live: LiveRollout) -> None:
        if live.state != ACTIVE:
            return
        breach = live.judge()
        if breach is None:
            return
        guard, value, count = breach
        live.state, live.breach = ROLLED_BACK, breach
        rollout = live.rollout
        logger.warning(
            "Rollout %s: %s breached guard %s (%.6g over %d requests, limit %.6g); "
            "rolling the candidate back",
            rollout.id,
            rollout.describe(),
            guard.name,
            value,
            count,
            guard.limit,
        )
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self._roll_back, rollout, guard, value, count)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _roll_back(self, rollout: Rollout, guard: Guard, value: float, count: int) -> None:
        try:
            event = roll_back_rollout(
                self.registry,
                rollout.model,
                rollout.id,
                guard=guard.name,
                measured=value,
                limit=guard.limit,
                requests=count,
            )
        except Exception:  # the server keeps production serving whatever the registry says
            logger.exception("Could not log the rollback of rollout %s", rollout.id)
            return
        if event is None:
            logger.info("Rollout %s had already ended in the registry", rollout.id)

    def start(self) -> None:
        """Starts the comparison log's writer."""
        if self.log is not None:
            self.log.start()

    async def close(self) -> None:
        """Waits for the registry writes in progress, drops pending comparisons, flushes."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.log is not None:
            await asyncio.to_thread(self.log.close)

    def render_metrics(self, models: Mapping[str, ModelState]) -> Iterable[str]:
        """The rollouts' split, candidate errors, comparisons, guards and state."""
        for state in models.values():
            self._current(state)
        helps = {
            "requests_total": (
                "counter",
                "Production requests of a model under rollout, by "
                "the arm that answered: production, candidate, or fallback "
                "(production, after the candidate failed); shadow counts the "
                "candidate's shadow answers.",
            ),
            "candidate_errors_total": (
                "counter",
                "Candidate calls that failed where production answered the request.",
            ),
            "comparisons_total": (
                "counter",
                "Requests asked of the other arm off the "
                "request path: compared, failed, or skipped (too many "
                "in flight).",
            ),
            "share": ("gauge", "Share of production requests the candidate takes part in."),
            "state": (
                "gauge",
                "1 for the rollout's state on this server: active, waiting "
                "(candidate not loaded yet), rolled_back (a guard was breached) or "
                "over (ended in the registry).",
            ),
            "guard_value": ("gauge", "Each guard's value over the candidate's requests."),
            "guard_limit": ("gauge", "Each guard's limit (conf/base/release_rollout.yml)."),
        }
        series: dict[str, list[str]] = {key: [] for key in helps}
        for model, live in sorted(self._live.items()):
            rollout = live.rollout
            tag = f'model="{model}",rollout="{rollout.id}",candidate="{rollout.candidate}"'
            for arm in (ARM_PRODUCTION, ARM_CANDIDATE, ARM_FALLBACK, "shadow"):
                series["requests_total"].append(f'{{{tag},arm="{arm}"}} {live.arms[arm]}')
            series["candidate_errors_total"].append(f"{{{tag}}} {live.errors}")
            for outcome in ("compared", "failed", "skipped"):
                series["comparisons_total"].append(
                    f'{{{tag},outcome="{outcome}"}} {live.comparisons[outcome]}'
                )
            series["share"].append(f'{{{tag},mode="{rollout.mode}"}} {rollout.share}')
            now = self._state_of(live, models.get(model))
            for name in (ACTIVE, WAITING, ROLLED_BACK, OVER):
                series["state"].append(
                    f'{{{tag},mode="{rollout.mode}",state="{name}"}} {int(now == name)}'
                )
            for guard in live.guards:
                value = live.values.get(guard.name, 0.0)
                series["guard_value"].append(f'{{{tag},guard="{guard.name}"}} {value}')
                series["guard_limit"].append(f'{{{tag},guard="{guard.name}"}} {guard.limit}')
        for key, (kind, text) in helps.items():
            yield f"# HELP {PREFIX}_{key} {text}"
            yield f"# TYPE {PREFIX}_{key} {kind}"
            for line in series[key]:
                yield f"{PREFIX}_{key}{line}"

    @staticmethod
    def _state_of(live: LiveRollout, state: ModelState | None) -> str:
        if live.state == ROLLED_BACK:
            return ROLLED_BACK
        rollout = live.rollout
        if state is None or state.rollout is None or state.rollout.id != rollout.id:
            return OVER
        if state.labels.get(PRODUCTION) != rollout.production:
            return OVER
        return ACTIVE if rollout.candidate in state.loaded else WAITING
