"""Published numbers (model sizes, release dates, reported scores, API prices, trend "laws") read
from a catalog file such as ``shared/catalog/published.json``.

They enter the store as *published* records, each carrying its citation and the catalog it came
from, and are never mixed with measured results: every view that shows both labels each row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agimeter.errors import ConfigError, first_problem

PUBLISHED_SCHEMA_VERSION = 1
CATALOG_SCHEMA_VERSIONS = (1,)


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    key: str
    title: str = ""
    url: str = ""
    date: str | None = None

    def text(self) -> str:
        return f"{self.title or self.key} <{self.url}>" if self.url else (self.title or self.key)


class PublishedScore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    benchmark: str
    value: float = Field(ge=0, le=100)  # percent: every catalog metric is a percentage
    shots: int | None = Field(default=None, ge=0)
    metric: str = ""
    setting: str = ""
    source: str  # citation key


class PublishedModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str
    family: str = ""
    organization: str = ""
    variant: Literal["base", "instruct"] = "base"
    released: dt.date | None = None
    released_approx: str | None = None
    released_source: str | None = None
    params_total_b: float | None = Field(default=None, gt=0)
    params_non_embedding_b: float | None = Field(default=None, gt=0)
    params_active_b: float | None = Field(default=None, gt=0)
    open_weights: bool = True
    note: str = ""
    source: str = ""
    scores: list[PublishedScore] = Field(default_factory=list)

    def release_date(self) -> dt.date | None:
        """The sourced day, else the middle of the approximate month (or year)."""
        if self.released is not None:
            return self.released
        approx = self.released_approx or ""
        try:
            if len(approx) == 7:
                return dt.date.fromisoformat(approx + "-15")
            if len(approx) == 4:
                return dt.date(int(approx), 7, 1)
        except ValueError:
            return None
        return None


class PublishedPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    provider: str
    model: str
    date: dt.date
    currency: Literal["USD", "CNY"]
    input_per_mtok: float | None = Field(default=None, ge=0)
    output_per_mtok: float | None = Field(default=None, ge=0)
    source: str
    note: str = ""


class PublishedLaw(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    quantity: str = ""
    doubling_months: float | None = Field(default=None, gt=0)
    halving_months: float | None = Field(default=None, gt=0)
    factor_per_year: Annotated[float, Field(gt=0)] | str | None = None  # a number, or a range in words ("5-10")
    source: str = ""
    note: str = ""


class Catalog(BaseModel):
    """The catalog file (schema version 1). No number in it may be NaN or infinite, scores are
    percentages in [0, 100], sizes positive and prices non-negative."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schema_version: int
    notes: str = ""
    models: list[PublishedModel] = Field(default_factory=list)
    prices: list[PublishedPrice] = Field(default_factory=list)
    laws: list[PublishedLaw] = Field(default_factory=list)
    sources: dict[str, Citation] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _source_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("sources"), dict):
            data = {**data, "sources": {k: {"key": k, **v} for k, v in data["sources"].items() if isinstance(v, dict)}}
        return data

    def cite(self, key: str) -> Citation:
        return self.sources.get(key, Citation(key=key))


class CatalogImport(BaseModel):
    """Provenance of one import: which file, which content, when."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = PUBLISHED_SCHEMA_VERSION
    catalog: str  # label; a later import under the same label replaces this one's rows
    path: str
    sha256: str
    imported_at: dt.datetime
    models: int
    scores: int
    prices: int
    laws: int


def load_catalog(path: Path) -> tuple[Catalog, str]:
    """The parsed catalog and its sha256. Errors name the file and the first bad field."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: catalog not found (give --catalog or set AGIMETER_CATALOG)") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: line {err.lineno}: invalid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object with models/prices/laws/sources")
    version = data.get("schema_version")
    if version not in CATALOG_SCHEMA_VERSIONS:
        raise ConfigError(
            f"{path}: schema_version {version!r} is not supported (expected one of {CATALOG_SCHEMA_VERSIONS})"
        )
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as err:
        field, message = first_problem(err)
        raise ConfigError(f"{path}: {field}: {message}") from None
    cited = {s.source for m in catalog.models for s in m.scores} | {p.source for p in catalog.prices}
    unknown = sorted(cited - set(catalog.sources))
    if unknown and catalog.sources:
        raise ConfigError(f"{path}: source key(s) {', '.join(unknown)} are cited but not in sources")
    return catalog, hashlib.sha256(raw).hexdigest()
