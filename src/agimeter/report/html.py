"""The report as one self-contained HTML file: plotly.js inlined once, no external resource.

Stable element ids (for links and browser tests): sections ``summary``, ``radar``,
``leaderboard``, ``pareto``, ``quantization``, ``density``, ``latency``, ``side-by-side``, ``compare``, ``laws``,
``protocols``;
plot divs ``plot-radar``, ``plot-pareto-cost``, ``plot-pareto-size``, ``plot-density-trend``,
``plot-family-density``, ``plot-price-trend``, ``plot-price-claim``, ``plot-latency-percentiles``,
``plot-latency-cdf``, ``plot-sweep-<sweep id>`` (a plot whose data is missing is replaced by a
``<p class="missing">`` saying why); tables ``table-*`` (see tables.py);
the data itself as JSON in ``<script type="application/json" id="report-data">``.
"""

from __future__ import annotations

import html
from typing import Any

from plotly.offline import get_plotlyjs

from agimeter.report import figures
from agimeter.report.data import ReportData
from agimeter.report.tables import Table, all_tables, dimensions_of

PLOT_CONFIG: dict[str, Any] = {"displaylogo": False, "responsive": True}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 1.5rem 4rem; color: #222; }
nav a { margin-right: 1rem; }
section { margin-top: 2.5rem; border-top: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; vertical-align: top; text-align: left; }
th { background: #f4f4f4; position: sticky; top: 0; }
td { max-width: 40rem; overflow-wrap: anywhere; }
tr.measured td:first-child { border-left: 4px solid #d62728; }
tr.published td:first-child { border-left: 4px solid #1f77b4; }
.badge { font-size: 0.75rem; padding: 0 0.3rem; border-radius: 3px; color: #fff; }
.badge.measured { background: #d62728; } .badge.published { background: #1f77b4; }
.missing, .note { color: #666; font-style: italic; }
.caption { color: #555; font-size: 0.85rem; }
details summary { cursor: pointer; }
"""

SECTIONS = (
    ("summary", "Summary"),
    ("radar", "Capability by dimension"),
    ("leaderboard", "Leaderboard and cost"),
    ("pareto", "Pareto frontier"),
    ("quantization", "Quantization sweeps"),
    ("density", "Capability density over time"),
    ("latency", "Latency"),
    ("side-by-side", "Measured vs published"),
    ("compare", "Measured models compared (paired)"),
    ("laws", "Published laws vs our fits"),
    ("protocols", "Protocol appendix"),
)


def render_table(table: Table) -> str:
    if not table.rows:
        return f'<p class="missing" id="{table.id}">{html.escape(table.title)}: nothing to show.</p>'
    prov = table.columns.index("provenance") if "provenance" in table.columns else None
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cls = f' class="{html.escape(row[prov])}"' if prov is not None else ""
        cells = "".join(f"<td>{_cell(c, i == prov)}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    caption = f'<p class="caption">{html.escape(table.caption)}</p>' if table.caption else ""
    return (
        f'<h3>{html.escape(table.title)}</h3><table id="{table.id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{caption}"
    )


def _cell(text: str, provenance: bool) -> str:
    if provenance and text in ("measured", "published"):
        return f'<span class="badge {text}">{text}</span>'
    return html.escape(text).replace("\n", "<br>")


def _plot(fig: Any, div_id: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG))


def _missing(div_id: str, why: str) -> str:
    return f'<p class="missing" data-plot="{div_id}">{html.escape(why)}</p>'


def _plots(data: ReportData) -> dict[str, str]:
    out: dict[str, str] = {}
    measured = [e for e in data.measured if e.dimensions]
    reference = [e for k in data.radar_reference if (e := data.entry(k)) is not None]
    axes = dimensions_of([*measured, *reference])  # a measured model with one task still gets a shape
    out["plot-radar"] = (
        _plot(figures.radar(measured, reference, axes), "plot-radar")
        if axes
        else _missing("plot-radar", "no dimension scores")
    )
    for div_id, report, y in (
        ("plot-pareto-cost", data.pareto_cost, "overall capability (0-100)"),
        ("plot-pareto-size", data.pareto_size, "overall capability (0-100)"),
    ):
        if report is None or not report.points:
            out[div_id] = _missing(div_id, "no model has both a capability score and a value on this axis")
        else:
            marks = "self-hosted ◆, API price ●" if report.cost == "usd_per_1m" else "measured ◆, published ●"
            title = f"{report.capability} vs {report.cost_label} ({marks})<br><sup>{report.grouping}</sup>"
            out[div_id] = _plot(figures.pareto(figures.pareto_points(report), report.cost_label, y, title), div_id)
    price_title = "Price of a fixed capability over time"
    if data.price_trend is not None:  # name the threshold: "... with mmlu >= 42%"
        price_title = f"Price of the cheapest model with {data.price_trend.quantity.rsplit(' with ', 1)[-1]}"
    for div_id, fit, y, title, sensitivity in (
        (
            "plot-density-trend",
            data.density_trend,
            "relative density ρ (log)",
            "Capability density by release date",
            [(f"on {f.quantity.rsplit(' on ', 1)[-1]}", f) for f in data.density_sensitivity],
        ),
        ("plot-price-trend", data.price_trend, "$ per 1M tokens (log)", price_title, []),
    ):
        if fit is None or not fit.points:
            out[div_id] = _missing(div_id, "no dated points" + (f": {fit.status}" if fit else ""))
        else:
            out[div_id] = _plot(figures.trend_figure(fit, y, title, sensitivity), div_id)
    families = [r for r in data.family_density if r.rows]
    out["plot-family-density"] = (
        _plot(figures.family_curves(families), "plot-family-density")
        if families
        else _missing("plot-family-density", "no measured model with a published family (and shared benchmarks)")
    )
    claim = data.price_claim
    if claim is None or not claim.rows[0].fit.points:
        out["plot-price-claim"] = _missing("plot-price-claim", "no price points of the claim's family")
    else:
        spec = claim.claim
        out["plot-price-claim"] = _plot(
            figures.trend_figure(
                claim.rows[0].fit,
                f"{spec.currency} per 1M tokens, {spec.basis} (log)",
                f'"{spec.text}" ({spec.who}, {spec.date})',
                [(claim.rows[2].label, claim.rows[2].fit)],
            ),
            "plot-price-claim",
        )
    perf = [e for e in data.measured if e.latency]
    for div_id, make in (
        ("plot-latency-percentiles", figures.latency_percentiles),
        ("plot-latency-cdf", figures.latency_cdf),
    ):
        out[div_id] = _plot(make(perf), div_id) if perf else _missing(div_id, "no perf runs in this report")
    return out


def _sweeps(data: ReportData, tables: dict[str, str]) -> str:
    """Per sweep: its plot (``plot-sweep-<id>``) and table (``table-sweep-<id>``)."""
    from agimeter.report.figures_sweep import sweep_figure

    if not data.sweeps:
        return _missing("plot-sweep", "no quantization sweep (agimeter sweep) among the report's runs")
    parts = []
    for sweep in data.sweeps:
        div_id = f"plot-sweep-{sweep.sweep_id}"
        parts.append(_plot(sweep_figure(sweep), div_id) + tables[f"table-sweep-{sweep.sweep_id}"])
    return "".join(parts)


def _summary(data: ReportData) -> str:
    n_eval = sum(r.kind == "eval" for r in data.runs)
    n_perf = len(data.runs) - n_eval
    items = [
        f"<b>{len(data.measured)}</b> measured entries (agimeter runs: {n_eval} evaluation, {n_perf} perf) and "
        f"<b>{len(data.published)}</b> published entries (reported by their makers or papers, not re-measured)",
        f"generated {data.generated_at:%Y-%m-%d %H:%M} UTC by agimeter {html.escape(data.agimeter_version)}",
        f"store: <code>{html.escape(data.store)}</code>",
    ]
    items += [
        f"catalog {html.escape(c.catalog)}: <code>{html.escape(c.path)}</code> (sha256 {c.sha256[:12]}, "
        f"{c.models} models, {c.scores} scores, {c.prices} prices, {c.laws} laws)"
        for c in data.catalogs
    ]
    lis = "".join(f"<li>{i}</li>" for i in items)
    notes = "".join(f'<li class="note">{html.escape(n)}</li>' for n in data.notes)
    legend = (
        '<p>Every number is labelled <span class="badge measured">measured</span> (run here by agimeter) or '
        '<span class="badge published">published</span> (taken from the cited source).</p>'
    )
    return f"<ul>{lis}</ul>{legend}" + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")


def render_html(data: ReportData) -> str:
    tables = {k: render_table(t) for k, t in all_tables(data).items()}
    plots = _plots(data)
    body = {
        "summary": _summary(data) + tables["table-runs"],
        "radar": plots["plot-radar"]
        + '<p class="caption">Published entries (dotted) are scored on their reported benchmarks, '
        "not on the tasks measured here.</p>",
        "leaderboard": tables["table-leaderboard"] + tables["table-solved"],
        "pareto": plots["plot-pareto-cost"]
        + tables["table-pareto-cost"]
        + plots["plot-pareto-size"]
        + tables["table-pareto-size"],
        "quantization": _sweeps(data, tables),
        "density": plots["plot-density-trend"]
        + tables["table-density"]
        + plots["plot-family-density"]
        + tables["table-family-density"],
        "latency": plots["plot-latency-percentiles"] + plots["plot-latency-cdf"] + tables["table-latency"],
        "side-by-side": tables["table-side-by-side"],
        "compare": tables["table-compare"],
        "laws": tables["table-laws"]
        + plots["plot-price-trend"]
        + tables["table-price-claim"]
        + plots["plot-price-claim"],
        "protocols": tables["table-protocols"]
        + f"<details><summary>Published scores ({sum(len(e.scores) for e in data.published)})</summary>"
        + tables["table-published-scores"]
        + "</details>",
    }
    nav = "".join(f'<a href="#{sid}">{html.escape(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(
        f'<section id="{sid}"><h2>{html.escape(title)}</h2>{body[sid]}</section>' for sid, title in SECTIONS
    )
    payload = data.model_dump_json().replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>agimeter report {data.generated_at:%Y-%m-%d}</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f"<body><h1>agimeter report</h1><nav>{nav}</nav>{sections}"
        f'<script type="application/json" id="report-data">{payload}</script></body></html>\n'
    )
