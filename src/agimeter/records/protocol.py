"""A task's protocol as a run stores it (``Task.protocol()``, with the chat template as applied).

A protocol is the task's own document, hashed as written (``protocol_hash``): the fields that
readers use are typed here, everything else is kept as written, and a protocol is serialised
exactly as it was read, with no default added, so that stored documents and their hashes never
change by passing through these records."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, SerializerFunctionWrapHandler, model_serializer


class StoredDocument(BaseModel):
    """Typed where readers read, the rest kept; dumped with only what was given."""

    model_config = ConfigDict(extra="allow")

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        given = self.model_fields_set | set(self.model_extra or {})
        return {k: v for k, v in data.items() if k in given}


class FewshotProtocol(StoredDocument):
    num_fewshot: NonNegativeInt | None = None  # every exemplar in the prompt
    chain_of_thought: bool = False


class PromptProtocol(StoredDocument):
    description: str = ""
    doc_to_text: str = ""
    # Whether the chat template was applied (older runs: the task's own default, whatever --chat was).
    chat: bool = False


class GenerationProtocol(StoredDocument):
    max_tokens: int | None = None
    stop: list[str] | None = None
    n: int = 1
    temperature: float = 0.0


class ScoringProtocol(StoredDocument):
    kind: str = ""


class StandardProtocol(StoredDocument):
    """The task's own protocol, which a run with ``--num-fewshot`` or ``--chat`` may leave."""

    num_fewshot: int | None = None
    chat: bool = False


class TaskProtocol(StoredDocument):
    """The parts of a task's stored protocol that readers use; the rest is kept."""

    task: str | None = None
    version: str | int | None = None
    dimension: str | None = None
    output_type: str | None = None
    metrics: list[str] = Field(default_factory=list)
    fewshot: FewshotProtocol | None = None
    prompt: PromptProtocol | None = None
    generation: GenerationProtocol | None = None
    scoring: ScoringProtocol | None = None
    # Stored since the task declared it (None: an older run, built-in tasks then counted).
    counts_toward_dimension: bool | None = None
    standard: StandardProtocol | None = None  # None: a run stored before the task's own was kept
    deviations: list[str] = Field(default_factory=list)
    protocol_hash: str | None = None
    # Subtasks that also count toward another dimension (MT-Bench writing + roleplay: creativity).
    subtask_dimensions: dict[str, str] = Field(default_factory=dict)

    @property
    def shots(self) -> int | None:
        return self.fewshot.num_fewshot if self.fewshot is not None else None

    @property
    def chat(self) -> bool:
        """Whether the prompt went through the chat template, as the protocol records it."""
        return self.prompt.chat if self.prompt is not None else False
