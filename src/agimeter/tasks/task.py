"""A ``Task``: a spec bound to its data, yielding rendered ``Item``s exactly as lm-eval 0.4.13 would.

Prompt assembly (lm_eval/api/task.py ``fewshot_context`` + ``build_qa_turn``)::

    description
    + for each exemplar: doc_to_text + target_delimiter + answer + fewshot_delimiter
    + doc_to_text(doc)

where an exemplar's answer is ``choices[target]`` for an integer target, else the target text.
Multiple-choice continuations are ``target_delimiter + choice``. A ``response_prefix`` (the
start of the answer) follows the whole prompt; in the chat form it is a last assistant turn.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from agimeter.errors import ConfigError, DataError
from agimeter.tasks import templates
from agimeter.tasks.fewshot import FewShotSelector
from agimeter.tasks.item import Item
from agimeter.tasks.loaders import Doc, load_docs
from agimeter.tasks.preprocess import get_preprocessor
from agimeter.tasks.sampling import stratified_order
from agimeter.tasks.spec import TaskSpec, dump_scoring, dump_source

Record = dict[str, Any]
DEFAULT_SAMPLE_SEED = 1234


class Task:
    """A task spec plus its data dir; ``items()`` renders prompts, ``protocol()`` describes them."""

    def __init__(self, spec: TaskSpec, data_dir: str | Path | None = None, num_fewshot: int | None = None):
        if num_fewshot is not None and num_fewshot < 0:
            raise ConfigError(f"num_fewshot must be >= 0, got {num_fewshot}")
        self.spec = spec
        self.data_dir = data_dir
        self.num_fewshot = spec.fewshot.num_fewshot if num_fewshot is None else num_fewshot
        self._multiple_choice = spec.output_type == "multiple_choice"

    @property
    def name(self) -> str:
        return self.spec.name

    # ------------------------------------------------------------ documents

    def _preprocessed(self, docs: list[Doc]) -> list[Doc]:
        if self.spec.prompt.preprocess is None:
            return docs
        fn = get_preprocessor(self.spec.prompt.preprocess)
        out = []
        for doc in docs:
            try:
                out.append(Doc(fn(doc.fields), doc.origin))
            except (KeyError, ValueError, TypeError) as err:
                raise DataError(
                    f"{doc.origin}: preprocess {self.spec.prompt.preprocess!r} failed: {type(err).__name__}: {err}"
                ) from err
        return out

    @cached_property
    def docs(self) -> list[Doc]:
        """All evaluated documents in task order (doc_id = index)."""
        docs = self._preprocessed(load_docs(self.spec.source, self.data_dir, spec_name=self.spec.origin))
        if not docs:
            raise DataError(f"{self.spec.origin}: source: no documents (after source.where / source.ids_from)")
        return docs

    @cached_property
    def fewshot_docs(self) -> list[Doc]:
        """The exemplar pool (the evaluated docs themselves when the spec names no source)."""
        fs = self.spec.fewshot
        if fs.source is None or fs.source == self.spec.source:
            return self.docs
        return self._preprocessed(load_docs(fs.source, self.data_dir, spec_name=self.spec.origin))

    def __len__(self) -> int:
        return len(self.docs)

    def strata(self) -> list[str | None]:
        """Each doc's subtask (the sampling stratum), None when the task has no subtasks."""
        key = self.spec.subtask_field
        if key is None:
            return [None] * len(self.docs)
        out: list[str | None] = []
        for doc in self.docs:
            if key not in doc.fields:
                raise DataError(f"{doc.origin}: missing field {key!r} (needed by subtask_field)")
            out.append(str(doc.fields[key]))
        return out

    def sample_order(self, seed: int = DEFAULT_SAMPLE_SEED) -> list[int]:
        """All doc ids in stratified random order (by subtask); ``--sample N`` takes the first N."""
        return stratified_order(self.strata(), seed)

    def select_doc_ids(
        self, limit: int | None = None, sample: int | None = None, seed: int = DEFAULT_SAMPLE_SEED
    ) -> list[int]:
        """``limit``: the first N docs; ``sample``: N docs drawn at random, stratified by subtask
        (proportional allocation, seeded), sorted by doc_id."""
        total = len(self.docs)
        if limit is not None and sample is not None:
            raise ConfigError("use either --limit or --sample, not both")
        if limit is not None:
            if limit < 0:
                raise ConfigError(f"--limit must be >= 0, got {limit}")
            return list(range(min(limit, total)))
        if sample is not None:
            if sample < 0:
                raise ConfigError(f"--sample must be >= 0, got {sample}")
            if sample >= total:
                return list(range(total))
            return sorted(self.sample_order(seed)[:sample])
        return list(range(total))

    # ------------------------------------------------------------ rendering

    def _group(self, doc: Doc) -> str | None:
        key = self.spec.fewshot.group_by
        if key is None:
            return None
        if key not in doc.fields:
            raise DataError(f"{doc.origin}: missing field {key!r} (needed by fewshot.group_by)")
        return str(doc.fields[key])

    def _selector(self) -> FewShotSelector:
        fs = self.spec.fewshot
        pools: dict[str | None, list[Record]] = {}
        for doc in self.fewshot_docs:
            pools.setdefault(self._group(doc), []).append(doc.fields)
        return FewShotSelector(
            sampler=fs.sampler,
            n=self.num_fewshot,
            seed=fs.seed,
            pool_by_group=pools,
            exclude_eval_doc=self._excludes_eval_doc(),
        )

    def _same_docs(self) -> bool:
        fs = self.spec.fewshot
        return fs.source is None or fs.source == self.spec.source

    def _excludes_eval_doc(self) -> bool:
        explicit = self.spec.fewshot.exclude_eval_doc
        return self._same_docs() if explicit is None else explicit

    def _choices(self, doc: Record, origin: str) -> list[str] | None:
        if self.spec.prompt.doc_to_choice is None:
            return None
        return templates.doc_to_choice(self.spec.prompt.doc_to_choice, doc, origin=origin, spec=self.spec.origin)

    def _answer_text(self, doc: Record, origin: str) -> str:
        """An exemplar's answer as lm-eval's ``build_qa_turn`` writes it."""
        p = self.spec.prompt
        spec_target = p.fewshot_target if p.fewshot_target is not None else p.doc_to_target
        what = "prompt.fewshot_target" if p.fewshot_target is not None else "prompt.doc_to_target"
        target = templates.doc_to_target(
            spec_target, doc, origin=origin, multiple_choice=self._multiple_choice, what=what, spec=self.spec.origin
        )
        choices = self._choices(doc, origin)
        if choices and isinstance(target, int):
            if not 0 <= target < len(choices):
                raise DataError(f"{origin}: gold index {target} out of range for {len(choices)} choices")
            return choices[target]
        return str(target)

    def _fewshot_text(self, exemplars: list[Record], origin_of: dict[int, str]) -> str:
        p = self.spec.prompt
        parts: list[str] = []
        for ex in exemplars:
            origin = origin_of.get(id(ex), "<few-shot exemplar>")
            question = templates.doc_to_text(p.doc_to_text, ex, origin=origin, spec=self.spec.origin)
            answer = self._answer_text(ex, origin)
            # lm-eval drops the delimiters of an exemplar whose answer is empty.
            parts.append(question + p.target_delimiter + answer + p.fewshot_delimiter if answer else question)
        return "".join(parts)

    def _description(self, doc: Doc) -> str:
        desc = self.spec.prompt.description
        if not desc:
            return ""
        if desc in doc.fields:
            return str(doc.fields[desc])
        return templates.render(desc, doc.fields, origin=doc.origin, what="prompt.description", spec=self.spec.origin)

    def _build_item(self, doc_id: int, doc: Doc, exemplars: list[Record], origin_of: dict[int, str]) -> Item:
        spec, p = self.spec, self.spec.prompt
        description = self._description(doc)
        question = templates.doc_to_text(p.doc_to_text, doc.fields, origin=doc.origin, spec=self.spec.origin)
        user_text = self._fewshot_text(exemplars, origin_of) + question
        system = p.system or description
        chat: tuple[tuple[str, str], ...] = (("system", system),) if system else ()
        chat += (("user", user_text),)
        if p.response_prefix:
            chat += (("assistant", p.response_prefix),)
        target = templates.doc_to_target(
            p.doc_to_target, doc.fields, origin=doc.origin, multiple_choice=self._multiple_choice, spec=self.spec.origin
        )
        subtask = None
        if spec.subtask_field is not None:
            if spec.subtask_field not in doc.fields:
                missing = f"{doc.origin}: missing field {spec.subtask_field!r} (needed by subtask_field)"
                raise DataError(missing)
            subtask = str(doc.fields[spec.subtask_field])
        common: dict[str, Any] = {
            "task": spec.name,
            "doc_id": doc_id,
            "kind": spec.output_type,
            "context": description + user_text + p.response_prefix,
            "subtask": subtask,
            "chat_messages": chat,
            "extra": self._scoring_fields(doc),
        }
        if p.followups is not None:
            what = "prompt.followups"
            turns = templates.doc_to_choice(p.followups, doc.fields, origin=doc.origin, spec=spec.origin, what=what)
            common["followups"] = tuple(turns)
        if self._multiple_choice:
            choices = self._choices(doc.fields, doc.origin) or []
            if isinstance(target, str):
                if target not in choices:
                    raise DataError(f"{doc.origin}: gold answer {target[:60]!r} is not one of the choices")
                target = choices.index(target)
            if not 0 <= target < len(choices):
                raise DataError(f"{doc.origin}: gold index {target} out of range for {len(choices)} choices")
            return Item(
                **common,
                target=target,
                continuations=tuple(p.target_delimiter + c for c in choices),
                choice_texts=tuple(choices),
            )
        gen = spec.generation
        assert gen is not None  # guaranteed by TaskSpec validation
        return Item(
            **common,
            target=str(target),
            stop=tuple(gen.stop),
            max_tokens=gen.max_tokens,
            samples=gen.n,
            temperature=gen.temperature,
            top_p=gen.top_p,
            sample_seed=gen.seed,
        )

    def _scoring_fields(self, doc: Doc) -> dict[str, Any]:
        """The spec's ``scoring.fields``: raw values for field names, rendered text for templates."""
        out: dict[str, Any] = {}
        for key, source in self.spec.scoring.fields.items():
            if source in doc.fields:
                out[key] = doc.fields[source]
            else:
                what = f"scoring.fields.{key}"
                out[key] = templates.render(source, doc.fields, origin=doc.origin, what=what, spec=self.spec.origin)
        return out

    def items(self, limit: int | None = None, sample: int | None = None, seed: int = DEFAULT_SAMPLE_SEED) -> list[Item]:
        """Rendered items for the selected docs, sorted by doc_id.

        Random few-shot draws are made for every doc up to the last selected one, in document
        order, so a doc's prompt is the same whether it is evaluated alone or in the full run.
        """
        ids = self.select_doc_ids(limit=limit, sample=sample, seed=seed)
        if not ids:
            return []
        wanted = set(ids)
        selector = self._selector()
        origin_of = {id(d.fields): d.origin for d in self.fewshot_docs}
        random_draws = selector.sampler == "random" and self.num_fewshot > 0
        out: list[Item] = []
        for doc_id in range(ids[-1] + 1):
            if doc_id not in wanted and not random_draws:
                continue
            doc = self.docs[doc_id]
            exemplars = selector.select(doc.fields, self._group(doc))
            if doc_id in wanted:
                out.append(self._build_item(doc_id, doc, exemplars, origin_of))
        return out

    # ------------------------------------------------------------ protocol

    def protocol(self) -> dict[str, Any]:
        """Everything needed to reproduce the prompts and scores (JSON-serialisable)."""
        spec, fs = self.spec, self.spec.fewshot
        same_docs = self._same_docs()
        pool: Any = None
        if same_docs:
            pool = "evaluated docs, current doc " + ("excluded" if self._excludes_eval_doc() else "included")
        elif fs.source is not None:
            pool = dump_source(fs.source)
        prompt = spec.prompt.model_dump(mode="json")
        for later_field in ("system", "response_prefix", "followups"):  # left out unused: older hashes stay valid
            if not prompt[later_field]:
                del prompt[later_field]
        body: dict[str, Any] = {
            "task": spec.name,
            "version": spec.version,
            "schema_version": spec.schema_version,
            "output_type": spec.output_type,
            "source": dump_source(spec.source),
            "fewshot": {
                # every exemplar in the prompt: the sampled ones and those the description carries
                "num_fewshot": self.num_fewshot + fs.in_description,
                "sampled": self.num_fewshot,
                "in_description": fs.in_description,
                "chain_of_thought": fs.chain_of_thought,
                "sampler": fs.sampler,
                "seed": fs.seed,
                "group_by": fs.group_by,
                "source": pool,
            },
            "prompt": prompt,
            "generation": spec.generation.model_dump(mode="json") if spec.generation else None,
            "extraction": spec.extraction.model_dump(mode="json") if spec.extraction else None,
            "dimension": spec.dimension,
            "counts_toward_dimension": spec.counts_toward_dimension,
            # the task's own protocol, which a run with --num-fewshot or --chat may leave
            "standard": {"num_fewshot": spec.shots, "chat": spec.prompt.chat},
            "scoring": dump_scoring(spec.scoring),
            "metrics": list(spec.metrics),
            "subtask_field": spec.subtask_field,
            "doc_selection": "limit=N: first N docs; sample=N: first N of a seeded order stratified by subtask",
            "deviations": list(spec.deviations),
            "references": list(spec.references),
        }
        # Keys that older specs never set stay out, so their protocol hashes do not move.
        if fs.exclude_eval_doc is not None:
            body["fewshot"]["exclude_eval_doc"] = fs.exclude_eval_doc
        if spec.imported_from is not None:
            body["imported_from"] = spec.imported_from.model_dump(mode="json")
        if spec.subtask_dimensions:
            body["subtask_dimensions"] = dict(spec.subtask_dimensions)
        return with_protocol_hash(body)


# Labels for the readers (how the aggregate views treat a task, what its exemplars are), not part
# of what the prompts and scores are: left out of the hash, so adding them moved no task's hash.
LABEL_KEYS = ("counts_toward_dimension", "standard")
FEWSHOT_LABEL_KEYS = ("sampled", "in_description", "chain_of_thought")


def with_protocol_hash(protocol: dict[str, Any]) -> dict[str, Any]:
    """``protocol`` with its ``protocol_hash`` set: of everything in it but the labels."""
    body = {k: v for k, v in protocol.items() if k != "protocol_hash"}
    hashed = {k: v for k, v in body.items() if k not in LABEL_KEYS}
    if isinstance(hashed.get("fewshot"), dict):
        hashed["fewshot"] = {k: v for k, v in hashed["fewshot"].items() if k not in FEWSHOT_LABEL_KEYS}
    canonical = json.dumps(hashed, sort_keys=True, ensure_ascii=False)
    body["protocol_hash"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    return body
