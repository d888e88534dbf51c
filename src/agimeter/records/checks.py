"""Checks every stored record shares: no NaN or infinite number anywhere in what a reader reads."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, model_validator


def stored_version(raw: object, current: int) -> int | None:
    """The version of a stored block older than ``current`` (1 when it names none), or None when
    there is nothing to migrate: the current version, or no versioned mapping at all (validation
    then names what is wrong)."""
    if not isinstance(raw, dict):
        return None
    version = raw.get("schema_version", 1)
    return version if isinstance(version, int) and version < current else None


def first_non_finite(value: object, path: str = "") -> str | None:
    """The dotted path of the first NaN or infinite float inside ``value`` (JSON-like), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path or "value"
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, Mapping):
        items: Sequence[tuple[object, object]] = list(value.items())
    elif isinstance(value, list | tuple):
        items = list(enumerate(value))
    else:
        return None
    for key, child in items:
        found = first_non_finite(child, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


class FiniteOnly(BaseModel):
    """A record that refuses a NaN or infinite number anywhere in its raw input, naming where
    (nested records included, whatever their own settings)."""

    @model_validator(mode="before")
    @classmethod
    def _no_non_finite(cls, data: Any) -> Any:
        where = first_non_finite(data)
        if where is not None:
            raise ValueError(f"{where} is not a finite number")
        return data
