"""``agimeter compare RUN_A RUN_B``: paired per-item comparison with CIs and p-values."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from agimeter.cli.consoles import console
from agimeter.cli.options import ConfigOpt, FormatOpt, StoreOpt, check_format
from agimeter.cli.stores import open_store
from agimeter.errors import ConfigError


def compare(
    run_a: Annotated[str, typer.Argument(help="Baseline run id (or unique prefix).")],
    run_b: Annotated[str, typer.Argument(help="Run compared with it.")],
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """B - A on the items both runs share (same prompt): paired bootstrap CI, McNemar p-value."""
    check_format(output)
    if not 0 < alpha < 1:
        raise ConfigError("--alpha must be between 0 and 1")
    from agimeter.analysis.compare import compare_items  # numpy/scipy only when comparing
    from agimeter.analysis.runs import run_items, run_protocols

    result_store = open_store(store, config)
    a, b = result_store.get_run(run_a), result_store.get_run(run_b)
    # a malformed stored run: one line naming the field, exit 2
    protocols = {**run_protocols(b), **run_protocols(a)}
    items_a, items_b = run_items(result_store, a), run_items(result_store, b)
    result = compare_items(items_a, items_b, alpha=alpha, protocols=protocols)
    if result.shared_items == 0:
        raise ConfigError(f"runs {a.id} and {b.id} share no items with the same prompt; nothing to compare")
    if output == "json":
        payload = {"run_a": a.id, "run_b": b.id, **result.model_dump(mode="json")}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    table = Table(title=f"B - A  ·  A = {a.id} ({a.model})  ·  B = {b.id} ({b.model})", title_justify="left")
    for col in ("task", "metric", "n", "A %", "B %", "B - A", "95% CI", "p", "test", "verdict"):
        table.add_column(col, justify="left" if col in ("task", "metric", "test", "verdict") else "right")
    for r in result.rows:
        verdict = Text("significant", style="bold") if r.significant else f"not significant at {alpha:g}"
        table.add_row(
            r.task, r.metric, str(r.n), f"{100 * r.mean_a:.1f}", f"{100 * r.mean_b:.1f}", f"{100 * r.diff:+.1f}",
            f"[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]", f"{r.p_value:.3g}", r.test, verdict,
        )  # fmt: skip
    console.print(table)
    if result.dimensions:
        dims = Table(title="per dimension (normalised: chance 0, perfect 100)", title_justify="left")
        for col in ("dimension", "tasks", "n", "A", "B", "B - A", "95% CI", "p", "verdict"):
            dims.add_column(col, justify="left" if col in ("dimension", "tasks", "verdict") else "right")
        for d in result.dimensions:
            verdict = Text("significant", style="bold") if d.significant else f"not significant at {alpha:g}"
            dims.add_row(
                d.dimension, ", ".join(d.tasks), str(d.n), f"{d.score_a:.1f}", f"{d.score_b:.1f}", f"{d.diff:+.1f}",
                f"[{d.ci_low:+.1f}, {d.ci_high:+.1f}]", f"{d.p_value:.3g}", verdict,
            )  # fmt: skip
        console.print(dims)
    console.print(
        f"{result.shared_items} shared items; {result.only_in_a} only in A, {result.only_in_b} only in B, "
        f"{result.prompt_mismatches} with different prompts (left out)"
    )
