"""SQLAlchemy tables. Item results are a content-addressed cache (``cache_key``); a run points
at the items it used, so a resumed or repeated run reuses finished items without duplicates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# A local hf:<dir> or gguf: identity is "sha256:" + 64 hex digits (71); hf:<hub id>@<commit> is up to 140.
IDENTITY_LENGTH = 200


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    run_key: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    model: Mapped[str] = mapped_column(Text)
    model_identity: Mapped[str] = mapped_column(String(IDENTITY_LENGTH))
    tasks: Mapped[list[str]] = mapped_column(JSON)
    config: Mapped[dict[str, object]] = mapped_column(JSON)
    model_info: Mapped[dict[str, object]] = mapped_column(JSON)
    summary: Mapped[dict[str, object]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Loaded with the run (one query per batch of runs): the latest says whether its owner lives.
    sessions: Mapped[list[RunSessionRow]] = relationship(
        order_by="RunSessionRow.number", lazy="selectin", viewonly=True
    )


class RunSessionRow(Base):
    """One process's go at a run, and its lease on it. A table of its own (``create_all`` adds it
    to stores made before it existed) rather than new columns on ``runs``."""

    __tablename__ = "run_sessions"
    __table_args__ = (UniqueConstraint("run_id", "number", name="uq_run_session_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    schema_version: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    process_started: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime)
    load_s: Mapped[float] = mapped_column(Float)
    wall_s: Mapped[float] = mapped_column(Float)
    items_computed: Mapped[int] = mapped_column(Integer)


class ItemRow(Base):
    __tablename__ = "item_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cache_key: Mapped[str] = mapped_column(String(64), unique=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(128), index=True)
    doc_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    record: Mapped[dict[str, object]] = mapped_column(JSON)


class RunItemRow(Base):
    __tablename__ = "run_items"
    __table_args__ = (UniqueConstraint("run_id", "task", "doc_id", name="uq_run_task_doc"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    task: Mapped[str] = mapped_column(String(128))
    doc_id: Mapped[int] = mapped_column(Integer)
    cache_key: Mapped[str] = mapped_column(ForeignKey("item_results.cache_key"))
    cached: Mapped[bool] = mapped_column(default=False)


class CompletionRow(Base):
    """A generation result kept by model identity and exact request (``cache_key``): the answers
    of judged tasks and their judges' answers, so that changing the judge, or resuming a killed
    run, never asks a model again what it already answered. ``run_id``: the run that paid for it."""

    __tablename__ = "completions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cache_key: Mapped[str] = mapped_column(String(64), unique=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    record: Mapped[dict[str, object]] = mapped_column(JSON)


class CatalogImportRow(Base):
    """One imported catalog (by label); its published rows are replaced as a whole on re-import."""

    __tablename__ = "catalog_imports"

    catalog: Mapped[str] = mapped_column(String(128), primary_key=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    record: Mapped[dict[str, object]] = mapped_column(JSON)


class PublishedRow(Base):
    """A published model (with its reported scores), price or law, as read from a catalog."""

    __tablename__ = "published"
    __table_args__ = (UniqueConstraint("catalog", "kind", "key", name="uq_published_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    catalog: Mapped[str] = mapped_column(ForeignKey("catalog_imports.catalog"), index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # model | price | law
    key: Mapped[str] = mapped_column(String(256))
    schema_version: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, object]] = mapped_column(JSON)


class PinRow(Base):
    """A run chosen by hand for a model's task (``agimeter pin``): the views use it instead of the
    default choice. ``task`` "" pins the run for every task it has. A table of its own, which
    ``create_all`` adds to stores made before it existed."""

    __tablename__ = "pins"
    __table_args__ = (UniqueConstraint("model_identity", "task", name="uq_pin_identity_task"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    model_identity: Mapped[str] = mapped_column(String(IDENTITY_LENGTH), index=True)
    task: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SweepRow(Base):
    """A quantization sweep (``agimeter sweep``): one source model, its variants and their runs.
    Tables of their own: ``create_all`` adds them to stores made before sweeps existed."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    sweep_key: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime)
    record: Mapped[dict[str, object]] = mapped_column(JSON)


class SweepVariantRow(Base):
    """One row of a sweep (the reference or a variant); its runs are in ``sweep_runs``."""

    __tablename__ = "sweep_variants"
    __table_args__ = (UniqueConstraint("sweep_id", "quant", name="uq_sweep_variant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"), index=True)
    quant: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    schema_version: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, object]] = mapped_column(JSON)


class SweepRunRow(Base):
    """A run that evaluated a row of a sweep (one per group of tasks that share sample and shots)."""

    __tablename__ = "sweep_runs"
    __table_args__ = (UniqueConstraint("sweep_id", "run_id", name="uq_sweep_run"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"), index=True)
    quant: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
