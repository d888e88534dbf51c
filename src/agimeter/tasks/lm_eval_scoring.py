"""lm-eval's generation_kwargs, metric_list and filter_list as agimeter's generation settings,
metrics and answer extraction (the ``lm_eval_spec`` converter's scoring half).

lm-eval 0.4.13 semantics: ``RegexFilter`` (``filters/extraction.py``), the ``exact_match`` metric
(``api/metrics.py`` exact_match_hf_evaluate) and ``TaskConfig.__post_init__``'s generation defaults.
"""

from __future__ import annotations

import re
import string
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from agimeter.errors import TaskSpecError, first_problem
from agimeter.tasks import templates
from agimeter.tasks.lm_eval_yaml import LmEvalConfig
from agimeter.tasks.spec import Extraction, Generation

GENERATION_KEYS = frozenset({"until", "max_gen_toks", "do_sample", "temperature", "top_p"})
MC_METRICS = ("acc", "acc_norm")
EXACT_MATCH_OPTIONS = frozenset({"ignore_case", "ignore_punctuation", "ignore_numbers", "regexes_to_ignore"})
DEFAULT_MAX_GEN_TOKS = 256  # lm_eval.defaults.DEFAULT_MAX_GEN_TOKS
# lm-eval's RegexFilter miss value, and gsm8k's flexible-extract pattern (tasks cannot import
# scoring; tests check these equal agimeter.scoring.extraction's INVALID and LAST_NUMBER_PATTERN).
INVALID = "[invalid]"
LAST_NUMBER_PATTERN = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"

M = TypeVar("M", bound=BaseModel)


class FieldReader:
    """Reads one lm-eval config's fields; every problem is ``file.yaml: field: why``."""

    def __init__(self, config: LmEvalConfig) -> None:
        self.config = config
        self.data = config.data
        self.deviations: list[str] = []
        self.exact_match_field = "metric_list"

    def fail(self, field: str, why: str) -> NoReturn:
        top = re.split(r"[.\[]", field, maxsplit=1)[0]
        raise TaskSpecError(f"{self.config.where(top)}: {field}: {why}")

    def text(self, field: str, value: Any, *, template: bool = True) -> str:
        if not isinstance(value, str):
            self.fail(field, f"expected a string, got {type(value).__name__}")
        if template:
            problem = templates.syntax_problem(value)
            if problem is not None:
                self.fail(field, problem)
        return value

    def mapping(self, field: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(field, f"expected a mapping, got {type(value).__name__}")
        return value

    def build(self, field: str, model: type[M], **values: Any) -> M:
        try:
            return model(**values)
        except ValidationError as err:
            where, msg = first_problem(err)
            self.fail(f"{field}.{where}" if where else field, msg.removeprefix("Value error, "))

    def compiles(self, field: str, pattern: str) -> None:
        try:
            re.compile(pattern)
        except re.error as err:
            self.fail(field, f"invalid regular expression {pattern!r} ({err})")


class ScoringFields(FieldReader):
    """generation_kwargs, metric_list and filter_list."""

    def generation(self, fewshot_delimiter: str) -> Generation:
        kwargs = self.mapping("generation_kwargs", self.data.get("generation_kwargs"))
        for key in kwargs:
            if key not in GENERATION_KEYS:
                self.fail(f"generation_kwargs.{key}", f"not supported ({', '.join(sorted(GENERATION_KEYS))} are)")
        until = kwargs.get("until", [fewshot_delimiter])  # lm-eval's default: the few-shot delimiter
        until = [until] if isinstance(until, str) else until
        if not isinstance(until, list) or not all(isinstance(u, str) for u in until):
            self.fail("generation_kwargs.until", "expected a string or a list of strings")
        temperature = kwargs.get("temperature", 0.0)
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature < 0:
            self.fail("generation_kwargs.temperature", f"expected a number >= 0, got {temperature!r}")
        do_sample = kwargs.get("do_sample")
        if do_sample is not None and not isinstance(do_sample, bool):
            self.fail("generation_kwargs.do_sample", f"expected true or false, got {do_sample!r}")
        if do_sample and temperature <= 0:
            self.fail("generation_kwargs.do_sample", "true needs temperature > 0")
        if do_sample is False:
            temperature = 0.0  # greedy: transformers ignores the temperature without sampling
        return self.build(
            "generation_kwargs",
            Generation,
            stop=until,
            max_tokens=kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS),
            temperature=float(temperature),
            top_p=kwargs.get("top_p", 1.0),
        )

    def metrics(self, multiple_choice: bool) -> tuple[list[str], dict[str, Any]]:
        """Metric names and the exact_match options (lm-eval's metric_list kwargs)."""
        entries = self.data.get("metric_list")
        if entries is None:  # lm-eval's DEFAULT_METRIC_REGISTRY
            return (list(MC_METRICS) if multiple_choice else ["exact_match"]), {}
        if not isinstance(entries, list) or not entries:
            self.fail("metric_list", "expected a non-empty list of metrics")
        names: list[str] = []
        options: dict[str, Any] = {}
        allowed = MC_METRICS if multiple_choice else ("exact_match",)
        for i, entry in enumerate(entries):
            field = f"metric_list[{i}]"
            entry = self.mapping(field, entry)
            metric = entry.get("metric")
            if not isinstance(metric, str) or metric not in allowed:
                self.fail(f"{field}.metric", f"{metric!r} is not supported here (supported: {', '.join(allowed)})")
            if metric in names:
                self.fail(f"{field}.metric", f"{metric!r} is listed twice")
            names.append(metric)
            if metric == "exact_match":
                self.exact_match_field = field
            if entry.get("aggregation", "mean") != "mean":
                self.fail(f"{field}.aggregation", f"{entry['aggregation']!r} is not supported (mean)")
            if entry.get("higher_is_better", True) is not True:
                self.fail(f"{field}.higher_is_better", "only true is supported")
            for key, value in entry.items():
                if key in ("metric", "aggregation", "higher_is_better"):
                    continue
                if metric != "exact_match" or key not in EXACT_MATCH_OPTIONS:
                    self.fail(f"{field}.{key}", f"not supported for {metric}")
                options[key] = value
        return names, options

    def _exact_match_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """lm-eval's exact_match (regexes, then lower case, punctuation, digits) as agimeter's
        ignore_regexes + ignore_case: removing ASCII punctuation or digits commutes with lower()."""
        regexes = options.get("regexes_to_ignore") or []
        if not isinstance(regexes, list) or not all(isinstance(r, str) for r in regexes):
            self.fail(f"{self.exact_match_field}.regexes_to_ignore", "expected a list of regular expressions")
        for regex in regexes:
            self.compiles(f"{self.exact_match_field}.regexes_to_ignore", regex)
        ignore = list(regexes)
        if options.get("ignore_punctuation"):
            ignore.append("[" + re.escape(string.punctuation) + "]")
        if options.get("ignore_numbers"):
            ignore.append("[" + string.digits + "]")
        return {"ignore_regexes": ignore, "ignore_case": bool(options.get("ignore_case", False))}

    def _filter(self, i: int, entry: Any) -> tuple[str, dict[str, Any] | None]:
        """(name, regex settings or None for the raw output) of a ``[regex,] take_first`` filter."""
        field = f"filter_list[{i}]"
        entry = self.mapping(field, entry)
        steps = entry.get("filter")
        if not isinstance(steps, list) or not steps:
            self.fail(f"{field}.filter", "expected a list of filter functions")
        functions = [self.mapping(f"{field}.filter[{j}]", s).get("function") for j, s in enumerate(steps)]
        if functions not in (["regex", "take_first"], ["take_first"]):
            self.fail(f"{field}.filter", f"{functions} is not supported ([regex, take_first] or [take_first])")
        name = str(entry.get("name", f"filter {i}"))
        if functions == ["take_first"]:
            return name, None
        regex = {k: v for k, v in steps[0].items() if k != "function"}
        for key in regex:
            if key not in ("regex_pattern", "group_select", "fallback"):
                self.fail(f"{field}.filter[0].{key}", "not supported")
        pattern = regex.get("regex_pattern", r"#### (\-?[0-9\.\,]+)")  # RegexFilter's defaults
        self.compiles(f"{field}.filter[0].regex_pattern", pattern)
        return name, {
            "pattern": pattern,
            "group_select": regex.get("group_select", 0),
            "miss_value": regex.get("fallback", INVALID),
        }

    def extraction(self, options: dict[str, Any]) -> Extraction | None:
        filters = self.data.get("filter_list")
        if filters is not None and (not isinstance(filters, list) or not filters):
            self.fail("filter_list", "expected a non-empty list of filters")
        parsed = [self._filter(i, f) for i, f in enumerate(filters or [])]
        if len(parsed) > 2:
            self.fail("filter_list", "at most two filters are supported (a regex, then gsm8k's flexible-extract)")
        primary = parsed[0][1] if parsed else None
        normalize = self._exact_match_options(options)
        if primary is None:
            if len(parsed) > 1:
                self.fail("filter_list[1]", "a second filter is supported only after a regex filter")
            if normalize["ignore_regexes"] or normalize["ignore_case"]:
                self.fail(self.exact_match_field, "exact_match options need a regex filter in filter_list")
            return None  # lm-eval's take_first: the raw output, compared as is
        self.deviations.append(f"lm-eval's filter {parsed[0][0]!r} is reported as exact_match.")
        flexible = False
        if len(parsed) == 2:
            name, second = parsed[1]
            expected = {"pattern": LAST_NUMBER_PATTERN, "group_select": -1, "miss_value": primary["miss_value"]}
            if second != expected:
                self.fail("filter_list[1]", "only gsm8k's flexible-extract (the last number) is supported second")
            flexible = True
            self.deviations.append(f"lm-eval's filter {name!r} is reported as exact_match_flexible.")
        return self.build("filter_list", Extraction, kind="regex", flexible=flexible, **primary, **normalize)
