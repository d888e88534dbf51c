"""An ``Item``: one document of a task, rendered and ready to send to a backend."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    doc_id: int  # 0-based position in the task's document order
    kind: Literal["multiple_choice", "generate"]
    context: str  # the full prompt: description + few-shot exemplars + this doc's text
    # multiple choice: continuations as scored (target delimiter + choice text)
    continuations: tuple[str, ...] = ()
    # multiple choice: the raw choice texts (lm-eval's acc_norm divides by their length)
    choice_texts: tuple[str, ...] = ()
    target: int | str
    stop: tuple[str, ...] = ()
    max_tokens: int = 0
    subtask: str | None = None
    # Chat-form of the prompt (used only when the chat template is on).
    chat_messages: tuple[tuple[str, str], ...] = ()
    # A conversation: the user turns after the first, each answered after the model's own answer
    # to the turns before it (MT-Bench's second turn).
    followups: tuple[str, ...] = ()
    # Generation: samples per item and how they are drawn (1 greedy sample by default).
    samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    sample_seed: int = 0
    # Per-doc data the scorer needs (the spec's ``scoring.fields``, rendered), JSON-serialisable.
    extra: dict[str, Any] = {}
