"""A quantization sweep end to end: one GGUF source, its variants made by llama.cpp's quantizer,
every row evaluated on the same items, each in a process of its own.

The parent process validates everything first (types, tasks, the text), stores the sweep and its
rows, and then, row after row (the reference first): quantizes the variant (cached by source and
type) and starts a child process (``python -m agimeter.cli.sweep_child``) that evaluates it through
the ordinary ``execute_run`` path (a normal stored run: resumable, its items cached by the
variant file's sha256), runs the speed probe, reads its own peak RSS, and measures the text
divergence from the reference (``runner.sweep_row``). One process per row keeps each row's peak
RSS its own. A killed sweep resumes where it stopped: variants already made are reused, rows
already measured are skipped, and an interrupted row's run resumes like any run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agimeter.backends.gguf_quantize import SourceInfo, describe_source, parse_quant_types, quantize
from agimeter.errors import ConfigError, ModelError, StoreError
from agimeter.runner.execute import ChatMode
from agimeter.runner.session import RunOptions, prepare_tasks
from agimeter.store.lease import Heartbeat, this_process
from agimeter.store.repository import Store
from agimeter.store.sweep_records import REFERENCE, SweepRecord, VariantRecord

# The fields of SweepOptions that do not change what is measured (so not part of the sweep key).
_VIEW_FIELDS = frozenset({"profile", "price_per_hour", "price_is_example", "alpha", "quantize_threads"})


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


class SweepPlan(BaseModel):
    """What a sweep will measure, resolved and checked before anything is stored."""

    model_config = ConfigDict(extra="forbid")

    options: SweepOptions
    source: SourceInfo
    quants: list[str]  # variants to make, in order (the source's own type left out)
    notes: list[str]
    key: str


def source_path(model: str) -> Path:
    """The GGUF file behind ``gguf:<alias or path>`` (an alias cut into parts is assembled)."""
    prefix, sep, rest = model.partition(":")
    if prefix != "gguf" or not sep or not rest:
        raise ConfigError(f"--model {model!r}: a sweep needs a GGUF model, gguf:<alias or path to a .gguf file>")
    from agimeter.backends.aliases import gguf_path, resolve_alias
    from agimeter.backends.gguf_convert import cache_root

    alias = resolve_alias(rest)
    if alias is not None and not Path(rest).expanduser().exists():
        return gguf_path(alias, cache_root() / "gguf")
    path = Path(rest).expanduser()
    if not path.is_file():
        raise ModelError(f"gguf: model file not found: {path}")
    return path.resolve()


def plan_sweep(options: SweepOptions) -> SweepPlan:
    """Check every input (types, model, tasks and data, the text) and name the reference."""
    quants = parse_quant_types(options.quants)
    for group in options.run_groups(options.model):
        prepare_tasks(group)  # bad tasks or data fail here, before any work
    from agimeter.runner.sweep_row import load_text

    load_text(options)  # a missing text file fails here too
    source = describe_source(source_path(options.model))
    notes = []
    if source.quantized:
        notes.append(
            f"The source is already quantized ({source.file_type}): it is the reference, and every variant is "
            "re-quantized from it, so a variant of nominally higher precision (e.g. Q8_0) cannot recover what "
            "the source lost; deltas are relative to the source, not to the original full-precision weights."
        )
    if source.file_type in quants:
        quants.remove(source.file_type)
        notes.append(f"{source.file_type} is the source's own type: its row is the reference (the source file).")
    payload = {k: v for k, v in options.model_dump(mode="json").items() if k not in _VIEW_FIELDS}
    payload.update(source_sha256=source.sha256, quants=quants)
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return SweepPlan(options=options, source=source, quants=quants, notes=notes, key=key)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _start_or_resume(store: Store, plan: SweepPlan) -> SweepRecord:
    previous = store.find_sweep(plan.key)
    owner = this_process()
    if previous is not None:
        return previous if previous.status == "finished" else store.claim_sweep(previous.id, owner)
    now = _now()
    sweep = SweepRecord(
        id="sw" + uuid.uuid4().hex[:10],
        sweep_key=plan.key,
        status="running",
        created_at=now,
        updated_at=now,
        heartbeat_at=now,
        model=plan.options.model,
        source=plan.source,
        quants=plan.quants,
        options=plan.options.model_dump(mode="json"),
        notes=plan.notes,
        owner=owner,
    )
    rows = [
        VariantRecord(
            sweep_id=sweep.id,
            quant=REFERENCE,
            position=0,
            state="quantized",  # the source needs no quantizing
            path=plan.source.path,
            sha256=plan.source.sha256,
            bytes=plan.source.bytes,
        )
    ]
    rows += [
        VariantRecord(sweep_id=sweep.id, quant=q, position=i, path="", sha256="", bytes=0)
        for i, q in enumerate(plan.quants, start=1)
    ]
    store.start_sweep(sweep, rows)
    return sweep


Say = Callable[[str], None]


def execute_sweep(plan: SweepPlan, store: Store, store_url: str, say: Say) -> SweepRecord:
    """Run (or resume) the sweep and return its record; a finished identical sweep is returned as is."""
    if store_url.startswith("sqlite://") and ":memory:" in store_url:
        raise StoreError("a sweep needs a store that its row processes can open too, not an in-memory database")
    sweep = _start_or_resume(store, plan)
    if sweep.status == "finished":
        say(f"sweep {sweep.id} of this command is stored and finished: showing it")
        return sweep
    say(f"sweep {sweep.id}: reference {plan.source.file_type} + {', '.join(plan.quants) or 'no variants'}")
    try:
        with Heartbeat(lambda: store.sweep_heartbeat(sweep.id)):
            for row in store.sweep_variants(sweep.id):
                if row.state == "done":
                    say(f"{row.quant}: measured already")
                    continue
                if row.state == "pending" or (not row.is_reference and not Path(row.path).is_file()):
                    row = _make_variant(store, plan, row, say)  # made now, or again if removed from the cache
                _measure_in_child(store, store_url, sweep.id, row.quant, say)
    except KeyboardInterrupt:
        store.set_sweep_status(sweep.id, "interrupted", "interrupted by the user; re-run the same command to resume")
        raise
    except Exception as err:
        store.set_sweep_status(sweep.id, "failed", str(err) if isinstance(err, ModelError) else f"{err}")
        raise
    store.set_sweep_status(sweep.id, "finished")
    return store.get_sweep(sweep.id)


def _make_variant(store: Store, plan: SweepPlan, row: VariantRecord, say: Say) -> VariantRecord:
    variant = quantize(plan.source, row.quant, threads=plan.options.quantize_threads)
    how = "reused from the cache" if variant.reused else f"quantized in {variant.seconds:.1f} s"
    say(f"{row.quant}: {variant.bytes / 1e6:,.1f} MB, {how}")
    if row.sha256 and row.sha256 != variant.sha256:  # a removed file made again differently
        raise ModelError(
            f"{row.quant}: the variant made now (sha256 {variant.sha256[:12]}) differs from the one this sweep "
            f"measured (sha256 {row.sha256[:12]}); start a new sweep"
        )
    state = "quantized" if row.state == "pending" else row.state
    made = {"state": state, "variant": variant, "path": variant.path, "sha256": variant.sha256}
    row = row.model_copy(update={**made, "bytes": variant.bytes})
    store.save_variant(row)
    return row


def _measure_in_child(store: Store, store_url: str, sweep_id: str, quant: str, say: Say) -> None:
    """Evaluate and probe one row in a process of its own; its error (stored on the row) is raised here."""
    say(f"{quant}: evaluating in its own process")
    cmd = [sys.executable, "-m", "agimeter.cli.sweep_child", store_url, sweep_id, quant, str(os.getpid())]
    child = subprocess.Popen(cmd)
    try:
        code = child.wait()
    except BaseException:
        child.terminate()
        child.wait()
        raise
    if code != 0:
        row = next((r for r in store.sweep_variants(sweep_id) if r.quant == quant), None)
        why = row.error if row is not None and row.error else f"its process exited with status {code}"
        raise ModelError(f"sweep {sweep_id}, {quant}: {why}")


__all__ = ["SweepOptions", "SweepPlan", "execute_sweep", "plan_sweep", "source_path"]
