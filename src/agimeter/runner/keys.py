"""Cache and run keys. A cache key covers the stack (backend), model identity, task version, the
exact prompt and the generation settings — never the model name alone.

The stack: the same weights served by another backend give other numbers, so two backends never
share cached items or completions, even with one identity helper. The four stacks agimeter had when
the backend entered the key (``LEGACY_STACKS``) keep their keys as they were, so stores made before
keep every cached item: their identities were already disjoint (hf hashes its config and weight
files, an hf alias of a GGUF is ``gguf-sha256:...``, gguf is ``sha256:`` of its file, openai hashes
the server URL and what it says, fake hashes its script). Every other backend's name is in its keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agimeter.backends.base import GenRequest
from agimeter.records.model import ModelInfo
from agimeter.scoring.base import DEFAULT_VERSION, Scorer, ScoringContext
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec, dump_scoring


def _digest(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


LEGACY_STACKS = frozenset({"hf", "gguf", "openai", "fake"})


def stack_field(backend: str) -> dict[str, str]:
    """The backend's part of a cache key (empty for the legacy stacks: see the module docstring)."""
    return {} if backend in LEGACY_STACKS else {"backend": backend}


def prompt_sha256(context: str, continuations: tuple[str, ...]) -> str:
    return _digest({"context": context, "continuations": list(continuations)})


def scoring_identity(scorer: Scorer, spec: TaskSpec, context: ScoringContext) -> dict[str, Any]:
    """How answers are judged, for the cache key, so that a change of judge is never a cache hit:
    the scorer's name, the spec's scoring settings and metrics, the scorer's version, and whatever
    else the scorer says its verdicts depend on (a grader model's identity).

    A scorer at the default version adds no version field and one that depends on nothing else no
    ``scorer_identity``, so the keys of items cached before scorers had versions stay valid.
    """
    identity: dict[str, Any] = {
        "scorer": scorer.name,
        **dump_scoring(spec.scoring),
        "metrics": spec.metrics,
    }
    if scorer.version != DEFAULT_VERSION:
        if scorer.version_key in identity:
            raise ValueError(f"scorer {scorer.name!r}: version_key {scorer.version_key!r} is taken")
        identity[scorer.version_key] = scorer.version
    extra = scorer.identity(spec, context)
    if extra:
        identity["scorer_identity"] = extra
    return identity


def item_cache_key(
    *,
    backend: str,
    model_identity: str,
    numerics: dict[str, str],
    task: str,
    task_version: str,
    item: Item,
    context: str,
    scoring: dict[str, Any] | None = None,
) -> str:
    """``backend`` is the stack (``ModelInfo.backend``); ``context`` is the prompt exactly as sent
    (after any chat templating); ``scoring`` is how the answer is judged (scorer, its settings,
    metrics), so a change of judge is not a cache hit."""
    return _digest(
        {
            **stack_field(backend),
            "model": model_identity,
            "numerics": numerics,
            "task": task,
            "task_version": task_version,
            "doc_id": item.doc_id,
            "kind": item.kind,
            "context": context,
            "continuations": list(item.continuations),
            "choice_texts": list(item.choice_texts),
            "target": item.target,
            "stop": list(item.stop),
            "max_tokens": item.max_tokens,
            "sampling": [item.samples, item.temperature, item.top_p, item.sample_seed],
            "extra": item.extra,
            "scoring": scoring or {},
            # Later item fields enter only when set, so keys of items without them stay valid.
            **({"followups": list(item.followups)} if item.followups else {}),
        }
    )


def numerics_of(info: ModelInfo) -> dict[str, str]:
    """What besides the weights moves a model's outputs: dtype, device kind, llama.cpp's KV cache type."""
    numerics = {"dtype": str(info.dtype), "device": str(info.device).split(":")[0]}
    if "kv_cache" in info.extra:  # llama.cpp: an f16 KV cache moves log-probs by ~2e-3
        numerics["kv_cache"] = info.extra["kv_cache"]
    return numerics


def completion_key(info: ModelInfo, request: GenRequest) -> str:
    """One generation request to one model (its identity and numerics), for the completion cache."""
    request_json = request.model_dump(mode="json")
    return _digest(
        {**stack_field(info.backend), "model": info.identity, "numerics": numerics_of(info), "request": request_json}
    )


def run_key(payload: dict[str, Any]) -> str:
    """Identifies "the same command": re-running it resumes the unfinished run."""
    return _digest(payload)
