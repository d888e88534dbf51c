"""What a backend says about the model it loaded; stored with every run."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelInfo(BaseModel):
    """Identity of a loaded model. ``identity`` is a content hash (config + weight files, or hub
    revision) used in cache keys; never just the name. ``backend`` is the stack that serves it
    (``hf``, ``gguf``, ``openai``, ...): the same weights on another stack give other numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str
    name: str
    identity: str
    revision: str | None = None
    num_parameters: int | None = None
    dtype: str | None = None
    device: str | None = None
    has_chat_template: bool = False
    max_length: int | None = None
    extra: dict[str, str] = Field(default_factory=dict)
