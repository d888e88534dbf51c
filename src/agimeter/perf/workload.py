"""Prompts for the load generator: synthetic ones of an exact token length, or real task prompts.

Synthetic prompts are random sequences of whole-word tokens of the model's own tokenizer (tokens
that decode to a space + letters and encode back to themselves), checked by re-encoding so the
length is exact, and all different so that no server-side prefix cache flatters the numbers.
Without a tokenizer, prompts are random words and lengths are approximate (flagged).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agimeter.errors import ConfigError

Encode = Callable[[str], list[int]]

_FALLBACK_WORDS = (
    "apple",
    "river",
    "stone",
    "cloud",
    "music",
    "paper",
    "light",
    "green",
    "table",
    "window",
    "garden",
    "silver",
    "orange",
    "number",
    "planet",
    "yellow",
    "bridge",
    "forest",
    "engine",
    "market",
    "letter",
    "castle",
    "winter",
    "summer",
    "doctor",
    "animal",
    "circle",
)


@dataclass(frozen=True)
class PerfPrompt:
    text: str
    input_tokens: int
    exact: bool  # True when the length was checked with the model's tokenizer


def load_tokenizer(name: str) -> tuple[Encode, list[str]]:
    """An HF tokenizer by hub id, local dir or model alias: ``text -> ids`` (no specials) and the
    plain words of its vocabulary."""
    from transformers import AutoTokenizer

    from agimeter.backends.aliases import resolve_alias

    path = name
    alias = None if Path(name).exists() else resolve_alias(name.removeprefix("hf:"))
    if alias is not None:
        from agimeter.backends.gguf_convert import ensure_converted

        path = str(ensure_converted(alias)[0])
    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(path)
    except Exception as err:
        raise ConfigError(f"--tokenizer {name!r}: cannot load: {str(err).splitlines()[0]}") from None
    vocab = [t.lstrip("Ġ▁") for t in tokenizer.get_vocab()]
    return (lambda text: list(tokenizer.encode(text, add_special_tokens=False))), vocab


def synthetic_prompts(
    n: int, input_tokens: int, *, encode: Encode | None, vocab: Sequence[str] | None = None, seed: int = 0
) -> list[PerfPrompt]:
    """``n`` distinct prompts of exactly ``input_tokens`` tokens (approximately, without ``encode``)."""
    if input_tokens < 1:
        raise ConfigError("--input-tokens must be >= 1")
    rng = random.Random(seed)
    if encode is None:
        words = list(_FALLBACK_WORDS)
        return [
            PerfPrompt("".join(" " + rng.choice(words) for _ in range(input_tokens)), input_tokens, exact=False)
            for _ in range(n)
        ]
    pieces = _single_token_words(encode, vocab or [])
    if len(pieces) < 16:
        raise ConfigError("the tokenizer has too few whole-word tokens to build synthetic prompts")
    prompts = []
    for _ in range(n):
        prompts.append(_exact_prompt(rng, pieces, input_tokens, encode))
    return prompts


def _single_token_words(encode: Encode, vocab: Sequence[str]) -> list[str]:
    """Words (with their leading space) that the tokenizer encodes as exactly one token."""
    candidates = {f" {w}" for w in vocab if w.isalpha() and w.isascii() and len(w) >= 3}
    candidates.update(f" {w}" for w in _FALLBACK_WORDS)
    return sorted(word for word in candidates if len(encode(word)) == 1)


def _exact_prompt(rng: random.Random, pieces: list[str], target: int, encode: Encode) -> PerfPrompt:
    words = [rng.choice(pieces) for _ in range(target)]
    for _ in range(50):
        n = len(encode("".join(words)))
        if n == target:
            return PerfPrompt("".join(words), target, exact=True)
        if n > target:
            words.pop()
        else:
            words.append(rng.choice(pieces))
    raise ConfigError(f"could not build a prompt of exactly {target} tokens with this tokenizer")


def task_prompts(task: str, data_dir: str | None, n: int, seed: int) -> list[PerfPrompt]:
    """Rendered prompts of a real task (any built-in or YAML task), cycled to ``n``."""
    from agimeter.tasks.registry import resolve_task
    from agimeter.tasks.task import Task

    spec = resolve_task(task)
    items = Task(spec, Path(data_dir) if data_dir else None).items(limit=None, sample=None, seed=seed)
    if not items:
        raise ConfigError(f"task {task!r} has no items")
    rng = random.Random(seed)
    order = list(range(len(items)))
    rng.shuffle(order)
    return [
        PerfPrompt(items[order[i % len(order)]].context, len(items[order[i % len(order)]].context) // 4, exact=False)
        for i in range(n)
    ]
