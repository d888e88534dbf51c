"""One row of a quantization sweep, measured in a process of its own (see ``runner.sweep``).

Stages, each stored on the row as soon as it is done, so a killed process loses only the stage in
flight: (1) the evaluation, an ordinary ``execute_run`` of the row's GGUF file on the sweep's items
(an interrupted run resumes like any run; a finished one is never redone); (2) the speed probe and
the process's peak RSS; (3) for a variant, the next-token divergence from the reference on the
fixed text, with both models loaded side by side (after (2), so the reference's memory is not
counted as the variant's).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from agimeter.backends.gguf import GGUFBackend, GGUFOptions
from agimeter.backends.gguf_probe import TextDivergence, measure_speed, text_divergence
from agimeter.errors import ConfigError, DataError, ModelError
from agimeter.runner.execute import ProgressSink
from agimeter.runner.hardware import peak_rss_bytes
from agimeter.runner.meter import Measurement
from agimeter.runner.session import RunOptions, execute_run, load_backend, prepare_tasks
from agimeter.runner.sweep import SweepOptions
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store
from agimeter.store.sweep_records import SweepRecord, VariantRecord

DEFAULT_TEXT = "gsm8k/train.jsonl"
CHARS_PER_TOKEN = 16
# The speed probe needs a prompt even when no divergence text is used: this passage, repeated.
_FALLBACK_TEXT = (
    "A quantized model stores each weight in fewer bits. It needs less memory and reads its weights "
    "faster, so it often decodes faster too; how much capability that costs is what a sweep measures. "
)


def load_text(options: SweepOptions) -> tuple[str, str] | None:
    """(label, text) of the divergence text, None when it is switched off (``--kl-text none``), or
    when the default file is not in the data dir (the speed probe then uses a built-in passage).
    Only its beginning is kept: ``CHARS_PER_TOKEN`` characters per token asked, more than any
    tokenizer needs, so a large file is not tokenized whole."""
    if options.kl_text == "none":
        return None
    if options.kl_text is None:
        if options.data_dir is None or not (Path(options.data_dir) / DEFAULT_TEXT).is_file():
            return None
        path, label = Path(options.data_dir) / DEFAULT_TEXT, f"{DEFAULT_TEXT} (question and answer of each row)"
    else:
        path, label = Path(options.kl_text).expanduser(), str(options.kl_text)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"--kl-text {path}: cannot read ({getattr(err, 'strerror', None) or err})") from None
    keep = options.kl_tokens * CHARS_PER_TOKEN
    return label, (_jsonl_text(path, raw, keep) if path.suffix == ".jsonl" else raw)[:keep]


def _jsonl_text(path: Path, raw: str, keep: int) -> str:
    """Each row's string fields in order, one per line; rows separated by a blank line (the rows
    that make up the first ``keep`` characters)."""
    rows: list[str] = []
    length = 0
    for number, line in enumerate(raw.splitlines(), start=1):
        if length >= keep:
            break
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise DataError(f"{path}:{number}: not JSON ({err})") from None
        if isinstance(row, dict):
            rows.append("\n".join(v for v in row.values() if isinstance(v, str)))
            length += len(rows[-1]) + 2
    return "\n\n".join(rows)


def _find_row(store: Store, sweep_id: str, quant: str) -> VariantRecord:
    for row in store.sweep_variants(sweep_id):
        if row.quant == quant:
            return row
    raise ConfigError(f"sweep {sweep_id} has no row {quant!r}")


def _model_spec(sweep: SweepRecord, row: VariantRecord) -> str:
    return sweep.model if row.is_reference else f"gguf:{row.path}"


def _finished_run(store: Store, sweep: SweepRecord, row: VariantRecord, group: RunOptions) -> RunRecord | None:
    """The group's finished run for this row, if any: a run of this sweep's time, of the row's file,
    with exactly the group's options (also found after a kill between the run's end and the
    row's update)."""
    config = group.model_dump(mode="json")
    for run in store.runs_of_model("sha256:" + row.sha256):
        if run.status == "finished" and run.created_at >= sweep.created_at and run.config == config:
            return run
    return None


def measure_row(store: Store, sweep_id: str, quant: str, progress: ProgressSink | None = None) -> VariantRecord:
    """Do what is left of the row's stages; returns the row as stored."""
    sweep = store.get_sweep(sweep_id)
    options = SweepOptions.model_validate(sweep.options)
    row = _find_row(store, sweep_id, quant)
    backend: GGUFBackend | None = None
    load_s = 0.0
    try:
        if row.state == "quantized":
            for group in options.run_groups(_model_spec(sweep, row)):
                run = _finished_run(store, sweep, row, group)
                if run is None:
                    if backend is None:
                        loaded, load_s = load_backend(group)
                        backend = _gguf(loaded)
                    run = execute_run(group, store, prepare_tasks(group), backend, load_s, progress)
                    load_s = 0.0  # one load, billed to the first run that needed it
                    if run.status != "finished":
                        raise ModelError(f"its run {run.id} ended {run.status}: {run.error or 'see agimeter show'}")
                if run.id not in row.run_ids:
                    row = row.model_copy(update={"run_ids": [*row.run_ids, run.id]})
                    store.save_variant(row)
            row = row.model_copy(update={"state": "evaluated"})
            store.save_variant(row)
        if row.state == "evaluated":
            text = load_text(options)
            if backend is None:
                loaded, _ = load_backend(options.run_groups(_model_spec(sweep, row))[0])
                backend = _gguf(loaded)
            tokens = _tokens(backend, text[1] if text else None, options)
            speed = measure_speed(
                backend,
                tokens,
                prompt_tokens=min(options.speed_prompt_tokens, len(tokens)),
                gen_tokens=options.speed_gen_tokens,
                repeats=options.speed_repeats,
            )
            peak = max([peak_rss_bytes(), *(_run_peak(store, run_id) for run_id in row.run_ids)])
            backend.close()
            backend = None
            divergence = None
            if text is not None and not row.is_reference:
                divergence = _divergence(sweep, row, options, text)
            done = {"state": "done", "speed": speed, "peak_rss_bytes": peak, "divergence": divergence}
            row = row.model_copy(update=done)
            store.save_variant(row)
    except Exception as err:
        message = str(err) if isinstance(err, ConfigError | ModelError | DataError) else f"{type(err).__name__}: {err}"
        store.save_variant(row.model_copy(update={"error": message}))
        raise
    finally:
        if backend is not None:
            backend.close()
    if row.error is not None:
        row = row.model_copy(update={"error": None})
        store.save_variant(row)
    return row


def _gguf(backend: object) -> GGUFBackend:
    if not isinstance(backend, GGUFBackend):  # the model spec is gguf:, so this cannot happen
        raise ModelError("a sweep row must load through the gguf backend")
    return backend


def _tokens(backend: GGUFBackend, text: str | None, options: SweepOptions) -> list[int]:
    """The divergence text's first ``kl_tokens`` tokens (no BOS); the built-in passage, repeated,
    when there is no text."""
    if text is None:
        need = options.speed_prompt_tokens
        piece = backend.tok_encode(_FALLBACK_TEXT, add_special_tokens=False)
        return (piece * (need // max(1, len(piece)) + 1))[:need]
    tokens = backend.tok_encode(text, add_special_tokens=False)
    return tokens[: options.kl_tokens]


def _run_peak(store: Store, run_id: str) -> int:
    raw = store.get_run(run_id).summary.get("measurement")
    return Measurement.model_validate(raw).peak_rss_bytes if raw else 0


def _divergence(sweep: SweepRecord, row: VariantRecord, options: SweepOptions, text: tuple[str, str]) -> TextDivergence:
    """Both models side by side, each with a context of one chunk."""
    settings = {k: v for k, v in options.backend_options.items() if k != "n_ctx"}
    knobs = GGUFOptions.model_validate({**settings, "n_ctx": options.kl_chunk})
    reference = GGUFBackend.load(sweep.source.path, knobs)
    try:
        variant = GGUFBackend.load(row.path, knobs)
        try:
            tokens = _tokens(reference, text[1], options)
            if len(tokens) < options.kl_chunk:
                raise ModelError(
                    f"the divergence text has {len(tokens)} tokens, fewer than one chunk ({options.kl_chunk})"
                )
            return text_divergence(
                reference,
                variant,
                tokens,
                chunk=options.kl_chunk,
                text=text[0],
                text_sha256=hashlib.sha256(text[1].encode()).hexdigest(),
            )
        finally:
            variant.close()
    finally:
        reference.close()


__all__ = ["load_text", "measure_row"]
