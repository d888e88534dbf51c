"""Which run a model's number for a task comes from: the one rule every view uses.

An entry's score for a task is *chosen*, never "the newest run wins":

1. a pin (``agimeter pin MODEL RUN [--task T]``) wins when the pinned run has the task (a pin for
   that task before a pin of the whole run);
2. otherwise the run with the most items under the task's **standard protocol** (ties: the
   newest). A ``--limit`` or ``--sample`` run is still the standard protocol, on fewer items; a
   ``--num-fewshot`` or ``--chat`` override that changes what the task asks for is not;
3. a task measured only under another protocol shows its largest such run, labelled
   ``non-standard protocol``.

A chosen score *counts* (toward its dimension, the overall index and rankings) only when it is
under the standard protocol, has at least ``min_items`` items (default: 50, or the whole task
when it is smaller; ``--min-items N`` sets one bar for all tasks) and belongs to a task that
declares ``counts_toward_dimension`` (every built-in task does; a user task only if it says
so). Otherwise it is shown with its status (``insufficient``, ``non-standard protocol``, ``user
task``) and left out of every aggregate. Every chosen score names its run and its n.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from agimeter.store.records import PinRecord, RunRecord

DEFAULT_MIN_ITEMS = 50
PERF_TASK = "perf"  # how a perf run is pinned (``agimeter pin MODEL RUN --task perf``)
ScoreStatus = Literal["ok", "insufficient", "non-standard protocol", "user task"]
Rule = Literal["pinned", "most items", "most items, non-standard protocol"]


@dataclass(frozen=True)
class SelectionPolicy:
    """How runs are chosen: ``min_items`` (None: the per-task default) and the pins to honour."""

    min_items: int | None = None
    pins: Sequence[PinRecord] = field(default_factory=tuple)

    def min_items_for(self, task_size: int | None) -> int:
        if self.min_items is not None:
            return self.min_items
        return min(DEFAULT_MIN_ITEMS, task_size) if task_size else DEFAULT_MIN_ITEMS

    def pin_for(self, identity: str, task: str, run_ids: set[str]) -> PinRecord | None:
        """The pin that applies to (model, task) among the candidate runs, if any."""
        mine = [p for p in self.pins if p.model_identity == identity and p.run_id in run_ids]
        exact = [p for p in mine if p.task == task]
        whole = [p for p in mine if p.task is None]
        return max(exact or whole, key=lambda p: p.created_at) if exact or whole else None


@dataclass(frozen=True)
class Candidate:
    """One run's result for one task."""

    run: RunRecord
    n: int
    standard: bool
    deviation: str  # how it leaves the standard protocol ("" when it does not)
    task_size: int | None


@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    rule: Rule
    others: list[Candidate]  # the runs not chosen, largest first

    @property
    def run(self) -> RunRecord:
        return self.candidate.run

    def describe(self) -> str:
        """The choice in words: "run abc (n=50), most items of 2 runs; also run def (n=1)"."""
        c = self.candidate
        text = f"run {c.run.id} (n={c.n}), {self.rule}"
        if self.others:
            text += f" of {len(self.others) + 1} runs; also " + ", ".join(
                f"run {o.run.id} (n={o.n}{', ' + o.deviation if o.deviation else ''})" for o in self.others[:3]
            )
            text += " …" if len(self.others) > 3 else ""
        return text


def _order(c: Candidate) -> tuple[int, dt.datetime, str]:
    return (c.n, c.run.created_at, c.run.id)


def choose(identity: str, task: str, candidates: Sequence[Candidate], policy: SelectionPolicy) -> Choice:
    """The run whose result stands for (model, task); ``candidates`` must not be empty."""
    pin = policy.pin_for(identity, task, {c.run.id for c in candidates})
    if pin is not None:
        chosen = next(c for c in candidates if c.run.id == pin.run_id)
        rule: Rule = "pinned"
    else:
        standard = [c for c in candidates if c.standard]
        chosen = max(standard or candidates, key=_order)
        rule = "most items" if standard else "most items, non-standard protocol"
    others = sorted((c for c in candidates if c is not chosen), key=_order, reverse=True)
    return Choice(candidate=chosen, rule=rule, others=others)


def status_of(
    task: str, choice: Choice, policy: SelectionPolicy, protocol: Mapping[str, Any]
) -> tuple[ScoreStatus, str]:
    """Whether the chosen score counts ("ok") and, if not, why in words."""
    c = choice.candidate
    minimum = policy.min_items_for(c.task_size)
    if not c.standard:
        return "non-standard protocol", f"non-standard protocol ({c.deviation}): shown, not ranked"
    if c.n < minimum:
        return "insufficient", f"insufficient: n={c.n} < {minimum} items (--min-items): shown, not ranked"
    if not counts_toward_dimension(protocol, task):
        return "user task", "user task that does not declare counts_toward_dimension: not in its dimension"
    return "ok", ""


# facts about one stored run ------------------------------------------------------------------
def task_size(run: RunRecord, task: str, n: int) -> int | None:
    """Documents in the whole task: as stored with the run, else the sampled population, else
    ``n`` when the run took every document (no --limit/--sample/--target-ci); None if unknown."""
    sizes = run.summary.get("task_sizes")
    if isinstance(sizes, dict) and isinstance(sizes.get(task), int):
        return int(sizes[task])
    population = (run.summary.get("populations") or {}).get(task)
    if isinstance(population, dict) and population:
        return sum(int(v) for v in population.values())
    config = run.config
    if all(config.get(k) is None for k in ("limit", "sample", "target_ci")):
        return n
    return None


def deviation(run: RunRecord, task: str, protocol: Mapping[str, Any]) -> str:
    """How the run's protocol for ``task`` leaves the task's own (``""``: it does not)."""
    out = []
    fewshot = protocol.get("fewshot") or {}
    shots = fewshot.get("num_fewshot") if isinstance(fewshot, dict) else None
    standard = protocol.get("standard")
    if isinstance(standard, dict):  # stored by agimeter >= this rule: compare with the task's own
        if shots != standard.get("num_fewshot"):
            out.append(f"{shots}-shot instead of {standard.get('num_fewshot')}")
    elif run.config.get("num_fewshot") is not None:  # older runs: any override is a deviation
        out.append(f"--num-fewshot {run.config['num_fewshot']}")
    mode = run.config.get("chat", "auto")
    if mode != "auto":
        applied = (run.summary.get("chat_template") or {}).get(task)
        prompt = protocol.get("prompt") or {}
        default = standard.get("chat") if isinstance(standard, dict) else prompt.get("chat")  # older: the default
        if applied is not None and bool(applied) != bool(default):
            out.append(f"--chat {mode}: chat template {'on' if applied else 'off'}, the task says "
                       f"{'on' if default else 'off'}")  # fmt: skip
    return "; ".join(out)


@cache
def _builtin_names() -> frozenset[str]:
    from agimeter.tasks.registry import builtin_task_names

    return frozenset(builtin_task_names())


def counts_toward_dimension(protocol: Mapping[str, Any], task: str) -> bool:
    """What the task declares; a run stored before tasks declared it counts when it is built in."""
    declared = protocol.get("counts_toward_dimension")
    if isinstance(declared, bool):
        return declared
    return task in _builtin_names()
