"""Task specification: a YAML file validated by pydantic. No Python needed to add a benchmark."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from agimeter.tasks.dimensions import Dimension

SPEC_SCHEMA_VERSION = 1


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(SpecModel):
    """Local file(s) under the data dir (or absolute). ``path`` may be a glob."""

    kind: Literal["file"] = "file"
    path: str
    format: Literal["jsonl", "json", "csv", "tsv", "parquet", "hellaswag_txt"] | None = None
    # For json files holding an object: the key under which the list of records lives.
    records_key: str | None = None
    # For headerless csv/tsv: column names.
    columns: list[str] | None = None
    # Add the file stem (e.g. MMLU subject) to each record under this field name.
    file_stem_field: str | None = None
    # Strip this suffix from the file stem before storing it (e.g. "_test").
    file_stem_strip: str | None = None
    file_stem_strip_prefix: str | None = None  # e.g. "mgsm_" so that mgsm_de.tsv gives "de"
    # Keep only records for which this Jinja2 expression is true (e.g. "11 <= task_id <= 510").
    where: str | None = None
    # Keep only records whose ``id`` is a key of this JSON object file (an official split's ids).
    ids_from: str | None = None
    # Attach a text file to every record of a data file: field -> path under the data dir, where
    # "{stem}" is the data file's stem (BBH: each task's chain-of-thought prompt file).
    attach: dict[str, str] = Field(default_factory=dict)
    # Records of other files joined in by a shared key (MT-Bench's reference answers by question_id,
    # Arena-Hard's baseline answers by uid), each whole record under the join's ``into`` field.
    join: list[Join] = Field(default_factory=list)


class Join(SpecModel):
    """Records of ``path`` (jsonl or json, under the data dir) matched on their field ``key``."""

    path: str
    key: str
    into: str  # the joined record (an object) lands in this field of each doc
    # A doc without a match: an error, or the field set to null (MT-Bench has references for 30 of 80).
    required: bool = True


class HFSource(SpecModel):
    """A Hugging Face ``datasets`` id + split, read through the offline cache when offline."""

    kind: Literal["hf"] = "hf"
    dataset: str
    name: str | None = None
    split: str
    revision: str | None = None


class ProceduralSource(SpecModel):
    """A seeded generator from ``agimeter.tasks.procedural`` (no files needed)."""

    kind: Literal["procedural"] = "procedural"
    generator: str
    n: int = 200
    level: int = 1
    seed: int = 1234


class InlineSource(SpecModel):
    """Records written in the spec itself (fixed few-shot exemplars such as GSM8K-CoT)."""

    kind: Literal["inline"] = "inline"
    records: list[dict[str, str | int | float | list[str]]]


FileSource.model_rebuild()

Source = FileSource | HFSource | ProceduralSource | InlineSource


class FewShot(SpecModel):
    num_fewshot: int = 0
    # Where exemplars come from: another source (e.g. MMLU dev), or (None, or the same source as
    # the task) the evaluated docs themselves minus the current one, as lm-eval does when
    # fewshot_split == test_split: draw n + 1, drop the current doc, keep n.
    source: Annotated[Source, Field(discriminator="kind")] | None = None
    sampler: Literal["first_n", "random"] = "random"
    seed: int = 1234
    # Group exemplars by this field (e.g. MMLU subject): exemplars come from the same group,
    # and (as with lm-eval's one-task-per-subject) each group has its own seeded sampler.
    group_by: str | None = None
    # Exemplars the prompt's description already carries, drawn by no sampler (BBH: each task's 3
    # chain-of-thought exemplars come as one block). The listed shots are these plus num_fewshot.
    in_description: int = Field(default=0, ge=0)
    chain_of_thought: bool = False  # the exemplars show their reasoning before the answer
    # Draw exemplars without the evaluated doc (lm-eval's n + 1 draw, then removal). None: when
    # the exemplars come from the evaluated docs. lm-eval task YAMLs set it by lm-eval's own rule
    # (few-shot split name == test split name), which the source alone cannot always tell.
    exclude_eval_doc: bool | None = None


class Prompt(SpecModel):
    """Jinja2 templates rendered on each (preprocessed) record, as in lm-eval's task YAMLs."""

    description: str = ""  # rendered once per doc, before the few-shot exemplars
    doc_to_text: str
    # A field name or a template. MC: renders to the gold index (digits become an int, as in
    # lm-eval) or to the gold choice text; generate: the target string.
    doc_to_target: str | int
    # MC: a field name, a template rendering a Python list literal, or a literal list.
    doc_to_choice: str | list[str] | None = None
    fewshot_target: str | None = None  # exemplar answers if they differ from doc_to_target
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    # Named record preprocessors from agimeter.tasks.preprocess (e.g. "hellaswag").
    preprocess: str | None = None
    chat: bool = False  # protocol asks for the chat template when the model has one
    # The system message under the chat template, not part of the plain prompt (``description``
    # is both; give one or the other).
    system: str = ""
    # The start of the answer, written for the model (EvalPlus's "response prefix", e.g. an opened
    # code fence): appended to the plain prompt, and under the chat template it opens the
    # assistant turn. The generated text continues it; scorers see the generated text only.
    response_prefix: str = ""
    # A conversation (MT-Bench): the user turns after the first, as a field holding a list or a
    # template rendering a Python list literal. Turn k's prompt is the chat of every earlier user
    # turn and the model's own answers to them, then user turn k (see ``agimeter.runner.turns``).
    followups: str | None = None

    @model_validator(mode="after")
    def _one_system_text(self) -> Prompt:
        if self.system and self.description:
            raise ValueError("prompt.system and prompt.description are both system text: give one")
        return self


class Generation(SpecModel):
    stop: list[str] = Field(default_factory=lambda: ["\n\n"])
    max_tokens: int = 256
    # n > 1 draws n samples per item (pass@k); sampling needs temperature > 0. Sample j of an
    # item uses seed ``seed + j`` where the backend honours seeds.
    n: int = Field(default=1, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int = 1234

    @model_validator(mode="after")
    def _check_sampling(self) -> Generation:
        if self.n > 1 and self.temperature <= 0.0:
            raise ValueError("generation.n > 1 needs generation.temperature > 0 (greedy samples are identical)")
        return self


DEFAULT_GENERATE_SCORER = "exact_match"


class JudgePrompt(SpecModel):
    """One judge prompt as the benchmark ships it: a system message and a user-message template
    (Python ``str.format`` fields, as FastChat and Arena-Hard fill them)."""

    name: str  # the benchmark's name for it (MT-Bench's "single-v1", Arena-Hard's category)
    system: str = ""
    template: str


class Judge(SpecModel):
    """An LLM judge's protocol for a judged task (``scoring.kind`` judge_single / judge_pairwise)."""

    # The judge model (any model spec, as --model); --judge overrides it, the config file's
    # ``judge:`` is the default when neither names one.
    model: str | None = None
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=2048, ge=1)
    # Named prompts; which one an item gets is the scorer's rule (see its docstring).
    prompts: dict[str, JudgePrompt] = Field(default_factory=dict)
    # Regexes that pull the verdict out of the judge's answer, tried in order.
    verdict_patterns: list[str] = Field(default_factory=list)
    # Pairwise: battles a decisive verdict (A>>B) counts as (Arena-Hard: 3).
    strong_weight: int = Field(default=3, ge=1)


class Scoring(SpecModel):
    """How answers are judged, and per-doc data the judge needs."""

    # A registered scorer (``agimeter.scoring.SCORERS``; plugins add more): exact_match, math_equiv,
    # code_exec, ifeval, refusal for generate tasks. Multiple-choice tasks are scored by
    # log-likelihood (``multiple_choice``) unless this names another multiple-choice scorer.
    kind: str = DEFAULT_GENERATE_SCORER
    # Rendered per doc and kept with the item: a doc field name copies the raw value (lists and
    # objects too), anything else is a Jinja2 template rendered to text. Used by mc2 (num_true),
    # code_exec (prefix, tests), ifeval (instruction_id_list, kwargs) and refusal (should_refuse).
    fields: dict[str, str] = Field(default_factory=dict)
    # code_exec: sandbox wall-time per program (CPU time gets the same limit) and memory.
    timeout_s: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=1024, ge=64)
    # Judged tasks: the judge model and its prompts (the model also comes from --judge / config).
    judge: Judge | None = None


class Extraction(SpecModel):
    """How the answer is pulled out of generated text."""

    kind: Literal["regex", "last_number", "full"] = "regex"
    pattern: str | None = None
    # Which match to take when the pattern matches several times (lm-eval's group_select:
    # 0 = first, -1 = last). A pattern with several groups yields the first non-empty group.
    group_select: int = 0
    # Returned when the pattern does not match (lm-eval's RegexFilter fallback).
    miss_value: str = "[invalid]"
    # On a regex miss, use the last number instead of ``miss_value`` for ``exact_match``.
    fallback: Literal["last_number", "none"] = "none"
    # Also report ``exact_match_flexible``: last-number extraction (lm-eval's flexible-extract).
    flexible: bool = False
    # Applied to both prediction and target before exact match (lm-eval's regexes_to_ignore).
    ignore_regexes: list[str] = Field(default_factory=list)
    ignore_case: bool = False


class SourceFile(SpecModel):
    path: str
    sha256: str


class ImportedFrom(SpecModel):
    """The files a spec was converted from: an lm-eval task YAML first, then what it includes
    (and any lm-eval code agimeter recognised and reimplements), each with its sha256."""

    format: Literal["lm_eval_yaml"] = "lm_eval_yaml"
    files: list[SourceFile] = Field(min_length=1)


class TaskSpec(SpecModel):
    schema_version: int = SPEC_SCHEMA_VERSION
    name: str
    version: str
    dimension: Dimension
    description: str = ""
    output_type: Literal["multiple_choice", "generate"]
    source: Source = Field(discriminator="kind")
    fewshot: FewShot = Field(default_factory=FewShot)
    prompt: Prompt
    generation: Generation | None = None
    extraction: Extraction | None = None
    scoring: Scoring = Field(default_factory=Scoring)
    metrics: list[str] = Field(min_length=1)
    # Field whose value splits results into subtasks (e.g. MMLU subject, difficulty level).
    subtask_field: str | None = None
    # Subtasks that also feed another dimension (MT-Bench writing and roleplay: creativity); their
    # items are scored again as one group under that dimension (see ``analysis.summary``).
    subtask_dimensions: dict[str, Dimension] = Field(default_factory=dict)
    references: list[str] = Field(default_factory=list)
    # Known differences from the reference implementation's protocol (reported in protocol()).
    deviations: list[str] = Field(default_factory=list)
    # Whether the task's score counts toward its dimension in the capability map, the overall
    # index and the leaderboard. The built-in tasks say so; a user task counts only if it does.
    counts_toward_dimension: bool = False
    # Set when the spec was converted from another format (reported in protocol()).
    imported_from: ImportedFrom | None = None
    # The YAML file the spec was read from, as the user named it (not part of the protocol).
    _origin: str = PrivateAttr(default="")

    @property
    def origin(self) -> str:
        """How messages name this spec: its YAML file, else its name."""
        return self._origin or self.name

    def templates(self) -> list[tuple[str, str, bool]]:
        """Every Jinja2 field as (field path, text, is a ``where`` expression)."""
        p = self.prompt
        found: list[tuple[str, str, bool]] = [("prompt.doc_to_text", p.doc_to_text, False)]
        if p.description:
            found.append(("prompt.description", p.description, False))
        for name, value in (("doc_to_target", p.doc_to_target), ("doc_to_choice", p.doc_to_choice)):
            if isinstance(value, str):
                found.append((f"prompt.{name}", value, False))
        if p.fewshot_target is not None:
            found.append(("prompt.fewshot_target", p.fewshot_target, False))
        if p.followups is not None:
            found.append(("prompt.followups", p.followups, False))
        found += [(f"scoring.fields.{key}", value, False) for key, value in self.scoring.fields.items()]
        for where, source in (("source", self.source), ("fewshot.source", self.fewshot.source)):
            if isinstance(source, FileSource) and source.where:
                found.append((f"{where}.where", source.where, True))
        return found

    @property
    def shots(self) -> int:
        """Exemplars in the prompt under the task's own protocol (sampled + in the description)."""
        return self.fewshot.num_fewshot + self.fewshot.in_description

    @property
    def scorer(self) -> str:
        """The registered scorer's name: ``scoring.kind``, or for multiple choice left at its default,
        ``multiple_choice`` (log-likelihood accuracy)."""
        if self.output_type == "multiple_choice" and self.scoring.kind == DEFAULT_GENERATE_SCORER:
            return "multiple_choice"
        return self.scoring.kind

    @model_validator(mode="after")
    def _check_kind(self) -> TaskSpec:
        if self.output_type == "multiple_choice":
            if self.prompt.doc_to_choice is None:
                raise ValueError("prompt.doc_to_choice is required for multiple_choice tasks")
        elif self.generation is None:
            raise ValueError("generation is required for generate tasks")
        self._check_scorer()
        if self.prompt.followups is not None and (self.generation is None or self.generation.n != 1):
            raise ValueError("prompt.followups: a conversation draws one sample per turn (generation.n must be 1)")
        if self.prompt.followups is not None and self.prompt.response_prefix:
            raise ValueError("prompt.followups: a conversation cannot also have a prompt.response_prefix")
        if self.subtask_dimensions and self.subtask_field is None:
            raise ValueError("subtask_dimensions needs subtask_field (the field naming each item's subtask)")
        if self.extraction is not None and self.extraction.kind == "regex" and not self.extraction.pattern:
            raise ValueError("extraction.pattern is required when extraction.kind is 'regex'")
        return self

    def _check_scorer(self) -> None:
        """The scorer exists, scores this output type and reports every metric asked for.

        The one look downstream from a task spec: the scorer named here declares what it reports, so
        a YAML file asking for a metric its scorer does not have fails at load time, naming the field.
        Looking it up loads the scoring layer's built-ins and any scorer plugins.
        """
        from agimeter.scoring.registry import SCORERS

        name = self.scorer
        if name not in SCORERS:
            raise ValueError(SCORERS.unknown(name, where="scoring.kind"))
        scorer = SCORERS.get(name)
        if scorer.output_type != self.output_type:
            if self.output_type == "multiple_choice":
                raise ValueError("scoring.kind is for generate tasks; multiple choice is scored by log-likelihood")
            raise ValueError(f"scoring.kind: {name!r} scores multiple-choice tasks, not generated answers")
        for metric in self.metrics:
            if not scorer.reports(metric):
                raise ValueError(
                    f"metrics: {metric!r} is not reported by scorer {name!r} (it has: {', '.join(scorer.metrics)})"
                )
        scorer.check(self)


def dump_source(source: Source) -> dict[str, Any]:
    """``source`` as JSON for protocols and keys, without fields added later and left unset
    (so the hashes of specs that do not use them stay as they were)."""
    body = source.model_dump(mode="json")
    if isinstance(source, FileSource) and not source.join:
        del body["join"]
    return body


def dump_scoring(scoring: Scoring) -> dict[str, Any]:
    """``scoring`` as JSON for protocols and cache keys; ``judge`` only when set (as ``dump_source``)."""
    body = scoring.model_dump(mode="json")
    if scoring.judge is None:
        del body["judge"]
    return body
