"""llama.cpp in process (llama-cpp-python) behind the Backend protocol: ``gguf:<path to a .gguf file>``.

Log-likelihood tokenizes exactly as lm-eval does (see :meth:`GGUFBackend.encode_pair`), with
llama.cpp's own tokenizer. Requests run in token order, so each one reuses the KV cache of the
longest prefix it shares with the one before (a question's context across its choices, a few-shot
preamble across documents) and evaluates only the rest. Generation is a greedy loop over the same
cache, so it reuses shared prompt prefixes too and counts every token itself: llama.cpp's streaming
completion reports no usage, and picks the first listed stop string rather than the earliest one.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from jinja2 import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agimeter.backends._hashing import file_sha256
from agimeter.backends._lm_eval_rules import cut_at_stop, encode_pair, scoring_window
from agimeter.backends.base import (
    GenCallback,
    GenRequest,
    GenResult,
    LoglikCallback,
    LoglikRequest,
    LoglikResult,
    ModelInfo,
    Timing,
    Usage,
)
from agimeter.backends.gguf_file import check_gguf_file, file_type_name
from agimeter.backends.stream import StreamTrace
from agimeter.errors import ConfigError, ModelError, first_problem

DEFAULT_MAX_CTX = 4096


class GGUFOptions(BaseModel):
    """Options for :class:`GGUFBackend` (``--model-arg KEY=VALUE``; strings are coerced)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_threads: int | None = Field(default=None, ge=1)
    """Threads for prompt and token evaluation (default: physical cores)."""
    n_ctx: int | None = Field(default=None, ge=2)
    """Context window (default: the model's training context, at most 4096)."""
    kv_f32: bool = False
    """Keep the KV cache in F32 instead of F16 (log-probs then match fp32 transformers to ~1e-5)."""
    extra_bufts: bool | None = None
    """Let llama.cpp move weights into its extra CPU buffer types (AMX tiles, repacked layouts).
    Default (None): off when the CPU reports AMX, on otherwise. On a VM that advertises AMX but
    cannot run it, the AMX matmul of quantized weights dies with a general protection fault at
    ``ldtilecfg`` (seen on this project's machines; ggml-org/llama.cpp#20824); elsewhere the
    repacked layouts are llama.cpp's faster default."""
    seed: int | None = None
    # Passed by the runner for every backend; the GGUF file fixes the weight types, llama.cpp
    # runs one sequence at a time here, and this build computes on the CPU.
    dtype: str = "auto"
    device: Literal["auto", "cpu"] = "auto"
    batch_size: int | None = None


class GGUFBackend:
    """A GGUF model run by llama.cpp, implementing :class:`~agimeter.backends.base.Backend`."""

    def __init__(self, llm: Any, path: Path, options: GGUFOptions) -> None:
        self._llm = llm
        self._is_eog = _import_llama_cpp().llama_vocab_is_eog
        self._vocab = llm._model.vocab
        self.n_ctx = int(llm.n_ctx())
        self._add_bos = bool(llm._model.add_bos_token())
        bos, eos = int(llm.token_bos()), int(llm.token_eos())
        # As lm-eval: an empty context is scored after BOS, or EOS when the model has no BOS.
        self.prefix_token_id = bos if bos >= 0 else eos
        self._prefix_text = self._token_text(self.prefix_token_id)
        self._bos_text = self._token_text(bos) if bos >= 0 else ""
        self._eos_text = self._token_text(eos) if eos >= 0 else ""
        metadata: dict[str, str] = dict(llm.metadata)
        self._chat_template = metadata.get("tokenizer.chat_template") or None
        self.info = ModelInfo(
            backend="gguf",
            name=path.stem,
            identity="sha256:" + file_sha256(path),
            num_parameters=int(llm._model.n_params()),
            dtype=file_type_name(metadata.get("general.file_type")),
            device="cpu",
            has_chat_template=self._chat_template is not None,
            max_length=self.n_ctx,
            extra={
                "architecture": metadata.get("general.architecture", ""),
                "kv_cache": "f32" if options.kv_f32 else "f16",
                "n_threads": str(llm.n_threads),
                "extra_bufts": "on" if use_extra_bufts(options) else "off",
                "weights_bytes": str(path.stat().st_size),  # the GGUF file: quantised weights as loaded
            },
        )

    @classmethod
    def load(cls, model_path: str, options: GGUFOptions) -> GGUFBackend:
        """Load ``model_path``; a missing file or llama-cpp-python is a one-line ModelError."""
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelError(f"gguf: model file not found: {path}")
        check_gguf_file(path)  # llama.cpp says only "failed to load model" about a truncated file
        llama_cpp = _import_llama_cpp()
        n_threads = options.n_threads or _physical_cores()
        kv_type = llama_cpp.GGML_TYPE_F32 if options.kv_f32 else None
        try:
            n_ctx = options.n_ctx or min(_training_context(llama_cpp, path), DEFAULT_MAX_CTX)
            with _model_params(use_extra_bufts=use_extra_bufts(options)):
                llm = llama_cpp.Llama(
                    str(path),
                    logits_all=True,
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    type_k=kv_type,
                    type_v=kv_type,
                    # Sliding-window layers keep every position, so any prefix can be reused.
                    swa_full=True,
                    seed=llama_cpp.LLAMA_DEFAULT_SEED if options.seed is None else options.seed,
                    verbose=False,
                )
        except ValueError as err:
            raise ModelError(f"gguf: cannot load {path}: {err}") from None
        return cls(llm, path, options)

    # ---------------------------------------------------------------- tokenization (as HFLM)

    def tok_encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        """Tokens of ``text``; BOS is prepended when the model asks for it (like ``HFLM.tok_encode``).

        Special-token text (``<|im_start|>``) is parsed into its token, as transformers does."""
        add_bos = self._add_bos if add_special_tokens is None else add_special_tokens
        if add_special_tokens is None and text.startswith(self._prefix_text):
            add_bos = False
        return [int(t) for t in self._llm.tokenize(text.encode(), add_bos=add_bos, special=True)]

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation tokens exactly as lm-eval's ``loglikelihood`` makes them."""
        return encode_pair(self.tok_encode, self.prefix_token_id, context, continuation)

    def _token_text(self, token: int) -> str:
        return bytes(self._llm.detokenize([token], special=True)).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------------- KV cache

    def _evaluate(self, tokens: Sequence[int]) -> int:
        """Make the context hold exactly ``tokens``, evaluating only what follows the longest
        prefix shared with what it holds; returns the number of tokens evaluated. Afterwards
        ``scores[i]`` is the next-token logits after ``tokens[: i + 1]``."""
        llm = self._llm
        cached = llm.input_ids[: llm.n_tokens]
        n = min(len(cached), len(tokens))
        differ = np.flatnonzero(cached[:n] != np.asarray(tokens[:n], dtype=cached.dtype))
        common = int(differ[0]) if differ.size else n
        if common == len(tokens):
            # Everything is cached, logits included; the tail beyond is dropped by the next eval.
            llm.n_tokens = common
            return 0
        if common < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, common, -1):
            common = 0  # this cache cannot drop a tail: start over
        llm.n_tokens = common
        llm.eval(list(tokens[common:]))
        return len(tokens) - common

    def next_token_logits(self, tokens: Sequence[int]) -> np.ndarray[Any, Any]:
        """Row ``i``: the logits of the token after ``tokens[: i + 1]`` (a copy, float32)."""
        if len(tokens) > self.n_ctx:
            raise ModelError(f"gguf: {len(tokens)} tokens do not fit the context of {self.n_ctx}")
        self._evaluate(tokens)
        return np.array(self._llm.scores[: len(tokens)], dtype=np.float32)

    # --------------------------------------------------------------------- log-likelihood

    def loglikelihood(
        self, requests: Sequence[LoglikRequest], on_result: LoglikCallback | None = None
    ) -> list[LoglikResult]:
        """Sum of continuation log-probs per request, in token order to reuse shared prefixes."""
        start = time.perf_counter()
        inputs: list[list[int]] = []
        targets: list[list[int]] = []
        for request in requests:
            context_enc, cont_enc = self.encode_pair(request.context, request.continuation)
            whole = scoring_window(context_enc, cont_enc, self.n_ctx, request.continuation)
            inputs.append(whole[:-1])
            targets.append(cont_enc)
        # Tokenizing is shared work: every request gets an equal part of it.
        tokenize_share = (time.perf_counter() - start) / max(len(requests), 1)
        results: list[LoglikResult | None] = [None] * len(requests)
        for index in sorted(range(len(requests)), key=lambda i: inputs[i]):
            began = time.perf_counter()
            tokens, target = inputs[index], targets[index]
            computed = self._evaluate(tokens)
            logits = np.asarray(self._llm.scores[len(tokens) - len(target) : len(tokens)], dtype=np.float64)
            logprob, is_greedy = _score(logits, np.asarray(target))
            seconds = time.perf_counter() - began + tokenize_share
            result = LoglikResult(
                logprob=logprob,
                is_greedy=is_greedy,
                num_tokens=len(target),
                usage=Usage(prompt_tokens=len(tokens) + 1, computed_prompt_tokens=computed),
                timing=Timing(total_s=seconds, prefill_s=seconds),
            )
            results[index] = result
            if on_result is not None:
                on_result(index, result)
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------------- generation

    def generate(self, requests: Sequence[GenRequest], on_result: GenCallback | None = None) -> list[GenResult]:
        """Generation (greedy, or sampled per request), one request at a time in prompt order (shared
        prefixes reused)."""
        prompts = [self.tok_encode(r.prompt) or [self.prefix_token_id] for r in requests]
        results: list[GenResult | None] = [None] * len(requests)
        for index in sorted(range(len(requests)), key=lambda i: prompts[i]):
            result = self._generate_one(prompts[index], requests[index])
            results[index] = result
            if on_result is not None:
                on_result(index, result)
        return [r for r in results if r is not None]

    def stream_trace(
        self, prompt: str | Sequence[int], max_tokens: int, *, ignore_eos: bool = False, fresh: bool = False
    ) -> StreamTrace:
        """One greedy generation timed token by token, for ``agimeter perf`` (in-process). ``prompt``
        may be token ids; ``fresh`` empties the KV cache first, so the whole prompt is prefilled."""
        if fresh:
            self._llm.reset()
        trace = StreamTrace(sent_at=time.perf_counter())
        if isinstance(prompt, str):
            tokens = self.tok_encode(prompt) or [self.prefix_token_id]
        else:
            tokens, prompt = list(prompt), ""
        request = GenRequest(prompt=prompt, max_tokens=max_tokens)
        result = self._generate_one(tokens, request, ignore_eos=ignore_eos, token_times=trace.token_times)
        trace.done_at = time.perf_counter()
        trace.first_byte_at = trace.token_times[0] if trace.token_times else None
        trace.text = result.text
        trace.finish_reason = result.finish_reason
        trace.usage = {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens}
        return trace

    def _generate_one(
        self,
        prompt: list[int],
        request: GenRequest,
        *,
        ignore_eos: bool = False,
        token_times: list[float] | None = None,
    ) -> GenResult:
        llm = self._llm
        # Leave room for the new tokens, truncating the prompt from the left as lm-eval does.
        prompt = prompt[-max(1, self.n_ctx - request.max_tokens) :]
        budget = min(request.max_tokens, self.n_ctx - len(prompt))
        start = time.perf_counter()
        computed = self._evaluate(prompt)
        first_token_at: float | None = None
        generated: list[int] = []
        text_bytes = b""
        text = ""
        finish: Literal["stop", "length"] = "length"
        rng = None if request.greedy else np.random.default_rng(request.seed)
        while len(generated) < budget:
            logits = llm.scores[llm.n_tokens - 1]
            token = int(np.argmax(logits)) if rng is None else _sample(logits, request, rng)
            if first_token_at is None:
                first_token_at = time.perf_counter()
            generated.append(token)
            if token_times is not None:
                token_times.append(time.perf_counter())
            if not ignore_eos and self._is_eog(self._vocab, token):
                finish = "stop"
                break
            text_bytes += bytes(llm.detokenize([token]))
            text, hit_stop = cut_at_stop(text_bytes.decode("utf-8", errors="replace"), request.stop)
            if hit_stop:
                finish = "stop"
                break
            if len(generated) < budget:
                llm.eval([token])
        end = time.perf_counter()
        prefill_end = first_token_at or end
        return GenResult(
            text=text,
            finish_reason=finish,
            usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(generated), computed_prompt_tokens=computed),
            timing=Timing(
                total_s=end - start,
                prefill_s=prefill_end - start,
                decode_s=end - prefill_end,
                first_token_s=None if first_token_at is None else first_token_at - start,
            ),
        )

    # ------------------------------------------------------------------------------ misc

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        """Render ``messages`` with the GGUF's chat template as transformers renders it
        (sandboxed jinja2, trimmed blocks, generation prompt added); None when it has none."""
        if self._chat_template is None:
            return None
        return self._compiled_chat_template.render(
            messages=list(messages), add_generation_prompt=True, bos_token=self._bos_text, eos_token=self._eos_text
        )

    @functools.cached_property
    def _compiled_chat_template(self) -> Template:
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        env.globals["raise_exception"] = _raise_template_error
        return env.from_string(self._chat_template or "")

    def close(self) -> None:
        """Free the model and its context now rather than at garbage collection."""
        if self._llm is not None:
            self._llm.close()
            self._llm = None


def create(spec: str, **options: object) -> GGUFBackend:
    """Registry hook: ``gguf:<path>`` or ``gguf:<alias>`` (a real model from the alias catalog,
    read natively, quantised as shipped) with ``--model-arg`` options (see :class:`GGUFOptions`)."""
    from agimeter.backends.aliases import gguf_path, resolve_alias

    try:
        parsed = GGUFOptions.model_validate(options)
    except ValidationError as err:
        where, message = first_problem(err)
        raise ConfigError(f"invalid gguf backend option {where}: {message}") from None
    alias = resolve_alias(spec)
    if alias is None or Path(spec).expanduser().exists():
        return GGUFBackend.load(spec, parsed)
    from agimeter.backends.gguf_convert import cache_root

    backend = GGUFBackend.load(str(gguf_path(alias, cache_root() / "gguf")), parsed)
    backend.info = backend.info.model_copy(
        update={
            "name": alias.alias,
            "revision": alias.hf_id,
            "extra": {**backend.info.extra, "gguf": alias.file, "quantization": alias.quantization},
        }
    )
    return backend


def _score(logits: np.ndarray[Any, Any], target: np.ndarray[Any, Any]) -> tuple[float, bool]:
    """(sum of log-softmax at ``target``, whether every target is the argmax) for rows of logits."""
    peak = logits.max(axis=-1, keepdims=True)
    log_norm = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=-1))
    picked = logits[np.arange(len(target)), target]
    return float((picked - log_norm).sum()), bool((logits.argmax(axis=-1) == target).all())


def _training_context(llama_cpp: Any, path: Path) -> int:
    """``<arch>.context_length`` from a vocab-only load (no weights, no KV cache); 4096 if absent.
    (``llama_model_n_ctx_train`` reads 0 on such a load, so the metadata is read directly.)"""
    # What Llama(verbose=False) does, needed here before any Llama exists: errors only.
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise ValueError("llama.cpp could not read the file")
    try:
        arch = _metadata_value(llama_cpp, model, "general.architecture")
        length = _metadata_value(llama_cpp, model, f"{arch}.context_length")
    finally:
        llama_cpp.llama_model_free(model)
    return int(length) if length and length.isdigit() else DEFAULT_MAX_CTX


def _metadata_value(llama_cpp: Any, model: Any, key: str) -> str | None:
    buffer = ctypes.create_string_buffer(256)
    size = llama_cpp.llama_model_meta_val_str(model, key.encode(), buffer, len(buffer))
    return buffer.value.decode() if size >= 0 else None


def use_extra_bufts(options: GGUFOptions) -> bool:
    """The ``extra_bufts`` option, resolved: an explicit setting, else off exactly when AMX is there."""
    return options.extra_bufts if options.extra_bufts is not None else not cpu_has_amx()


@functools.cache
def cpu_has_amx() -> bool:
    """Whether llama.cpp's CPU backend reports AMX (its system info says ``AMX_INT8 = 1``)."""
    info: bytes = _import_llama_cpp().llama_print_system_info()
    return b"AMX_INT8 = 1" in info


@contextlib.contextmanager
def _model_params(**fields: object) -> Iterator[None]:
    """Set ``llama_model_params`` fields that ``Llama()`` has no argument for: it builds its
    params from ``llama_model_default_params()``, which is wrapped while it runs."""
    low_level: Any = importlib.import_module("llama_cpp.llama_cpp")  # what llama_cpp.llama calls
    defaults = low_level.llama_model_default_params

    def with_fields() -> Any:
        params = defaults()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    low_level.llama_model_default_params = with_fields
    try:
        yield
    finally:
        low_level.llama_model_default_params = defaults


def _physical_cores() -> int:
    import psutil

    return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)


def _import_llama_cpp() -> Any:
    """The optional ``llama_cpp`` module, imported by name so that type checking and importing
    this module work without it; its API is used untyped (its own annotations are partial)."""
    try:
        return importlib.import_module("llama_cpp")
    except ImportError:
        raise ModelError("gguf: backend needs llama-cpp-python: pip install 'agimeter[gguf]'") from None


def _sample(logits: Any, request: GenRequest, rng: np.random.Generator) -> int:
    """Temperature + nucleus (top-p) sampling from one row of logits."""
    scaled = np.asarray(logits, dtype=np.float64) / request.temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    if request.top_p < 1.0:
        order = np.argsort(-probs)
        keep = int(np.searchsorted(np.cumsum(probs[order]), request.top_p)) + 1
        kept = order[:keep]
        return int(kept[rng.choice(keep, p=probs[kept] / probs[kept].sum())])
    return int(rng.choice(len(probs), p=probs))


def _raise_template_error(message: str) -> None:
    raise ModelError(f"chat template: {message}")


__all__ = ["GGUFBackend", "GGUFOptions", "create"]
