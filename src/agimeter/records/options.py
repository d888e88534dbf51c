"""What a run was asked to do, stored as its ``config``: ``RunOptions`` for ``agimeter run``,
``PerfOptions`` for ``agimeter perf``. Both carry the pricing that ``agimeter.cost`` reads.

Options have only ever been added, each with a default meaning what older runs did, except
``PerfOptions.warmup``: perf runs stored before it existed did no warm-up, which
``migrate_perf_options`` says (``warmup: 0``) instead of the default."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from agimeter.records.checks import FiniteOnly
from agimeter.records.prices import PriceRow

ChatMode = Literal["auto", "on", "off"]


class PricedOptions(FiniteOnly):
    """The options every run has: the model and the hardware price it ran under."""

    model_config = ConfigDict(extra="forbid")

    model: str
    profile: str = "laptop-cpu"
    price_per_hour: float = Field(default=0.0, ge=0)
    price_is_example: bool = True
    backend_options: dict[str, str] = Field(default_factory=dict)


class RunOptions(PricedOptions):
    """Everything ``agimeter run`` was asked to do."""

    tasks: list[str]
    # Directories of lm-eval task YAMLs: their task names resolve in ``tasks``, and includes.
    include_paths: list[str] = Field(default_factory=list)
    data_dir: str | None = None
    limit: int | None = Field(default=None, ge=1)
    sample: int | None = Field(default=None, ge=1)
    # Stop each task once its primary metric's 95% CI half-width is at most this (e.g. 0.02).
    target_ci: float | None = Field(default=None, gt=0, lt=0.5)
    seed: int = 1234
    num_fewshot: int | None = Field(default=None, ge=0)
    batch_size: int | None = Field(default=None, ge=1)
    dtype: str = "auto"
    device: str = "auto"
    chat: ChatMode = "auto"
    api_price: PriceRow | None = None  # for runs against hosted APIs: their price on the run's tokens
    # The judge model of judged tasks (--judge; see ``runner.session.judge_spec`` for the task's and
    # the config's), its backend options (--judge-arg) and prices (default: the run's price per hour).
    judge: str | None = None
    judge_default: str | None = None  # the config file's ``judge:``
    judge_options: dict[str, str] = Field(default_factory=dict)
    judge_price_per_hour: float | None = Field(default=None, ge=0)
    judge_api_price: PriceRow | None = None
    # Scale-out on Ray (``runner.executors``): workers (None: in process, unless the model names
    # several endpoints), an existing cluster's address, and each worker's resources.
    workers: int | None = Field(default=None, ge=1)
    ray_address: str | None = None
    worker_resources: dict[str, Any] | None = None


class PerfOptions(PricedOptions):
    """Everything ``agimeter perf`` was asked to do."""

    mode: Literal["concurrency", "rate"] = "concurrency"
    levels: list[float] = Field(default_factory=lambda: [1.0])
    requests: int | None = Field(default=None, ge=1)
    duration_s: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    input_tokens: int = Field(default=128, ge=1)
    output_tokens: int = Field(default=64, ge=1)
    warmup: int = Field(default=1, ge=0)  # unmeasured requests before each sweep point
    prompts_from: str | None = None
    data_dir: str | None = None
    tokenizer: str | None = None
    ignore_eos: bool = True
    slo: str | None = None
    seed: int = 0
    # Load generation from N Ray workers (``perf.distributed``), on a cluster at this address.
    workers: int | None = Field(default=None, ge=1)
    ray_address: str | None = None


RunConfig = RunOptions | PerfOptions


def migrate_perf_options(raw: object) -> object:
    """Stored perf options from before ``--warmup`` existed did no warm-up."""
    if isinstance(raw, dict) and "warmup" not in raw:
        options: dict[str, Any] = {**raw, "warmup": 0}
        return options
    return raw
