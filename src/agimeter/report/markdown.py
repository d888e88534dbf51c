"""The report as markdown: the same summary and tables as the HTML report, without plots."""

from __future__ import annotations

from agimeter.report.data import ReportData
from agimeter.report.tables import Table, all_tables

SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Leaderboard and cost", ("table-leaderboard", "table-solved")),
    ("Pareto frontier", ("table-pareto-cost", "table-pareto-size")),
    ("Capability density", ("table-density", "table-family-density")),
    ("Latency", ("table-latency",)),
    ("Measured vs published", ("table-side-by-side",)),
    ("Measured models compared (paired)", ("table-compare",)),
    ("Published laws vs our fits", ("table-laws", "table-price-claim")),
    ("Protocol appendix", ("table-protocols", "table-published-scores")),
)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def render_table(table: Table) -> str:
    if not table.rows:
        return f"*{table.title}: nothing to show.*\n"
    lines = [
        f"### {table.title}",
        "",
        "| " + " | ".join(_escape(c) for c in table.columns) + " |",
        "|" + "---|" * len(table.columns),
    ]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in table.rows]
    if table.caption:
        lines += ["", f"*{_escape(table.caption)}*"]
    return "\n".join(lines) + "\n"


def render_markdown(data: ReportData) -> str:
    tables = all_tables(data)
    n_eval = sum(r.kind == "eval" for r in data.runs)
    out = [
        "# agimeter report",
        "",
        f"- {len(data.measured)} **measured** entries (agimeter runs: {n_eval} evaluation, "
        f"{len(data.runs) - n_eval} perf) and {len(data.published)} **published** entries "
        "(reported by their makers or papers, not re-measured)",
        f"- generated {data.generated_at:%Y-%m-%d %H:%M} UTC by agimeter {data.agimeter_version}",
        f"- store: `{data.store}`",
    ]
    out += [
        f"- catalog {c.catalog}: `{c.path}` (sha256 {c.sha256[:12]}, {c.models} models, {c.scores} scores, "
        f"{c.prices} prices, {c.laws} laws)"
        for c in data.catalogs
    ]
    out += ["", "Every table says whether a number is measured (run here) or published (taken from its source).", ""]
    if data.notes:
        out += ["## Notes", "", *[f"- {_escape(n)}" for n in data.notes], ""]
    out += ["## Runs", "", render_table(tables["table-runs"])]
    sweeps = tuple(f"table-sweep-{s.sweep_id}" for s in data.sweeps)
    for title, ids in (*SECTIONS[:2], ("Quantization sweeps", sweeps), *SECTIONS[2:]):
        out += [f"## {title}", ""]
        out += [render_table(tables[i]) for i in ids] if ids else ["*No quantization sweep in this store.*", ""]
    return "\n".join(out)
