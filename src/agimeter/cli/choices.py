"""Names that options take (dimensions, capability axes, benchmarks): an unknown name is a
one-line error that lists the known ones (exit 2), never an empty table with exit 0."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from agimeter.analysis.benchmarks import BENCHMARKS
from agimeter.analysis.entries import ModelEntry
from agimeter.errors import ConfigError
from agimeter.tasks.dimensions import DIMENSIONS

MAX_LISTED = 30  # names listed in an error (the message stays one readable line)


def check_name(value: str, flag: str, what: str, known: Iterable[str]) -> None:
    """Refuse ``value`` unless it is one of ``known``: names the closest ones, then all of them."""
    names = sorted(set(known))
    if value in names:
        return
    close = difflib.get_close_matches(value, names, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    listed = ", ".join(names[:MAX_LISTED]) + (f", ... ({len(names)} in all)" if len(names) > MAX_LISTED else "")
    raise ConfigError(f"{flag}: unknown {what} {value!r}{hint} known: {listed}")


def check_dimension(value: str | None, flag: str = "--dimension") -> None:
    if value is not None:
        check_name(value, flag, "dimension", DIMENSIONS)


def known_benchmarks(entries: Sequence[ModelEntry]) -> set[str]:
    """Benchmarks agimeter maps, and every benchmark or task name that some entry has a score on."""
    names = set(BENCHMARKS)
    for entry in entries:
        for score in entry.scores:
            names.add(score.name)
            if score.benchmark:
                names.add(score.benchmark)
    return names


def check_benchmarks(values: Sequence[str], entries: Sequence[ModelEntry], flag: str) -> None:
    if not values:
        raise ConfigError(f"{flag}: give at least one benchmark")
    known = known_benchmarks(entries)
    for value in values:
        check_name(value, flag, "benchmark", known)


def check_capability(axis: str, entries: Sequence[ModelEntry], flag: str = "--capability") -> None:
    """``overall``, a dimension, or a benchmark, optionally as ``dimension:NAME`` / ``benchmark:NAME``."""
    if axis == "overall":
        return
    kind, _, name = axis.partition(":") if ":" in axis else ("", "", axis)
    dimensions = set(DIMENSIONS) | {d for e in entries for d in e.dimensions}
    benchmarks = known_benchmarks(entries)
    if kind == "dimension":
        check_name(name, flag, "dimension", dimensions)
    elif kind == "benchmark":
        check_name(name, flag, "benchmark", benchmarks)
    elif kind:
        raise ConfigError(f"{flag}: unknown axis kind {kind!r}: use overall, dimension:NAME or benchmark:NAME")
    else:
        check_name(name, flag, "capability", {"overall"} | dimensions | benchmarks)
