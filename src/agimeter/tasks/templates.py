"""Jinja2 rendering of task fields, mirroring lm-eval 0.4.13's ``doc_to_*`` resolution.

A template problem names the task YAML and the field (``my_task.yaml: prompt.doc_to_text: ...``)
and, when it shows on a record, that record (``file:line``). Syntax is checked when the YAML is
loaded (``syntax_problem``), so a typo fails before any data is read.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import Any

import jinja2

from agimeter.errors import DataError

Record = dict[str, Any]


def _regex_replace(string: str, pattern: str, repl: str, count: int = 0) -> str:
    return re.sub(pattern, repl, string, count=count)


# Same settings as lm_eval.utils.env: undefined fields are errors, trailing newlines are kept.
_ENV = jinja2.Environment(loader=jinja2.BaseLoader(), undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENV.filters["regex_replace"] = _regex_replace


@lru_cache(maxsize=256)
def _compile(template: str) -> jinja2.Template:
    return _ENV.from_string(template)


@lru_cache(maxsize=64)
def _compile_expression(expression: str) -> Any:
    return _ENV.compile_expression(expression)


def _syntax(err: jinja2.TemplateSyntaxError) -> str:
    return f"template syntax error: {err.message} (template line {err.lineno})"


def syntax_problem(template: str, *, expression: bool = False) -> str | None:
    """Why ``template`` (or a ``source.where`` expression) does not compile; None when it does."""
    try:
        _compile_expression(template) if expression else _compile(template)
    except jinja2.TemplateSyntaxError as err:
        return _syntax(err)
    return None


def _field(spec: str, what: str) -> str:
    """``my_task.yaml: prompt.doc_to_text`` (the field alone when the spec has no file)."""
    return f"{spec}: {what}" if spec else what


def test(expression: str, doc: Record, *, origin: str, spec: str = "") -> bool:
    """Evaluate a Jinja2 expression (``source.where``) on ``doc``, e.g. ``11 <= task_id <= 510``."""
    what = _field(spec, "source.where")
    try:
        compiled = _compile_expression(expression)
    except jinja2.TemplateSyntaxError as err:
        raise DataError(f"{what}: {_syntax(err)}") from err
    try:
        return bool(compiled(**doc))
    except jinja2.UndefinedError as err:
        raise DataError(f"{what}: {err.message} (record {origin})") from err
    except Exception as err:
        raise DataError(f"{what}: cannot evaluate on record {origin}: {type(err).__name__}: {err}") from err


def render(template: str, doc: Record, *, origin: str, what: str, spec: str = "") -> str:
    """Render ``template`` on ``doc``; a problem names the spec file, the field and the record."""
    where = _field(spec, what)
    try:
        return _compile(template).render(**doc)
    except jinja2.UndefinedError as err:
        raise DataError(f"{where}: {err.message} (record {origin})") from err
    except jinja2.TemplateSyntaxError as err:
        raise DataError(f"{where}: {_syntax(err)}") from err
    except Exception as err:  # a template calling a method on a value of the wrong type
        raise DataError(f"{where}: cannot render record {origin}: {type(err).__name__}: {err}") from err


def doc_to_text(template: str, doc: Record, *, origin: str, what: str = "prompt.doc_to_text", spec: str = "") -> str:
    """A field name returns the field; anything else is rendered as a template."""
    if template in doc:
        value = doc[template]
        if not isinstance(value, str):
            raise DataError(f"{origin}: field {template!r} is not a string (needed by {what})")
        return value
    return render(template, doc, origin=origin, what=what, spec=spec)


def doc_to_choice(
    spec_value: str | list[str], doc: Record, *, origin: str, spec: str = "", what: str = "prompt.doc_to_choice"
) -> list[str]:
    """A literal list, a field holding a list, or a template rendering a Python list literal."""
    if isinstance(spec_value, list):
        return list(spec_value)
    if spec_value in doc:
        value: Any = doc[spec_value]
    else:
        rendered = render(spec_value, doc, origin=origin, what=what, spec=spec)
        try:
            value = ast.literal_eval(rendered)
        except (SyntaxError, ValueError) as err:
            raise DataError(f"{origin}: {what} did not render a list: {rendered[:80]!r}") from err
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise DataError(f"{origin}: {what} must give a list of strings, got {type(value).__name__}")
    return [str(c) for c in value]


def doc_to_target(
    spec_value: str | int,
    doc: Record,
    *,
    origin: str,
    multiple_choice: bool,
    what: str = "prompt.doc_to_target",
    spec: str = "",
) -> int | str:
    """lm-eval's doc_to_target: int passes through; field name → raw value; else a template whose
    all-digit rendering becomes an int for multiple-choice tasks."""
    if isinstance(spec_value, int):
        return spec_value
    value = doc[spec_value] if spec_value in doc else render(spec_value, doc, origin=origin, what=what, spec=spec)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DataError(f"{origin}: {what} gave a {type(value).__name__}, expected an int or a string")
    if multiple_choice and isinstance(value, str) and value.isdigit():
        return int(value)
    return value
