"""Cache and run keys. A cache key covers model identity, task version, the exact prompt and the
generation settings — never the model name alone."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agimeter.backends.base import GenRequest, ModelInfo
from agimeter.scoring.base import DEFAULT_VERSION, Scorer, ScoringContext
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec, dump_scoring


def _digest(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


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
    model_identity: str,
    numerics: dict[str, str],
    task: str,
    task_version: str,
    item: Item,
    context: str,
    scoring: dict[str, Any] | None = None,
) -> str:
    """``context`` is the prompt exactly as sent (after any chat templating); ``scoring`` is how
    the answer is judged (scorer, its settings, metrics), so a change of judge is not a cache hit."""
    return _digest(
        {
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
    return _digest({"model": info.identity, "numerics": numerics_of(info), "request": request.model_dump(mode="json")})


def run_key(payload: dict[str, Any]) -> str:
    """Identifies "the same command": re-running it resumes the unfinished run."""
    return _digest(payload)
