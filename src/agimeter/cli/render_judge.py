"""Terminal rendering of a judged run: the judge (identity, its own meter and cost, a weak local
judge labelled as such) and the judged tasks' figures: MT-Bench on its 1-10 scale per turn and
category, Arena-Hard's win rate with its bootstrap and style-controlled rates, the judge's biases."""

from __future__ import annotations

from rich.table import Table

from agimeter.analysis.judged import Correlation, JudgedFigures, PairwiseFigures, SingleFigures
from agimeter.cost.judge import JudgeCost
from agimeter.runner.meter import JudgeMeasurement


def _corr(c: Correlation) -> str:
    if c.spearman is None:
        return f"n/a (n={c.n})"
    pearson = f", Pearson r {c.pearson:+.2f}" if c.pearson is not None else ""
    return f"Spearman rho {c.spearman:+.2f}{pearson} (n={c.n})"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def judge_table(judge: JudgeMeasurement, cost: JudgeCost) -> Table:
    info = judge.info
    table = Table(
        title="judge (metered and priced apart from the evaluated model)", title_justify="left", show_header=False
    )
    table.add_column("what")
    table.add_column("value")
    size = f", {info.num_parameters / 1e9:.2g}B parameters" if info.num_parameters else ""
    weak = (
        "  [WEAK JUDGE: a small local model; its verdicts are noisy and biased, read with care]" if judge.weak else ""
    )
    rows = [
        ("model", f"{judge.model} ({info.backend}{size}){weak}"),
        ("identity", info.identity[:16] + ("..." if len(info.identity) > 16 else "")),
        ("items judged", f"{judge.items_judged}"),
        ("tokens", f"{judge.prompt_tokens:,} prompt + {judge.completion_tokens:,} completion"),
        ("wall time (judging)", f"{judge.wall_s:.1f} s  (+ judge load {judge.load_s:.1f} s)"),
        ("price", f"${cost.price_per_hour:.3f}/h"),
        ("$ per run (judge)", f"${cost.usd_per_run:.6f}"),
    ]
    if cost.api_price is not None:
        api = f"${cost.api_usd_per_run:.6f}" if cost.api_usd_per_run is not None else "n/a"
        rows += [("judge API price", cost.api_price), ("$ per run (judge API)", api)]
    for row in rows:
        table.add_row(*row)
    return table


def figures_table(figures: list[JudgedFigures]) -> Table:
    table = Table(title="judged tasks", title_justify="left", show_header=False)
    table.add_column("task")
    table.add_column("what")
    table.add_column("value")
    for f in figures:
        rows = _single_rows(f) if isinstance(f, SingleFigures) else _pairwise_rows(f)
        for i, (what, value) in enumerate(rows):
            table.add_row(f.task if i == 0 else "", what, value)
    return table


def _single_rows(f: SingleFigures) -> list[tuple[str, str]]:
    turns = ", ".join(f"turn {t} {v:.2f}" for t, v in f.turns.items())
    rows = [
        ("MT-Bench score (1-10)", f"{f.score:.2f}  ({turns}; {f.judgments} judgments of {f.items} questions)"),
    ]
    if f.categories:
        rows.append(("per category", ", ".join(f"{c} {v:.2f}" for c, v in f.categories.items())))
    rows.append(("bias: rating vs answer length", _corr(f.length_correlation)))
    return rows


def _pairwise_rows(f: PairwiseFigures) -> list[tuple[str, str]]:
    low, high = f.win_rate_ci
    rows = [
        (
            "win rate vs baseline",
            f"{_pct(f.win_rate)}  (90% bootstrap CI {_pct(low)}-{_pct(high)}; {f.battles} battles, {f.items} items)",
        ),
    ]
    if f.style_controlled is not None and f.style_controlled_ci is not None:
        s_low, s_high = f.style_controlled_ci
        coefs = ", ".join(f"{k} {v:+.2f}" for k, v in f.style_coefficients.items())
        rows.append(
            (
                "style-controlled win rate",
                f"{_pct(f.style_controlled)}  ({_pct(s_low)}-{_pct(s_high)}; coefficients {coefs})",
            )
        )
    else:
        rows.append(("style-controlled win rate", "n/a (too few battles or no style variation)"))
    rows += [
        ("games won / tied / lost", f"{f.wins} / {f.ties} / {f.losses}"),
        ("bias: swap inconsistency", f"{_pct(f.swap_inconsistency)} of items change winner when the order is swapped"),
        (
            "bias: first position",
            f"{_pct(f.first_position_wins)} of decisive games won by the answer shown first"
            if f.first_position_wins is not None
            else "n/a (no decisive game)",
        ),
        ("bias: score vs length difference", _corr(f.length_correlation)),
    ]
    return rows
