"""Server-rendered HTML pages: the leaderboard, one page per model, and a comparison page.

They work without JavaScript: sorting and filtering are links and a GET form handled here.
Query parameters are checked like the API's, but an empty form field means "any".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, cast, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from agimeter.analysis.entries import ModelEntry, Provenance
from agimeter.analysis.entry_model import COST_KIND_SHORT
from agimeter.analysis.ranking import coverage_text
from agimeter.analysis.side_by_side import counterparts
from agimeter.server.query import DIMENSIONS, FIXED_COLUMNS, EntryQuery, facets, select_entries, sort_value, ttft_p50
from agimeter.server.schemas import SortColumn, SortOrder
from agimeter.server.state import StateDep
from agimeter.server.views import entry_sweeps, protocol_diffs

router = APIRouter(include_in_schema=False)
Text = Annotated[str | None, Query(max_length=200)]

COLUMN_LABELS = {
    "model": "Model",
    "provenance": "Provenance",
    "params": "Params (B)",
    "overall": "Overall",
    "rank": "Rank (same coverage)",
    "coverage": "Coverage",
    "cost": "$ / 1M tokens",
    "solved": "$ / solved item",
    "ttft": "TTFT p50 (ms)",
    "memory": "Memory (GB)",
    "backend": "Backend",
    "hardware": "Hardware",
    "released": "Released",
}

_env = Environment(
    loader=PackageLoader("agimeter.server", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def num(value: float | None, fmt: str = ".1f", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:{fmt}}{unit}"


def signed(value: float | None, fmt: str = "+.1f") -> str:
    return num(value, fmt)


def money(value: float | None) -> str:
    """Dollars without scientific notation: small per-token prices keep 2 significant digits."""
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) >= 1 or value == 0:
        return f"{value:,.2f}"
    digits = max(2, 1 - math.floor(math.log10(abs(value))) + 1)
    return f"{value:.{digits}f}"


_env.filters["num"] = num
_env.filters["signed"] = signed
_env.filters["money"] = money
_env.globals["coverage_text"] = coverage_text
_env.globals["cost_kinds"] = COST_KIND_SHORT


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code)


def error_page(request: Request, status_code: int, detail: str) -> HTMLResponse:
    titles = {404: "Not found", 422: "Invalid request", 401: "Unauthorized", 403: "Forbidden", 503: "Busy"}
    return render(
        request, "error.html", status_code, title=titles.get(status_code, "Error"), status=status_code, detail=detail
    )


def _choice(name: str, value: str | None, allowed: Sequence[str]) -> str | None:
    """An empty form field is "any"; anything else must be one of ``allowed``."""
    if not value:
        return None
    if value not in allowed:
        raise HTTPException(422, f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def cell(entry: ModelEntry, column: str) -> str:
    """A leaderboard cell as text (the model and provenance cells are marked up in the template)."""
    value = sort_value(entry, column)
    if column == "params":
        return num(entry.params_b, ".3g")
    if column == "cost":
        kind = f" ({COST_KIND_SHORT[entry.cost.kind]})" if entry.cost and entry.cost.kind else ""
        return money(entry.cost.usd_per_1m_blended if entry.cost else None) + kind
    if column == "solved":
        overall = entry.solved_overall()
        if overall is None:
            return "—"
        return money(overall.usd_per_correct) if overall.status == "ok" else overall.status
    if column == "rank":
        return f"{entry.rank} of {entry.rank_among}" if entry.rank is not None else "—"
    if column == "coverage":
        return coverage_text(entry)
    if column == "ttft":
        return num(ttft_p50(entry), ".0f")
    if column == "memory":
        return num(entry.memory_gb, ".2f")
    if column == "released":
        return entry.released_label or (entry.released.isoformat() if entry.released else "—")
    if column in ("model", "provenance", "backend", "hardware"):
        return str(getattr(entry, column) or "—")
    return num(value if isinstance(value, float) else None)


@router.get("/", response_class=HTMLResponse)
def leaderboard(
    request: Request,
    state: StateDep,
    provenance: Text = None,
    backend: Text = None,
    hardware: Text = None,
    dimension: Text = None,
    q: Text = None,
    sort: Text = None,
    order: Text = None,
) -> HTMLResponse:
    entries = state.cache.entries()
    query = EntryQuery(
        provenance=_choice("provenance", provenance, get_args(Provenance)),
        backend=backend or None,
        hardware=hardware or None,
        dimension=_choice("dimension", dimension, DIMENSIONS),
        q=q or None,
        sort=cast("SortColumn | None", _choice("sort", sort, (*FIXED_COLUMNS, *DIMENSIONS))),
        order=cast("SortOrder | None", _choice("order", order, get_args(SortOrder))),
    )
    rows = select_entries(entries, query)
    available = facets(entries)
    dims = [query.dimension] if query.dimension else [d for d in DIMENSIONS if any(d in e.dimensions for e in rows)]
    columns = ["model", "provenance", "params", "overall", "rank", "coverage", *dims, "cost", "solved", "ttft"]
    columns += ["memory"]
    columns += ["backend", "hardware"]
    columns.append("released")
    current = {k: v for k, v in request.query_params.items() if v and k in _LEADERBOARD_PARAMS}

    def sort_link(column: str) -> str:
        same = query.sort_column == column
        flipped = "asc" if query.sort_order == "desc" else "desc"
        default = EntryQuery(sort=cast("SortColumn", column)).sort_order
        return "?" + urlencode({**current, "sort": column, "order": flipped if same else default})

    return render(
        request,
        "leaderboard.html",
        rows=rows,
        total=len(entries),
        columns=columns,
        labels={**COLUMN_LABELS, **{d: d.replace("_", " ").capitalize() for d in DIMENSIONS}},
        dimensions=set(DIMENSIONS),
        unsortable={"rank", "coverage", "solved"},  # rank is the overall order within a coverage group
        cell=cell,
        sort_link=sort_link,
        query=query,
        facets=available,
        params=current,
    )


_LEADERBOARD_PARAMS = ("provenance", "backend", "hardware", "dimension", "q", "sort", "order")


@router.get("/models/{key}", response_class=HTMLResponse)
def model_page(request: Request, state: StateDep, key: str) -> HTMLResponse:
    entry = state.cache.get(key)
    if entry is None:
        raise HTTPException(404, f"no model {key!r} on this leaderboard")
    entries = state.cache.entries()
    others = counterparts(entry, entries)
    pairs = [
        (other, protocol_diffs(entry, other) if entry.provenance == "measured" else protocol_diffs(other, entry))
        for other in others
    ]
    return render(
        request,
        "model.html",
        entry=entry,
        pairs=pairs,
        scores=sorted(entry.scores, key=lambda s: (s.dimension or "~", s.name)),
        latency=sorted(entry.latency, key=lambda p: (p.run_id, p.level)),
        choices=sorted((e for e in entries if e.key != entry.key), key=lambda e: e.model.lower()),
        sweeps=entry_sweeps(state.store, entry),
    )


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(
    request: Request,
    state: StateDep,
    a: Annotated[str | None, Query(max_length=100)] = None,
    b: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """The same bounded, cached computation as ``/api/v1/compare`` (503 with Retry-After when busy)."""
    snap = await state.compares.snapshot()
    entries = sorted(snap.entries, key=lambda e: e.model.lower())
    view = None
    if a and b:
        missing = [k for k in (a, b) if k not in snap.by_key]
        if missing:
            raise HTTPException(404, f"no model {', '.join(repr(k) for k in missing)} on this leaderboard")
        view = (await state.compares.get(a, b)).view
    return render(request, "compare.html", view=view, entries=entries, a=a or "", b=b or "")
