"""Records of a quantization sweep as the store keeps them. Each carries ``schema_version``.

The source file and its variants (``SourceInfo``, ``Variant``: made by ``backends.gguf_quantize``),
and what a row measures outside its run (``SpeedProbe``, ``TextDivergence``: ``backends.gguf_probe``).

A sweep links one source model (the reference) to its quantized variants and, for each row, the
ordinary run that evaluated it (same items on every row), with what was measured outside that
run: the variant file, a speed probe, peak memory and the divergence of its next-token
distributions from the reference's on a fixed text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agimeter.records.options import ChatMode, RunOptions
from agimeter.records.sessions import Owner

SWEEP_SCHEMA_VERSION = 1
SWEEP_VARIANT_SCHEMA_VERSION = 1
REFERENCE = "reference"  # the ``quant`` of the reference row: the source file itself

# "interrupted": stopped by Ctrl-C/SIGTERM, or stored as running while its process is gone.
SweepStatus = Literal["running", "finished", "failed", "interrupted"]
# A row advances pending -> quantized -> evaluated (its run finished) -> done (probes measured).
VariantState = Literal["pending", "quantized", "evaluated", "done", "failed"]


class SourceInfo(BaseModel):
    """The file variants are made from, and the reference they are compared with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: str
    bytes: int
    file_type: str  # general.file_type (Q4_K_M, F32, ...); "mixed" when the file does not say
    quantized: bool  # any weight tensor is stored in a quantized type
    parameters: int  # elements over all tensors
    tensor_types: dict[str, int]  # ggml type name -> number of tensors


class Variant(BaseModel):
    """One quantized variant on disk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quant: str  # Q8_0
    path: str
    sha256: str
    bytes: int
    source_sha256: str
    requantized: bool  # made from a quantized source (cannot be better than it)
    seconds: float  # llama.cpp's quantization time, when this variant was made
    reused: bool  # found in the cache, not made by this call
    tensor_types: dict[str, int]
    fallback_tensors: int | None = None  # llama.cpp's "N of M tensor(s) required fallback quantization"


class TextDivergence(BaseModel):
    """A variant's next-token distributions vs the reference's on a fixed text."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    text: str  # where the text came from
    text_sha256: str
    chunk_tokens: int
    chunks: int
    scored_tokens: int
    mean_kld: float = Field(ge=0)  # nats per token
    kld_stderr: float = Field(ge=0)
    kld_p99: float = Field(ge=0)
    kld_max: float = Field(ge=0)
    same_top_p: float = Field(ge=0, le=1)  # share of positions with the same most likely token
    same_top_p_stderr: float = Field(ge=0)
    ppl_reference: float
    ppl_variant: float
    ln_ppl_ratio: float  # mean over tokens of NLL(variant) - NLL(reference)
    ln_ppl_ratio_stderr: float = Field(ge=0)


class SpeedProbe(BaseModel):
    """Prefill and decode throughput of a model on this machine (medians over ``repeats``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt_tokens: int
    gen_tokens: int
    repeats: int
    threads: str
    prefill_tokens_per_s: float = Field(gt=0)
    decode_tokens_per_s: float = Field(gt=0)
    prefill_runs: list[float]
    decode_runs: list[float]


class SweepOptions(BaseModel):
    """Everything ``agimeter sweep`` was asked to do."""

    model_config = ConfigDict(extra="forbid")

    model: str  # gguf:<alias or path>: the source, and the reference
    quants: list[str]
    tasks: list[str]
    include_paths: list[str] = Field(default_factory=list)
    data_dir: str | None = None
    limit: int | None = Field(default=None, ge=1)
    sample: int | None = Field(default=None, ge=1)
    seed: int = 1234
    num_fewshot: int | None = Field(default=None, ge=0)
    chat: ChatMode = "auto"
    profile: str = "laptop-cpu"
    price_per_hour: float = 0.0
    price_is_example: bool = True
    backend_options: dict[str, str] = Field(default_factory=dict)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    # The fixed text for next-token divergence and the speed probe: a file (.jsonl: each row's string
    # fields), or None for <data_dir>/gsm8k/train.jsonl; "none" skips the divergence.
    kl_text: str | None = None
    kl_tokens: int = Field(default=4096, ge=8)
    kl_chunk: int = Field(default=512, ge=8)
    speed_prompt_tokens: int = Field(default=512, ge=1)
    speed_gen_tokens: int = Field(default=64, ge=2)
    speed_repeats: int = Field(default=3, ge=1)
    quantize_threads: int | None = Field(default=None, ge=1)

    # Per task, instead of --sample / --num-fewshot (e.g. ARC 0-shot 200 next to HumanEval 40).
    task_sample: dict[str, int] = Field(default_factory=dict)
    task_fewshot: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _overrides_name_tasks(self) -> SweepOptions:
        for field, values in (("task_sample", self.task_sample), ("task_fewshot", self.task_fewshot)):
            unknown = sorted(set(values) - set(self.tasks))
            if unknown:
                raise ValueError(f"{field} names {', '.join(unknown)}, not among the tasks ({', '.join(self.tasks)})")
            low = [f"{k}={v}" for k, v in values.items() if v < (1 if field == "task_sample" else 0)]
            if low:
                raise ValueError(f"{field}: {', '.join(low)} is out of range")
        return self

    def run_groups(self, model: str) -> list[RunOptions]:
        """The runs that evaluate one row: one per group of tasks with the same sample size and
        few-shot count, in the order of the tasks; the same items on every row."""
        groups: dict[tuple[int | None, int | None], list[str]] = {}
        for task in self.tasks:
            key = (self.task_sample.get(task, self.sample), self.task_fewshot.get(task, self.num_fewshot))
            groups.setdefault(key, []).append(task)
        return [
            RunOptions(
                model=model,
                tasks=tasks,
                include_paths=self.include_paths,
                data_dir=self.data_dir,
                limit=self.limit,
                sample=sample,
                seed=self.seed,
                num_fewshot=shots,
                chat=self.chat,
                profile=self.profile,
                price_per_hour=self.price_per_hour,
                price_is_example=self.price_is_example,
                backend_options=self.backend_options,
            )
            for (sample, shots), tasks in groups.items()
        ]


class SweepRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SWEEP_SCHEMA_VERSION
    id: str
    sweep_key: str
    status: SweepStatus
    created_at: datetime
    updated_at: datetime
    heartbeat_at: datetime
    model: str  # as given: gguf:<alias or path>
    source: SourceInfo
    quants: list[str]  # the variants, in the order asked
    options: SweepOptions
    notes: list[str] = Field(default_factory=list)
    owner: Owner | None = None  # the process running it (its lease, with heartbeat_at)
    error: str | None = None


class VariantRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SWEEP_VARIANT_SCHEMA_VERSION
    sweep_id: str
    quant: str  # REFERENCE, or a llama.cpp type name (Q8_0)
    position: int  # 0 for the reference, then the variants in the order asked
    state: VariantState = "pending"
    path: str
    sha256: str
    bytes: int
    variant: Variant | None = None  # None for the reference (the source file)
    run_ids: list[str] = Field(default_factory=list)  # one run per group of tasks (same sample and shots)
    speed: SpeedProbe | None = None
    peak_rss_bytes: int | None = None  # the process that evaluated it (and ran the speed probe)
    divergence: TextDivergence | None = None  # None for the reference (0 by definition) or without a text
    error: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.quant == REFERENCE


__all__ = [
    "REFERENCE",
    "SourceInfo",
    "SpeedProbe",
    "SweepOptions",
    "SweepRecord",
    "SweepStatus",
    "TextDivergence",
    "Variant",
    "VariantRecord",
    "VariantState",
]
