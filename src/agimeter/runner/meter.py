"""The meter: accumulates usage and timing of every call into a ``Measurement`` stored with the run.

Pricing (``$``) happens downstream in ``agimeter.cost`` from the stored measurement."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from agimeter.runner.hardware import HardwareInfo, cuda_max_allocated_bytes, detect_hardware, peak_rss_bytes

MEASUREMENT_SCHEMA_VERSION = 2


class Measurement(BaseModel):
    """What a run consumed; stored with the run, priced by ``agimeter.cost``. Counts and times are
    non-negative finite numbers: a stored or uploaded block that breaks this is refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schema_version: int = MEASUREMENT_SCHEMA_VERSION
    wall_s: float = Field(ge=0)
    load_s: float = Field(ge=0)
    items_computed: int = Field(ge=0)
    items_cached: int = Field(ge=0)
    items_per_s: float | None = Field(ge=0)
    prompt_tokens: int = Field(ge=0)
    computed_prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    prefill_s: float = Field(ge=0)
    decode_s: float = Field(ge=0)
    prefill_tokens_per_s: float | None = Field(ge=0)
    decode_tokens_per_s: float | None = Field(ge=0)
    peak_rss_bytes: int = Field(ge=0)
    cuda_max_allocated_bytes: int | None = Field(ge=0)
    hardware: HardwareInfo
    # v2: failed requests by kind (all sessions of the run) and items still without a result.
    errors: dict[str, int] = Field(default_factory=dict)
    failed_items: int = Field(default=0, ge=0)


class Meter:
    """Counts what the backend reports on every call. ``wall`` covers evaluation only
    (model loading is timed separately as ``load_s``)."""

    def __init__(self) -> None:
        self.load_s = 0.0
        self.wall_s = 0.0
        self.items_computed = 0
        self.items_cached = 0
        self.prompt_tokens = 0
        self.computed_prompt_tokens = 0
        self.completion_tokens = 0
        self.prefill_s = 0.0
        self.decode_s = 0.0
        self.errors: dict[str, int] = {}
        self.failed_items = 0
        self._started: float | None = None

    def resume_from(self, previous: Measurement) -> None:
        """Continue counting on top of an interrupted session of the same run."""
        self.load_s += previous.load_s
        self.wall_s += previous.wall_s
        self.items_computed += previous.items_computed
        self.prompt_tokens += previous.prompt_tokens
        self.computed_prompt_tokens += previous.computed_prompt_tokens
        self.completion_tokens += previous.completion_tokens
        self.prefill_s += previous.prefill_s
        self.decode_s += previous.decode_s
        for kind, count in previous.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        if self._started is not None:
            self.wall_s += time.perf_counter() - self._started
            self._started = None

    def add_item(
        self,
        *,
        prompt_tokens: int,
        computed_prompt_tokens: int,
        completion_tokens: int,
        prefill_s: float,
        decode_s: float,
    ) -> None:
        self.items_computed += 1
        self.prompt_tokens += prompt_tokens
        self.computed_prompt_tokens += computed_prompt_tokens
        self.completion_tokens += completion_tokens
        self.prefill_s += prefill_s
        self.decode_s += decode_s

    def add_error(self, kind: str) -> None:
        """One request failed for good (after retries); it consumed nothing that is counted."""
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def measurement(self) -> Measurement:
        wall = self.wall_s
        return Measurement(
            wall_s=wall,
            load_s=self.load_s,
            items_computed=self.items_computed,
            items_cached=self.items_cached,
            items_per_s=self.items_computed / wall if wall > 0 and self.items_computed else None,
            prompt_tokens=self.prompt_tokens,
            computed_prompt_tokens=self.computed_prompt_tokens,
            completion_tokens=self.completion_tokens,
            prefill_s=self.prefill_s,
            decode_s=self.decode_s,
            prefill_tokens_per_s=self.computed_prompt_tokens / self.prefill_s if self.prefill_s > 0 else None,
            decode_tokens_per_s=self.completion_tokens / self.decode_s if self.decode_s > 0 else None,
            peak_rss_bytes=peak_rss_bytes(),
            cuda_max_allocated_bytes=cuda_max_allocated_bytes(),
            hardware=detect_hardware(),
            errors=dict(self.errors),
            failed_items=self.failed_items,
        )
