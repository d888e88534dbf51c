"""The scorer seam: every metric is a registered ``Scorer`` that turns answered items into ``ItemScore``s.

The runner collects answered items (all of an item's choices or samples back from the model) and
hands them to the task's scorer in batches of about ``batch_size`` outputs; the scorer reports each
item through ``on_scored`` as soon as it has judged it, and the runner commits that item at once.
So a slow scorer (the code sandbox, an LLM judge) decides its own batching and parallelism and
still commits as it goes; a scorer that needs a model of its own names the role (``roles``, e.g.
``"grader"``) and finds that backend in the ``ScoringContext``; what it records per item
(``ItemScore.details``) is stored with the item; and its name and ``version`` are part of every
item's cache key, so bumping the version re-scores instead of reusing old verdicts.

A scorer that cannot score an item now (its judge timed out, was rate-limited, or gave no verdict)
reports a ``ScoreFailure`` for it instead: the runner counts it and stores nothing, so a re-run
asks again; such an item is never scored as a win or a loss. Judge calls go through the context's
``completions`` cache when the runner provides one, so nothing a judge answered is asked twice.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from agimeter.backends.base import Backend, GenCallback, GenRequest, GenResult, Usage
from agimeter.errors import ConfigError
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec

OutputType = Literal["multiple_choice", "generate"]
# A scorer at this version adds no version field to the cache key (keys from before versions stay valid).
DEFAULT_VERSION = "1"


class ItemScore(BaseModel):
    """Per-item outcome: the prediction, correctness and every metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    doc_id: int
    subtask: str | None = None
    kind: str
    target: int | str
    correct: bool  # the task's first metric (for a fractional metric: > 0.5)
    metrics: dict[str, float] = Field(default_factory=dict)
    # The metric a random guesser gets on this item (1/#choices for MC, 0 for generation).
    chance: dict[str, float] = Field(default_factory=dict)
    # Weight of this item in a metric's mean when it is not 1 (IFEval instruction-level).
    weights: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)  # the scorer's evidence, stored with the item
    # What the scorer's own models (a judge) consumed for this item, apart from the evaluated model.
    judge_usage: Usage | None = None
    # multiple choice
    prediction: int | None = None
    prediction_norm: int | None = None
    loglikelihoods: tuple[float, ...] = ()
    gold_is_greedy: bool | None = None
    # generate
    generation: str | None = None
    generations: tuple[str, ...] = ()  # every sample when n > 1
    extracted: str | None = None
    extracted_flexible: str | None = None

    @classmethod
    def for_item(cls, item: Item, **fields: Any) -> ItemScore:
        """The score of ``item`` (its task, doc id, subtask, kind and target) with ``fields``."""
        return cls(
            task=item.task, doc_id=item.doc_id, subtask=item.subtask, kind=item.kind, target=item.target, **fields
        )


@dataclass(frozen=True)
class Answer:
    """One item and everything the evaluated model returned for it."""

    item: Item
    loglikelihoods: tuple[float, ...] = ()  # multiple choice: one per choice
    is_greedy: tuple[bool, ...] | None = None  # multiple choice: whether each choice is the greedy continuation
    generations: tuple[str, ...] = ()  # generate: one per sample
    # A conversation (``Item.followups``): the model's answer to each user turn, the first being
    # ``generations[0]``.
    turns: tuple[str, ...] = ()

    @property
    def outputs(self) -> int:
        """How many model outputs this answer holds (what ``Scorer.batch_size`` counts)."""
        return len(self.loglikelihoods) or len(self.generations)


class CompletionCache(Protocol):
    """Generation results kept across runs and sessions, by model identity and exact request."""

    def generate(
        self,
        backend: Backend,
        requests: Sequence[GenRequest],
        on_result: GenCallback,
        keep: Callable[[int, GenResult], bool] | None = None,
    ) -> None:
        """``on_result(index, result)`` for every request: kept results without asking ``backend``
        (with no usage when another run paid for them), the others from it, each kept as it comes
        when it has no error and ``keep(index, result)`` (if given) accepts it."""
        ...


@dataclass(frozen=True)
class ScoreFailure:
    """An item the scorer could not score now (judge error or no verdict): counted, not stored."""

    kind: str  # e.g. "judge timeout", "judge rate_limit", "judge no_verdict"
    message: str


@dataclass(frozen=True)
class ScoringContext:
    """What a scorer may use besides the answers: backends by role (e.g. ``"grader"``), each a model
    of its own, loaded, metered and priced apart from the evaluated one; and the run's completion
    cache (None outside a run)."""

    models: Mapping[str, Backend] = field(default_factory=dict)
    completions: CompletionCache | None = None

    def model(self, role: str) -> Backend:
        try:
            return self.models[role]
        except KeyError:
            raise ConfigError(f"no {role!r} model is configured") from None


OnScored = Callable[[int, "ItemScore | ScoreFailure"], None]  # (index into the batch, its score or failure)


@runtime_checkable
class Scorer(Protocol):
    """What every scorer implements (``BaseScorer`` and its subclasses give the defaults)."""

    @property
    def name(self) -> str:
        """The registered name, as a task's ``scoring.kind`` names it."""
        ...

    @property
    def version(self) -> str:
        """Bump it when verdicts change; part of the item cache key."""
        ...

    @property
    def version_key(self) -> str:
        """The cache-key field holding ``version`` when it is not ``DEFAULT_VERSION``."""
        ...

    @property
    def output_type(self) -> OutputType:
        """The task output type it scores."""
        ...

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics it can report (``pass@K``: pass@k for any k)."""
        ...

    @property
    def roles(self) -> tuple[str, ...]:
        """Model roles it needs besides the evaluated model (e.g. ``("grader",)``)."""
        ...

    @property
    def optional_roles(self) -> tuple[str, ...]:
        """Model roles it uses when given (XSTest's refusal judge), else scores without them."""
        ...

    @property
    def batch_size(self) -> int:
        """Model outputs (samples or choices) to collect before a ``score`` call; 1 = item by item."""
        ...

    def reports(self, metric: str) -> bool:
        """Whether it can report ``metric``."""
        ...

    def check(self, spec: TaskSpec) -> None:
        """Reject a spec it cannot score (``ValueError`` whose message starts with the field path)."""
        ...

    def identity(self, spec: TaskSpec, context: ScoringContext) -> dict[str, object]:
        """What else changes its verdicts, for the cache key (e.g. the grader model's identity)."""
        ...

    def score(self, spec: TaskSpec, answers: Sequence[Answer], context: ScoringContext, on_scored: OnScored) -> None:
        """Score every answer, calling ``on_scored(index, score)`` once per answer, in the calling
        thread, as soon as that answer is judged (the runner commits it then)."""
        ...


class BaseScorer(abc.ABC):
    """Defaults for a ``Scorer``; the ``@scorer(name, version=...)`` decorator sets name and version."""

    name: str = ""
    version: str = DEFAULT_VERSION
    version_key: str = "scorer_version"
    output_type: OutputType = "generate"
    metrics: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    optional_roles: tuple[str, ...] = ()

    @property
    def batch_size(self) -> int:
        return 1

    def reports(self, metric: str) -> bool:
        return metric in self.metrics

    def check(self, spec: TaskSpec) -> None:
        return None

    def identity(self, spec: TaskSpec, context: ScoringContext) -> dict[str, object]:
        return {}

    @abc.abstractmethod
    def score(
        self, spec: TaskSpec, answers: Sequence[Answer], context: ScoringContext, on_scored: OnScored
    ) -> None: ...


class ItemScorer(BaseScorer):
    """A scorer that judges each item on its own, from that item's outputs alone."""

    @abc.abstractmethod
    def score_answer(self, spec: TaskSpec, answer: Answer, context: ScoringContext) -> ItemScore: ...

    def score(self, spec: TaskSpec, answers: Sequence[Answer], context: ScoringContext, on_scored: OnScored) -> None:
        for index, answer in enumerate(answers):
            on_scored(index, self.score_answer(spec, answer, context))


@dataclass
class Judged:
    """One generated item's outcome before it becomes an ``ItemScore``."""

    metrics: dict[str, float]
    extracted: str | None = None
    extracted_flexible: str | None = None
    weights: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def from_judged(spec: TaskSpec, item: Item, generations: Sequence[str], judged: Judged) -> ItemScore:
    """The ``ItemScore`` of a generated item (chance 0 for every metric: guessing writes no answer)."""
    primary = spec.metrics[0]
    return ItemScore.for_item(
        item,
        correct=judged.metrics.get(primary, 0.0) > 0.5,
        metrics=judged.metrics,
        chance={m: 0.0 for m in judged.metrics},
        weights=judged.weights,
        details=judged.details,
        generation=generations[0],
        generations=tuple(generations) if len(generations) > 1 else (),
        extracted=judged.extracted,
        extracted_flexible=judged.extracted_flexible,
    )


def generations_of(spec: TaskSpec, answer: Answer) -> tuple[str, ...]:
    if not answer.generations:
        raise ConfigError(f"{spec.name} doc {answer.item.doc_id}: generate scoring needs the generated text")
    return answer.generations


class SampleScorer(ItemScorer):
    """A generate scorer that judges each sample alone: one sample gives that sample's judgement;
    several (n > 1) each metric averaged over samples, the first sample's extraction shown."""

    @abc.abstractmethod
    def judge(self, spec: TaskSpec, item: Item, generation: str) -> Judged: ...

    def score_answer(self, spec: TaskSpec, answer: Answer, context: ScoringContext) -> ItemScore:
        texts = generations_of(spec, answer)
        return combine_samples(spec, answer, [self.judge(spec, answer.item, text) for text in texts])


def combine_samples(spec: TaskSpec, answer: Answer, judged: Sequence[Judged]) -> ItemScore:
    """One sample's judgement as it is; several: each metric averaged, the first one's extraction shown."""
    first = judged[0]
    if len(judged) > 1:
        metrics = {m: sum(j.metrics[m] for j in judged) / len(judged) for m in first.metrics}
        first = Judged(metrics, first.extracted, first.extracted_flexible, first.weights, {"samples": len(judged)})
    return from_judged(spec, answer.item, generations_of(spec, answer), first)


def uses_role(scorer: Scorer, role: str, context: ScoringContext) -> bool:
    """Whether ``scorer`` uses the ``role`` model here: it needs one, or may use one and has it."""
    return role in scorer.roles or (role in scorer.optional_roles and role in context.models)
