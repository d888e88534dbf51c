"""The JSON API under ``/api/v1``: entries, runs, comparisons, and uploads from ``agimeter push``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError

from agimeter.analysis.entries import ModelEntry, Provenance
from agimeter.analysis.runs import BadRunError, check_run, run_scores
from agimeter.errors import StoreError
from agimeter.server.query import EntryQuery, select_entries
from agimeter.server.schemas import (
    MAX_LIMIT,
    CompareView,
    EntryPage,
    ErrorBody,
    Health,
    RunDetail,
    RunKind,
    RunPage,
    SortColumn,
    SortOrder,
    UploadBody,
    UploadResult,
)
from agimeter.server.security import check_bearer
from agimeter.server.state import ServerState, StateDep
from agimeter.server.views import run_kind, run_summary, utc
from agimeter.store.records import RunRecord, RunStatus
from agimeter.tasks.dimensions import Dimension

router = APIRouter(prefix="/api/v1", tags=["api"])

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,99}$"
RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Not found"}}

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-500).")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
Text = Annotated[str | None, Query(min_length=1, max_length=200)]
EntryKey = Annotated[str, Query(pattern=KEY_PATTERN, max_length=100, description="An entry key.")]

bearer = HTTPBearer(auto_error=False, description="The server's push token (AGIMETER_PUSH_TOKEN).")


def require_token(
    state: StateDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    problem = check_bearer(header, state.push_token)
    if problem is not None:
        code, detail = problem
        raise HTTPException(code, detail, headers={"WWW-Authenticate": "Bearer"} if code == 401 else None)


@router.get("/health", response_model=Health)
async def health(state: StateDep) -> Health:
    """Counts as of the last entry refresh. Reads cached state only (computed once on a cold
    start), so it answers at once however busy the server is with other requests."""
    snap = state.cache.last() or await state.compares.snapshot()
    return Health(
        runs=snap.runs,
        entries=len(snap.entries),
        published_models=sum(e.provenance == "published" for e in snap.entries),
        uploads_enabled=state.push_token is not None,
    )


@router.get("/entries", response_model=EntryPage)
def list_entries(
    state: StateDep,
    limit: Limit = 50,
    offset: Offset = 0,
    provenance: Provenance | None = None,
    backend: Text = None,
    hardware: Annotated[str | None, Query(min_length=1, max_length=200, description="Substring.")] = None,
    dimension: Annotated[Dimension | None, Query(description="Only entries scored on it; default sort.")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="Model name substring.")] = None,
    sort: Annotated[SortColumn | None, Query(description="Column; default: dimension, else overall.")] = None,
    order: Annotated[SortOrder | None, Query(description="Default: desc for scores, asc otherwise.")] = None,
) -> EntryPage:
    """Leaderboard entries, filtered and sorted; entries without a value for the sort column come last."""
    query = EntryQuery(
        provenance=provenance, backend=backend, hardware=hardware, dimension=dimension, q=q, sort=sort, order=order
    )
    chosen = select_entries(state.cache.entries(), query)
    return EntryPage(
        total=len(chosen),
        limit=limit,
        offset=offset,
        sort=query.sort_column,
        order=query.sort_order,
        items=chosen[offset : offset + limit],
    )


def _entry(state: ServerState, key: str) -> ModelEntry:
    entry = state.cache.get(key)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no entry {key!r}")
    return entry


@router.get("/entries/{key}", response_model=ModelEntry, responses=NOT_FOUND)
def get_entry(state: StateDep, key: Annotated[str, Path(pattern=KEY_PATTERN, max_length=100)]) -> ModelEntry:
    return _entry(state, key)


@router.get("/runs", response_model=RunPage)
def list_runs(
    state: StateDep,
    limit: Limit = 50,
    offset: Offset = 0,
    kind: RunKind | None = None,
    status: RunStatus | None = None,
) -> RunPage:
    """Stored runs, newest first."""
    runs = [
        r
        for r in state.store.list_runs()
        if (kind is None or run_kind(r) == kind) and (status is None or r.status == status)
    ]
    return RunPage(
        total=len(runs), limit=limit, offset=offset, items=[run_summary(r) for r in runs[offset : offset + limit]]
    )


def _run(state: ServerState, run_id: str) -> RunRecord:
    try:
        return state.store.get_run(run_id)
    except StoreError as err:
        raise HTTPException(404, str(err)) from None


@router.get("/runs/{run_id}", response_model=RunDetail, responses=NOT_FOUND)
def get_run(state: StateDep, run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN)]) -> RunDetail:
    """One run (by id or unique id prefix) with its per-task scores; a stored run that cannot be
    read says why in ``problem``."""
    run = _run(state, run_id)
    kind = run_kind(run)
    try:
        check_run(run)
        scores = [] if kind == "perf" else run_scores(state.store, run)
        problem = None
    except BadRunError as err:
        scores, problem = [], str(err)
    items = len(state.store.run_item_keys(run.id))
    return RunDetail(run=utc(run), kind=kind, items=items, scores=scores, problem=problem)


BUSY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorBody,
        "description": "Too many comparisons in progress; retry after the Retry-After header's seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
    }
}


@router.get("/compare", response_model=CompareView, responses={**NOT_FOUND, **BUSY})
async def compare(state: StateDep, a: EntryKey, b: EntryKey) -> Response:
    """Two entries side by side (B - A), with an item-level paired test when both are measured.
    Computed once per store state and pair; 503 with Retry-After while the server is busy."""
    result = await state.compares.get(a, b)
    return Response(result.json, media_type="application/json")


@router.post(
    "/runs",
    response_model=UploadResult,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_token)],
    responses={
        401: {"model": ErrorBody, "description": "Missing or wrong token"},
        403: {"model": ErrorBody, "description": "Uploads disabled on this server"},
        409: {"model": ErrorBody, "description": "A run with this id is already stored"},
        413: {"model": ErrorBody, "description": "Body too large"},
    },
)
def upload_run(state: StateDep, body: UploadBody) -> UploadResult:
    """Store a run computed elsewhere with its items, all or nothing."""
    try:
        added = state.store.import_run(body.run, body.items)
    except IntegrityError:  # a concurrent upload of the same id won the race
        added = False
    if not added:
        raise HTTPException(status.HTTP_409_CONFLICT, f"run {body.run.id!r} is already stored")
    state.cache.invalidate()
    state.cache.snapshot()  # recomputed here, by the authenticated writer, not by the next reader
    return UploadResult(id=body.run.id, items=len(body.items))
