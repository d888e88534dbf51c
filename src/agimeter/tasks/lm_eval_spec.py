"""An lm-eval task YAML (its declarative subset) as an agimeter ``TaskSpec``.

Every field is read as lm-eval 0.4.13's ``ConfigurableTask`` reads it (``api/task.py``,
``config/task.py``, ``api/samplers.py``), so the items render lm-eval's prompts. What lies outside
the subset (Python code behind ``!function``, custom metrics and filters, multimodal inputs) is a
one-line ``TaskSpecError``: ``file.yaml: field: why``, naming the file that wrote the field.
"""

from __future__ import annotations

import hashlib
from typing import Any

from agimeter.tasks.dimensions import DIMENSIONS, Dimension
from agimeter.tasks.lm_eval_scoring import ScoringFields
from agimeter.tasks.lm_eval_yaml import FunctionRef, LmEvalConfig, find_function
from agimeter.tasks.spec import (
    FewShot,
    FileSource,
    HFSource,
    ImportedFrom,
    InlineSource,
    Prompt,
    Source,
    SourceFile,
    TaskSpec,
)

SUPPORTED = frozenset(
    {
        "task",
        "dataset_path",
        "dataset_name",
        "dataset_kwargs",
        "training_split",
        "validation_split",
        "test_split",
        "fewshot_split",
        "process_docs",
        "doc_to_text",
        "doc_to_target",
        "doc_to_choice",
        "description",
        "target_delimiter",
        "fewshot_delimiter",
        "fewshot_config",
        "num_fewshot",
        "output_type",
        "generation_kwargs",
        "metric_list",
        "filter_list",
        "repeats",
        "metadata",
    }
)
# Fields that change neither prompts nor scores.
IGNORED = frozenset({"tag", "task_alias", "should_decontaminate", "doc_to_decontamination_query", "unsafe_code"})
REFUSED = {
    "group": "an lm-eval group; pass its member task YAMLs instead",
    "class": "a Python-defined task",
    "custom_dataset": "a dataset built by Python code",
    "process_results": "custom scoring code",
    "use_prompt": "promptsource prompts",
    "doc_to_image": "multimodal input",
    "doc_to_audio": "multimodal input",
    "gen_prefix": "an assistant prefix",
}
# Datasets read from local files (the ``datasets`` packaged builders agimeter's loaders match).
FILE_BUILDERS = ("json", "csv", "parquet")
OTHER_BUILDERS = frozenset(
    {"text", "arrow", "pandas", "imagefolder", "audiofolder", "videofolder", "webdataset", "xml", "sql", "hdf5"}
)
# ``!function`` targets agimeter reimplements: (sha256 of the module file, function) -> preprocessor.
KNOWN_PROCESS_DOCS = {
    # lm-eval 0.4.13 tasks/hellaswag/utils.py (preprocess + process_docs), see preprocess.hellaswag
    ("07d23b60b28f2a4f658dcf8440623a63fe6644854ce9b846a114dde980dc1214", "process_docs"): "hellaswag",
}
FEWSHOT_KEYS = frozenset(
    {"sampler", "samples", "split", "doc_to_text", "doc_to_target", "doc_to_choice", "target_delimiter"}
    | {"fewshot_delimiter"}
)
SAMPLERS = {"default": "random", "first_n": "first_n"}
FEWSHOT_SEED = 1234  # lm-eval's default fewshot_random_seed
DEFAULT_DIMENSION: Dimension = "reasoning"


class _Converter(ScoringFields):
    def __init__(self, config: LmEvalConfig) -> None:
        super().__init__(config)
        self.files = list(config.files)
        self.builder = ""  # dataset_path
        self.dataset_name: str | None = None
        self.records_key: str | None = None
        self.revision: str | None = None
        self.data_files: dict[str, list[str]] = {}

    # ------------------------------------------------------------ fields

    def check_fields(self) -> None:
        for key, value in self.data.items():
            if key in REFUSED:
                self.fail(key, f"not supported ({REFUSED[key]})")
            if key == "unsafe_code" and value is not False:
                self.fail(key, "not supported (code execution tasks)")
            if key not in SUPPORTED and key not in IGNORED:
                self.fail(key, "not in agimeter's supported subset of lm-eval task fields")
            found = find_function(value, key)
            if found is not None and key != "process_docs":
                self.fail(found[0], f"!function {found[1].name}: Python code is not supported")

    def name(self) -> str:
        task = self.data.get("task")
        if isinstance(task, list):
            self.fail("task", "a list of tasks (an lm-eval group) is not supported; pass each task's YAML")
        if not isinstance(task, str) or not task:
            self.fail("task", "field required (the task's name)")
        return task

    def output_type(self) -> str:
        kind = self.data.get("output_type", "generate_until")  # lm-eval's default
        if kind == "multiple_choice":
            return "multiple_choice"
        if kind == "generate_until":
            return "generate"
        self.fail("output_type", f"{kind!r} is not supported (multiple_choice or generate_until)")

    # ------------------------------------------------------------ data

    def dataset(self) -> None:
        path = self.data.get("dataset_path")
        if not isinstance(path, str) or not path:
            self.fail("dataset_path", "field required (json, csv, parquet or a Hugging Face dataset id)")
        if path in OTHER_BUILDERS:
            self.fail("dataset_path", f"{path!r} is not supported (json, csv, parquet or a Hugging Face dataset id)")
        self.builder = path
        kwargs = self.mapping("dataset_kwargs", self.data.get("dataset_kwargs"))
        # cache_dir only says where ``datasets`` caches; trust_remote_code is dropped by lm-eval
        # itself with datasets >= 4 (agimeter never runs dataset scripts either).
        hub = {"revision", "cache_dir", "trust_remote_code"}
        allowed = {"data_files", "field", "cache_dir"} if path in FILE_BUILDERS else hub
        for key in kwargs:
            if key not in allowed:
                self.fail(f"dataset_kwargs.{key}", f"not supported with dataset_path {path!r}")
        self.records_key = self.optional_text("dataset_kwargs.field", kwargs.get("field"))
        self.revision = self.optional_text("dataset_kwargs.revision", kwargs.get("revision"))
        if path in FILE_BUILDERS:
            self.data_files = self._data_files(kwargs.get("data_files"))
            if path == "csv":
                self.deviations.append(
                    "CSV cells are read as text; lm-eval (pandas) reads numeric columns as numbers, so a "
                    "template that formats or compares such a cell can render differently."
                )
        name = self.data.get("dataset_name")
        self.dataset_name = str(name) if name is not None and path not in FILE_BUILDERS else None

    def _data_files(self, value: Any) -> dict[str, list[str]]:
        field = "dataset_kwargs.data_files"
        if value is None:
            self.fail(field, f"field required with dataset_path {self.builder!r}")
        if isinstance(value, str | list):
            value = {"train": value}  # as ``datasets`` names files given without a split
        if not isinstance(value, dict):
            self.fail(field, f"expected a file, a list or a mapping of split -> files, got {type(value).__name__}")
        out: dict[str, list[str]] = {}
        for split, files in value.items():
            listed = [files] if isinstance(files, str) else files
            if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
                self.fail(f"{field}.{split}", "expected a file path or a list of file paths")
            out[str(split)] = listed
        return out

    def source(self, split: str, field: str) -> Source:
        if self.builder not in FILE_BUILDERS:
            hub = {"dataset": self.builder, "name": self.dataset_name, "split": split, "revision": self.revision}
            return self.build(field, HFSource, **hub)
        files = self.data_files.get(split)
        if files is None:
            have = ", ".join(self.data_files) or "none"
            self.fail(field, f"split {split!r} is not in dataset_kwargs.data_files (it has: {have})")
        if len(files) != 1:
            self.fail(f"dataset_kwargs.data_files.{split}", "several files per split are not supported; use a glob")
        path = files[0]
        fmt = "csv" if self.builder == "csv" else "parquet" if self.builder == "parquet" else "jsonl"
        if self.builder == "json" and path.lower().endswith(".json"):
            fmt = "json"
        return self.build(field, FileSource, path=path, format=fmt, records_key=self.records_key)

    def split_name(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            self.fail(key, f"expected a split name, got {type(value).__name__}")
        return value

    # ------------------------------------------------------------ few-shot

    def fewshot(self, eval_split: str, eval_source: Source, prompt: dict[str, Any]) -> tuple[FewShot, str | None]:
        """lm-eval's exemplar pool and sampler; also the few-shot ``doc_to_target`` if it differs."""
        cfg = self.mapping("fewshot_config", self.data.get("fewshot_config"))
        for key in cfg:
            if key not in FEWSHOT_KEYS:
                self.fail(f"fewshot_config.{key}", "not supported")
        for key in ("doc_to_text", "doc_to_choice", "target_delimiter", "fewshot_delimiter"):
            if key in cfg and cfg[key] != prompt[key]:
                self.fail(f"fewshot_config.{key}", "differs from the task's own; agimeter renders exemplars with it")
        fewshot_target = cfg.get("doc_to_target")
        if fewshot_target is not None:
            self.text("fewshot_config.doc_to_target", fewshot_target)
        sampler = cfg.get("sampler", "default")
        if sampler not in SAMPLERS:
            self.fail("fewshot_config.sampler", f"{sampler!r} is not supported (first_n or default)")
        split = cfg["split"] if "split" in cfg else self.split_name("fewshot_split")
        samples = cfg.get("samples")
        test_split = self.split_name("test_split")
        pool: Source | None
        if split is not None:  # lm-eval's ConfigurableTask.fewshot_docs, in its order
            pool = self.source(split, "fewshot_config.split" if "split" in cfg else "fewshot_split")
        elif samples is not None:
            if not isinstance(samples, list):
                self.fail("fewshot_config.samples", f"expected a list of records, got {type(samples).__name__}")
            pool = self.build("fewshot_config.samples", InlineSource, records=samples)
        else:
            fallback = [k for k in ("training_split", "validation_split") if self.split_name(k) is not None]
            key = fallback[0] if fallback else "test_split"
            pool = self.source(self.split_name(key) or eval_split, key)
        if pool == eval_source:
            pool = None
        shots = self.data.get("num_fewshot")
        if shots is None:
            shots = 0  # lm-eval's evaluator: no num_fewshot means zero-shot
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
            self.fail("num_fewshot", f"expected a whole number >= 0, got {shots!r}")
        fewshot = self.build(
            "fewshot_config",
            FewShot,
            num_fewshot=shots,
            source=pool,
            sampler=SAMPLERS[sampler],
            seed=FEWSHOT_SEED,
            # lm-eval leaves the evaluated doc out exactly when the few-shot split's name equals
            # test_split's (both None included), whatever files they read.
            exclude_eval_doc=split == test_split,
        )
        return fewshot, fewshot_target

    # ------------------------------------------------------------ prompt

    def prompt(self, multiple_choice: bool) -> dict[str, Any]:
        text = self.data.get("doc_to_text")
        if text is None:
            self.fail("doc_to_text", "field required")
        if isinstance(text, int) and not isinstance(text, bool):
            self.fail("doc_to_text", "an index (one context per choice, as in winogrande) is not supported")
        target = self.data.get("doc_to_target")
        if target is None:
            self.fail("doc_to_target", "field required")
        if isinstance(target, list):
            self.fail("doc_to_target", "a list (several targets) is not supported")
        if isinstance(target, bool) or not isinstance(target, int | str):
            self.fail("doc_to_target", f"expected a field name, a template or an index, got {type(target).__name__}")
        if isinstance(target, str):
            self.text("doc_to_target", target)
        choice = self.data.get("doc_to_choice")
        if isinstance(choice, dict):
            choice = list(choice.values())  # lm-eval: a mapping's values
        if isinstance(choice, list):
            if not all(isinstance(c, str) for c in choice):
                self.fail("doc_to_choice", "expected a list of strings")
        elif choice is not None:
            self.text("doc_to_choice", choice)
        if multiple_choice and choice is None:
            self.fail("doc_to_choice", "field required for multiple_choice tasks")
        return {
            "description": self.text("description", self.data.get("description") or ""),
            "doc_to_text": self.text("doc_to_text", text),
            "doc_to_target": target,
            "doc_to_choice": choice,
            "target_delimiter": self.text("target_delimiter", self.data.get("target_delimiter", " "), template=False),
            "fewshot_delimiter": self.text(
                "fewshot_delimiter", self.data.get("fewshot_delimiter", "\n\n"), template=False
            ),
            "preprocess": self.process_docs(),
        }

    def process_docs(self) -> str | None:
        ref = self.data.get("process_docs")
        if ref is None:
            return None
        if not isinstance(ref, FunctionRef):
            self.fail("process_docs", "expected a !function tag")
        module = ref.module_path()
        digest = hashlib.sha256(module.read_bytes()).hexdigest() if module.is_file() else ""
        preprocess = KNOWN_PROCESS_DOCS.get((digest, ref.name.rpartition(".")[2]))
        if preprocess is None:
            self.fail(
                "process_docs",
                f"!function {ref.name}: Python code is not supported "
                "(only lm-eval 0.4.13's hellaswag utils.process_docs is recognised, by its sha256)",
            )
        self.files.append((module, digest))
        return preprocess

    # ------------------------------------------------------------ generation and scoring

    def metadata(self) -> tuple[str, Dimension]:
        meta = self.mapping("metadata", self.data.get("metadata"))
        version = meta.get("version")
        dimension = meta.get("dimension")
        if dimension is None:
            self.deviations.append(
                f"lm-eval YAMLs name no capability dimension (metadata.dimension); counted as {DEFAULT_DIMENSION!r}."
            )
            dimension = DEFAULT_DIMENSION
        if dimension not in DIMENSIONS:
            self.fail("metadata.dimension", f"must be one of {', '.join(DIMENSIONS)}, got {dimension!r}")
        return ("0" if version is None else str(version)), dimension

    def optional_text(self, field: str, value: Any) -> str | None:
        return None if value is None else self.text(field, value, template=False)

    # ------------------------------------------------------------ the spec

    def spec(self) -> TaskSpec:
        self.check_fields()
        name = self.name()
        output_type = self.output_type()
        multiple_choice = output_type == "multiple_choice"
        self.dataset()
        test_split, validation_split = self.split_name("test_split"), self.split_name("validation_split")
        eval_split = test_split or validation_split  # lm-eval's eval_docs
        if eval_split is None:
            self.fail("test_split", "neither test_split nor validation_split is set")
        source = self.source(eval_split, "test_split" if test_split else "validation_split")
        prompt = self.prompt(multiple_choice)
        fewshot, fewshot_target = self.fewshot(eval_split, source, prompt)
        if fewshot_target is not None and fewshot_target != prompt["doc_to_target"]:
            prompt["fewshot_target"] = fewshot_target
        if self.data.get("repeats", 1) != 1:
            self.fail("repeats", f"only 1 is supported, got {self.data['repeats']!r}")
        names, options = self.metrics(multiple_choice)
        generation = extraction = None
        if multiple_choice:
            if self.data.get("filter_list") is not None:
                self.fail("filter_list", "filters apply to generate_until tasks only")
        else:
            generation = self.generation(prompt["fewshot_delimiter"])
            extraction = self.extraction(options)
        version, dimension = self.metadata()
        path = self.config.path
        spec: TaskSpec = self.build(
            "task",
            TaskSpec,
            name=name,
            version=version,
            dimension=dimension,
            description=f"lm-eval task {name!r} read from {path.name}",
            output_type=output_type,
            source=source,
            fewshot=fewshot,
            prompt=self.build("task", Prompt, **prompt),
            generation=generation,
            extraction=extraction,
            metrics=names,
            references=["lm-evaluation-harness 0.4.13 task YAML semantics (api/task.py ConfigurableTask)"],
            deviations=self.deviations,
            imported_from=ImportedFrom(files=[SourceFile(path=str(p), sha256=h) for p, h in self.files]),
        )
        spec._origin = str(path)
        return spec


def spec_from_lm_eval(config: LmEvalConfig) -> TaskSpec:
    """The agimeter spec of an lm-eval task file (one-line ``TaskSpecError`` outside the subset)."""
    return _Converter(config).spec()
