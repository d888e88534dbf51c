"""The meter: what a run consumed, as a ``Measurement`` stored with the run.

Counts, tokens and per-item seconds are sums over the items the run holds in the store
(``Store.run_totals``), so they are exact however often the run was killed and resumed. Wall
time cannot be split per item: each session keeps its own clock (``Meter``) and commits it with
every item, so a killed session loses only the time since its last commit: the work in flight,
which the next session does again, and counts, once.

Pricing (``$``) happens downstream in ``agimeter.cost`` from the stored measurement."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from agimeter.backends.base import ModelInfo
from agimeter.runner.hardware import HardwareInfo, cuda_max_allocated_bytes, detect_hardware, peak_rss_bytes
from agimeter.store.records import RunTotals, SessionRecord, SessionTick

# 3: counts and tokens from the stored items, wall time summed over sessions, one model load,
# errors of the latest session; ``sessions``. (v2 rows load: ``sessions`` is then None.)
MEASUREMENT_SCHEMA_VERSION = 3


class Measurement(BaseModel):
    """What a run consumed; stored with the run, priced by ``agimeter.cost``. Counts and times are
    non-negative finite numbers: a stored or uploaded block that breaks this is refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schema_version: int = MEASUREMENT_SCHEMA_VERSION
    wall_s: float = Field(ge=0)  # evaluation wall time, summed over sessions up to each one's last commit
    load_s: float = Field(ge=0)  # one model load: the first session's (later ones redo the same work)
    # items_computed: stored by this run, in any of its sessions; items_cached: results of other
    # runs that it linked. Their sum is the run's items, always.
    items_computed: int = Field(ge=0)
    items_cached: int = Field(ge=0)
    items_per_s: float | None = Field(ge=0)
    # Tokens and seconds of the computed items (cached items cost this run nothing).
    prompt_tokens: int = Field(ge=0)
    computed_prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    prefill_s: float = Field(ge=0)
    decode_s: float = Field(ge=0)
    prefill_tokens_per_s: float | None = Field(ge=0)
    decode_tokens_per_s: float | None = Field(ge=0)
    peak_rss_bytes: int = Field(ge=0)  # of the latest session's process
    cuda_max_allocated_bytes: int | None = Field(ge=0)
    hardware: HardwareInfo
    # The run's current state, not a sum over re-runs: requests that failed for good (after
    # retries) in the latest session, by kind, and the items that session left without a result
    # (a re-run retries exactly those, and starts counting again from zero).
    errors: dict[str, int] = Field(default_factory=dict)
    failed_items: int = Field(default=0, ge=0)
    sessions: int | None = Field(default=None, ge=1)  # processes that worked on the run: 1 + resumes (None: v2 row)


class Meter:
    """One session's clock and failures. ``wall`` covers evaluation only (model loading is timed
    separately as ``load_s``)."""

    def __init__(self, load_s: float = 0.0) -> None:
        self.load_s = load_s
        self.wall_s = 0.0
        self.errors: dict[str, int] = {}
        self.failed_items = 0
        self.session_id: int | None = None
        # Carried from the run's earlier sessions.
        self.earlier_wall_s = 0.0
        self.first_load_s: float | None = None
        self.earlier_sessions = 0
        self._started: float | None = None

    def carry(self, earlier: Sequence[SessionRecord], legacy: Measurement | None = None) -> None:
        """Continue a run: its earlier sessions (or, for a run stored before sessions existed, its
        last stored measurement) contribute their wall time and the first model load."""
        if earlier:
            self.earlier_wall_s = sum(s.wall_s for s in earlier)
            self.first_load_s = earlier[0].load_s
            self.earlier_sessions = len(earlier)
        elif legacy is not None:
            self.earlier_wall_s, self.first_load_s = legacy.wall_s, legacy.load_s
            self.earlier_sessions = legacy.sessions or 1

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        if self._started is not None:
            self.wall_s += time.perf_counter() - self._started
            self._started = None

    def elapsed(self) -> float:
        """This session's evaluation wall time so far."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self.wall_s + running

    def tick(self, *, final: bool = False) -> SessionTick | None:
        """What to commit with an item (or the session's last checkpoint); None outside a session."""
        if self.session_id is None:
            return None
        return SessionTick(session_id=self.session_id, wall_s=self.elapsed(), final=final)

    def add_error(self, kind: str) -> None:
        """One request failed for good (after retries); it consumed nothing that is counted."""
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def measurement(self, totals: RunTotals) -> Measurement:
        wall = self.earlier_wall_s + self.elapsed()
        computed = totals.items_computed
        return Measurement(
            wall_s=wall,
            load_s=self.first_load_s if self.first_load_s is not None else self.load_s,
            items_computed=computed,
            items_cached=totals.items_cached,
            items_per_s=computed / wall if wall > 0 and computed else None,
            prompt_tokens=totals.prompt_tokens,
            computed_prompt_tokens=totals.computed_prompt_tokens,
            completion_tokens=totals.completion_tokens,
            prefill_s=totals.prefill_s,
            decode_s=totals.decode_s,
            prefill_tokens_per_s=totals.computed_prompt_tokens / totals.prefill_s if totals.prefill_s > 0 else None,
            decode_tokens_per_s=totals.completion_tokens / totals.decode_s if totals.decode_s > 0 else None,
            peak_rss_bytes=peak_rss_bytes(),
            cuda_max_allocated_bytes=cuda_max_allocated_bytes(),
            hardware=detect_hardware(),
            errors=dict(self.errors),
            failed_items=self.failed_items,
            sessions=self.earlier_sessions + 1,
        )


JUDGE_MEASUREMENT_SCHEMA_VERSION = 1
# Below this many parameters a judge is labelled weak: the MT-Bench paper found only GPT-4-class
# judges agreeing with humans as often as humans agree with each other.
WEAK_JUDGE_PARAMETERS = 30e9


class JudgeMeasurement(BaseModel):
    """What a run's judge model consumed, apart from the evaluated model (``Measurement``): sums over
    the items the run computed, so exact across resumes; ``wall_s`` is the time spent judging."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schema_version: int = JUDGE_MEASUREMENT_SCHEMA_VERSION
    model: str  # the judge model spec as given
    info: ModelInfo
    weak: bool  # a local judge of fewer than WEAK_JUDGE_PARAMETERS parameters (or unknown and local)
    load_s: float = Field(ge=0)
    items_judged: int = Field(ge=0)
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    wall_s: float = Field(ge=0)


def is_weak_judge(info: ModelInfo) -> bool:
    """A judge to read with care: a local model below the size the judge literature trusts."""
    if info.num_parameters is not None:
        return info.num_parameters < WEAK_JUDGE_PARAMETERS
    return info.backend != "openai"  # an API model of unknown size is presumably a large one


def judge_measurement(model: str, info: ModelInfo, load_s: float, totals: RunTotals) -> JudgeMeasurement:
    return JudgeMeasurement(
        model=model,
        info=info,
        weak=is_weak_judge(info),
        load_s=load_s,
        items_judged=totals.items_judged,
        prompt_tokens=totals.judge_prompt_tokens,
        completion_tokens=totals.judge_completion_tokens,
        wall_s=totals.judge_s,
    )
