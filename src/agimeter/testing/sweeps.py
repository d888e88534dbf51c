"""A constructed, stored quantization sweep with known answers, for tests of the views (analysis,
report, server) without llama.cpp.

Two tasks (``t``: 60 items, ``u``: 30); the reference is right on items 0-39 of ``t`` and 0-19 of
``u``; Q8_0 answers exactly as the reference; Q4_0 loses items 0 and 1 of ``t`` (not significant);
Q2_K loses items 0-11 of ``t`` (significant). Files: 1000, 600, 400 and 300 bytes; decode speed
10, 15, 20 and 25 tokens/s.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agimeter.backends.gguf_probe import SpeedProbe
from agimeter.backends.gguf_quantize import SourceInfo, Variant
from agimeter.store.records import ItemRecord, RunRecord
from agimeter.store.repository import Store
from agimeter.store.sweep_records import REFERENCE, SweepRecord, VariantRecord
from agimeter.testing.records import item_record

SWEEP_ID = "swtest"
REFERENCE_T = [i < 40 for i in range(60)]
REFERENCE_U = [i < 20 for i in range(30)]
ROWS: dict[str, tuple[list[bool], int, float]] = {
    REFERENCE: (REFERENCE_T, 1000, 10.0),
    "Q8_0": (REFERENCE_T, 600, 15.0),
    "Q4_0": ([ok and i not in (0, 1) for i, ok in enumerate(REFERENCE_T)], 400, 20.0),
    "Q2_K": ([ok and i >= 12 for i, ok in enumerate(REFERENCE_T)], 300, 25.0),
}


def sweep_items(
    correct: list[bool], *, run: str, task: str = "t", lls: list[list[float]] | None = None
) -> list[ItemRecord]:
    """Multiple-choice items of ``task``, right where ``correct`` says; prompts shared across runs."""
    return [
        item_record(
            i,
            f"{run}-{task}-{i}",
            task=task,
            correct=ok,
            metrics={"acc": float(ok)},
            prompt_sha256=f"{task}{i}",
            loglikelihoods=lls[i] if lls else [-1.0, -2.0],
        )
        for i, ok in enumerate(correct)
    ]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _speed(decode: float) -> SpeedProbe:
    return SpeedProbe(
        prompt_tokens=8,
        gen_tokens=4,
        repeats=1,
        threads="1",
        prefill_tokens_per_s=100.0,
        decode_tokens_per_s=decode,
        prefill_runs=[100.0],
        decode_runs=[decode],
    )


def _variant(quant: str, size: int) -> Variant:
    return Variant(
        quant=quant,
        path=f"/v/{quant}.gguf",
        sha256=quant.lower(),
        bytes=size,
        source_sha256="s" * 64,
        requantized=False,
        seconds=1.0,
        reused=False,
        tensor_types={quant: 1},
    )


def build_sweep(store: Store) -> SweepRecord:
    """Store the sweep described in the module docstring (its runs included) and return it."""
    now = _now()
    source = SourceInfo(
        path="/m/src.gguf", sha256="s" * 64, bytes=1000, file_type="F32", quantized=False, parameters=10,
        tensor_types={"F32": 1},
    )  # fmt: skip
    sweep = SweepRecord(
        id=SWEEP_ID, sweep_key="k", status="finished", created_at=now, updated_at=now, heartbeat_at=now,
        model="gguf:/m/src.gguf", source=source, quants=[q for q in ROWS if q != REFERENCE], options={"alpha": 0.05},
    )  # fmt: skip
    records = []
    for position, (quant, (correct_t, size, decode)) in enumerate(ROWS.items()):
        run_id, sha = f"run{position}", ("s" * 64 if quant == REFERENCE else quant.lower())
        items = sweep_items(correct_t, run=run_id) + sweep_items(REFERENCE_U, run=run_id, task="u")
        store.create_run(
            RunRecord(
                id=run_id,
                run_key=run_id,
                status="finished",
                created_at=now,
                updated_at=now,
                model=sweep.model if quant == REFERENCE else f"gguf:/v/{quant}.gguf",
                model_identity=f"sha256:{sha}",
                tasks=["t", "u"],
                summary={"protocols": {t: {"metrics": ["acc"], "dimension": "knowledge"} for t in ("t", "u")}},
            )
        )
        for item in items:
            store.add_item(run_id, item)
        records.append(
            VariantRecord(
                sweep_id=SWEEP_ID,
                quant=quant,
                position=position,
                state="done",
                path=f"/v/{quant}.gguf" if quant != REFERENCE else source.path,
                sha256=sha,
                bytes=size,
                variant=None if quant == REFERENCE else _variant(quant, size),
                run_ids=[run_id],
                speed=_speed(decode),
                peak_rss_bytes=size * 10,
            )
        )
    store.start_sweep(sweep, records)
    return store.get_sweep(SWEEP_ID)
