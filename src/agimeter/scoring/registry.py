"""The scorer registry: a task's ``scoring.kind`` names one of these (built-ins in ``scoring/scorers/``).

A new scorer is one file: a ``BaseScorer`` subclass (``SampleScorer`` to judge each sample alone)
under ``@scorer("name", version="1")``. A plugin package puts that file in a module named by an
``agimeter.scorers`` entry point; see ``agimeter.registry``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from agimeter.errors import ConfigError, TaskSpecError
from agimeter.registry import Registry
from agimeter.scoring.base import DEFAULT_VERSION, BaseScorer, Scorer, ScoringContext
from agimeter.tasks.spec import TaskSpec

SCORERS: Registry[Scorer] = Registry("scorer", group="agimeter.scorers", error=TaskSpecError)

S = TypeVar("S", bound=BaseScorer)


def scorer(name: str, *, version: str = DEFAULT_VERSION) -> Callable[[type[S]], type[S]]:
    """``@scorer("name", version="2")`` on a ``BaseScorer`` subclass: register one instance of it."""
    if not version or version != version.strip():
        raise ValueError(f"scorer {name!r}: version must be a non-empty string, got {version!r}")

    def register(cls: type[S]) -> type[S]:
        cls.name, cls.version = name, version
        SCORERS.add(name, cls())
        return cls

    return register


def scorer_names() -> list[str]:
    return SCORERS.names()


def get_scorer(name: str) -> Scorer:
    return SCORERS.get(name, where="scoring.kind")


def scorer_for(spec: TaskSpec) -> Scorer:
    """The scorer of ``spec`` (validated when the spec was loaded)."""
    return get_scorer(spec.scorer)


def check_roles(spec: TaskSpec, scorer: Scorer, context: ScoringContext) -> None:
    """Every model role the scorer needs is in the context."""
    missing = " and a ".join(repr(role) for role in scorer.roles if role not in context.models)
    if missing:
        raise ConfigError(f"{spec.origin}: scorer {scorer.name!r} needs a {missing} model; none is configured")
