"""Terminal rendering of the capability map: a per-dimension table and a bar chart."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from agimeter.analysis.dimensions import CapabilityMap

BAR_WIDTH = 40


def dimension_table(cmap: CapabilityMap) -> Table:
    table = Table(
        title="capability map (0 = chance, 100 = perfect)",
        title_justify="left",
        caption=f"{cmap.method}; weights: "
        + ", ".join(f"{d} {w:.2f}" for d, w in cmap.weights.items())
        + "; tasks: "
        + "; ".join(f"{d.dimension}: {', '.join(d.tasks)}" for d in cmap.dimensions),
        caption_justify="left",
    )
    for col, justify in (
        ("dimension", "left"),
        ("score", "right"),
        ("95% CI", "right"),
        ("items", "right"),
        ("tokens", "right"),
        ("$", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for d in cmap.dimensions:
        table.add_row(
            d.dimension,
            f"{d.score:5.1f}",
            f"[{d.ci_low:.1f}, {d.ci_high:.1f}]",
            f"{d.items:,}",
            f"{d.tokens:,}",
            f"{d.usd:.6f}" if d.usd is not None else "n/a",
        )
    if cmap.overall is not None and cmap.overall_ci is not None:
        low, high = cmap.overall_ci
        table.add_row("overall", f"{cmap.overall:5.1f}", f"[{low:.1f}, {high:.1f}]", "", "", "", style="bold")
    return table


def bar_chart(cmap: CapabilityMap) -> Text:
    """One bar per dimension: █ up to the score, ─ spanning the CI, on a 0-100 scale."""
    width = max((len(d.dimension) for d in cmap.dimensions), default=8)
    out = Text()
    rows = [(d.dimension, d.score, d.ci_low, d.ci_high) for d in cmap.dimensions]
    if cmap.overall is not None and cmap.overall_ci is not None:
        rows.append(("overall", cmap.overall, *cmap.overall_ci))
    for name, score, low, high in rows:
        cells = []
        for i in range(BAR_WIDTH):
            x = (i + 0.5) * 100 / BAR_WIDTH
            cells.append("█" if x <= score else "─" if low <= x <= high else " ")
        out.append(f"{name:<{width}} ", style="bold" if name == "overall" else "")
        out.append("".join(cells), style="cyan")
        out.append(f" {score:5.1f}  [{low:.1f}, {high:.1f}]\n")
    out.append(f"{'':<{width}} 0{' ' * (BAR_WIDTH - 4)}100\n", style="dim")
    return out
