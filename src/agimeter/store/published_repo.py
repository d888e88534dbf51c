"""Store methods for published numbers: import a catalog atomically, read it back with provenance."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import delete, select

from agimeter.errors import first_problem
from agimeter.store.published import (
    PUBLISHED_SCHEMA_VERSION,
    Catalog,
    CatalogImport,
    Citation,
    PublishedLaw,
    PublishedModel,
    PublishedPrice,
)
from agimeter.store.tables import CatalogImportRow, PublishedRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
Record = TypeVar("Record", bound=BaseModel)


class PublishedSet(BaseModel):
    """Everything published that the store holds, each row with the catalog it came from."""

    model_config = ConfigDict(extra="forbid")

    imports: list[CatalogImport]
    models: list[tuple[str, PublishedModel]]  # (catalog label, model)
    prices: list[tuple[str, PublishedPrice]]
    laws: list[tuple[str, PublishedLaw]]
    citations: dict[str, dict[str, Citation]]  # catalog label -> key -> citation

    def cite(self, catalog: str, key: str) -> Citation:
        return self.citations.get(catalog, {}).get(key, Citation(key=key))

    @classmethod
    def from_catalog(cls, catalog: Catalog, sha256: str, path: Path, label: str) -> PublishedSet:
        """A catalog file read directly, as the store would return it after an import (nothing written)."""
        record = CatalogImport(
            catalog=label,
            path=str(path),
            sha256=sha256,
            imported_at=datetime.now(UTC).replace(tzinfo=None),
            models=len(catalog.models),
            scores=sum(len(m.scores) for m in catalog.models),
            prices=len(catalog.prices),
            laws=len(catalog.laws),
        )
        return cls(
            imports=[record],
            models=[(label, m) for m in catalog.models],
            prices=[(label, p) for p in catalog.prices],
            laws=[(label, law) for law in catalog.laws],
            citations={label: dict(catalog.sources)},
        )


class PublishedMixin:
    _session: sessionmaker[Session]

    def import_catalog(self, catalog: Catalog, sha256: str, path: Path, label: str) -> tuple[CatalogImport, bool]:
        """Replace the rows of catalog ``label`` by this catalog's, in one transaction. Returns the
        import record and whether anything changed (False when the same content was imported)."""
        with self._session.begin() as s:
            existing = s.get(CatalogImportRow, label)
            if existing is not None and existing.sha256 == sha256:
                return CatalogImport.model_validate(existing.record), False
            record = CatalogImport(
                catalog=label,
                path=str(path),
                sha256=sha256,
                imported_at=datetime.now(UTC).replace(tzinfo=None),
                models=len(catalog.models),
                scores=sum(len(m.scores) for m in catalog.models),
                prices=len(catalog.prices),
                laws=len(catalog.laws),
            )
            s.execute(delete(PublishedRow).where(PublishedRow.catalog == label))
            if existing is None:
                existing = CatalogImportRow(catalog=label)
                s.add(existing)
            existing.schema_version = PUBLISHED_SCHEMA_VERSION
            existing.sha256 = sha256
            existing.imported_at = record.imported_at
            existing.record = record.model_dump(mode="json")
            s.flush()
            rows: list[tuple[str, str, BaseModel]] = [("model", m.id, m) for m in catalog.models]
            rows += [("price", f"{p.provider}/{p.model}@{p.date}", p) for p in catalog.prices]
            rows += [("law", law.name, law) for law in catalog.laws]
            rows += [("source", key, c) for key, c in catalog.sources.items()]
            seen: set[tuple[str, str]] = set()
            for kind, key, value in rows:
                unique, n = key, 1
                while (kind, unique) in seen:
                    n += 1
                    unique = f"{key}#{n}"
                seen.add((kind, unique))
                s.add(
                    PublishedRow(
                        catalog=label,
                        kind=kind,
                        key=unique,
                        schema_version=PUBLISHED_SCHEMA_VERSION,
                        record=value.model_dump(mode="json"),
                    )
                )
            return record, True

    def published(self) -> PublishedSet:
        """Everything imported. A stored row that no longer validates (imported by an older version,
        or written by hand) is left out with a logged warning, so one bad row cannot hide the rest."""
        with self._session() as s:
            imports = [
                r
                for r in (
                    _valid(CatalogImport, row.record, f"catalog {row.catalog!r}")
                    for row in s.scalars(select(CatalogImportRow))
                )
                if r is not None
            ]
            out = PublishedSet(imports=imports, models=[], prices=[], laws=[], citations={})
            for row in s.scalars(select(PublishedRow).order_by(PublishedRow.id)):
                where = f"catalog {row.catalog!r}, {row.kind} {row.key!r}"
                if row.kind == "model" and (model := _valid(PublishedModel, row.record, where)) is not None:
                    out.models.append((row.catalog, model))
                elif row.kind == "price" and (price := _valid(PublishedPrice, row.record, where)) is not None:
                    out.prices.append((row.catalog, price))
                elif row.kind == "law" and (law := _valid(PublishedLaw, row.record, where)) is not None:
                    out.laws.append((row.catalog, law))
                elif row.kind == "source" and (citation := _valid(Citation, row.record, where)) is not None:
                    out.citations.setdefault(row.catalog, {})[citation.key] = citation
            return out


def _valid(model: type[Record], record: object, where: str) -> Record | None:
    try:
        return model.model_validate(record)
    except ValidationError as err:
        field, message = first_problem(err)
        log.warning("stored published row left out: %s: %s: %s", where, field, message)
        return None
