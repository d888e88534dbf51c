"""Records of a quantization sweep as the store keeps them. Each carries ``schema_version``.

A sweep links one source model (the reference) to its quantized variants and, for each row, the
ordinary run that evaluated it (same items on every row), with what was measured outside that
run: the variant file, a speed probe, peak memory and the divergence of its next-token
distributions from the reference's on a fixed text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agimeter.backends.gguf_probe import SpeedProbe, TextDivergence
from agimeter.backends.gguf_quantize import SourceInfo, Variant
from agimeter.store.records import Owner

SWEEP_SCHEMA_VERSION = 1
SWEEP_VARIANT_SCHEMA_VERSION = 1
REFERENCE = "reference"  # the ``quant`` of the reference row: the source file itself

# "interrupted": stopped by Ctrl-C/SIGTERM, or stored as running while its process is gone.
SweepStatus = Literal["running", "finished", "failed", "interrupted"]
# A row advances pending -> quantized -> evaluated (its run finished) -> done (probes measured).
VariantState = Literal["pending", "quantized", "evaluated", "done", "failed"]


class SweepRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SWEEP_SCHEMA_VERSION
    id: str
    sweep_key: str
    status: SweepStatus
    created_at: datetime
    updated_at: datetime
    heartbeat_at: datetime
    model: str  # as given: gguf:<alias or path>
    source: SourceInfo
    quants: list[str]  # the variants, in the order asked
    options: dict[str, Any] = Field(default_factory=dict)  # runner.sweep.SweepOptions as JSON
    notes: list[str] = Field(default_factory=list)
    owner: Owner | None = None  # the process running it (its lease, with heartbeat_at)
    error: str | None = None


class VariantRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SWEEP_VARIANT_SCHEMA_VERSION
    sweep_id: str
    quant: str  # REFERENCE, or a llama.cpp type name (Q8_0)
    position: int  # 0 for the reference, then the variants in the order asked
    state: VariantState = "pending"
    path: str
    sha256: str
    bytes: int
    variant: Variant | None = None  # None for the reference (the source file)
    run_ids: list[str] = Field(default_factory=list)  # one run per group of tasks (same sample and shots)
    speed: SpeedProbe | None = None
    peak_rss_bytes: int | None = None  # the process that evaluated it (and ran the speed probe)
    divergence: TextDivergence | None = None  # None for the reference (0 by definition) or without a text
    error: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.quant == REFERENCE


__all__ = ["REFERENCE", "SweepRecord", "SweepStatus", "VariantRecord", "VariantState"]
