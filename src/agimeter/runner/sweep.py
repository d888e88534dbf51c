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

from pydantic import BaseModel, ConfigDict

from agimeter.backends.gguf_quantize import describe_source, parse_quant_types, quantize
from agimeter.errors import ConfigError, ModelError, StoreError
from agimeter.records.sweeps import REFERENCE, SourceInfo, SweepOptions, SweepRecord, VariantRecord
from agimeter.runner.heartbeat import Heartbeat, this_process
from agimeter.runner.run_store import SweepStore
from agimeter.runner.session import prepare_tasks
from agimeter.runner.sweep_row import load_text

# The fields of SweepOptions that do not change what is measured (so not part of the sweep key).
_VIEW_FIELDS = frozenset({"profile", "price_per_hour", "price_is_example", "alpha", "quantize_threads"})


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


def _start_or_resume(store: SweepStore, plan: SweepPlan) -> SweepRecord:
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
        options=plan.options,
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


def execute_sweep(plan: SweepPlan, store: SweepStore, store_url: str, say: Say) -> SweepRecord:
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


def _make_variant(store: SweepStore, plan: SweepPlan, row: VariantRecord, say: Say) -> VariantRecord:
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


def _measure_in_child(store: SweepStore, store_url: str, sweep_id: str, quant: str, say: Say) -> None:
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
