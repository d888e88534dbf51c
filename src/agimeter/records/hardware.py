"""The machine a run used, as stored with its measurement (detected by ``backends.hardware``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class HardwareInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_model: str
    cpu_cores_logical: int
    cpu_cores_physical: int | None
    ram_bytes: int
    gpu: str | None = None
    os: str
    python: str
    torch: str | None = None
