"""Find and load task specs: built-in YAML files under ``tasks/builtin/`` or a user's YAML path."""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agimeter.errors import TaskSpecError, UnknownTaskError
from agimeter.tasks import templates
from agimeter.tasks.spec import TaskSpec

BUILTIN_DIR = Path(__file__).parent / "builtin"


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "<root>"


def _validation_message(name: str, err: ValidationError) -> str:
    errors = err.errors()
    first = errors[0]
    loc = first["loc"]
    # Discriminated unions add the tag ("file", "hf", ...) to the path; keep it, it says which kind.
    msg = str(first["msg"])
    if first["type"] == "missing":
        msg = "field required"
    elif first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if first["type"] == "value_error" and not loc:
        return f"{name}: {msg}{more}"
    return f"{name}: {_loc(tuple(loc))}: {msg}{more}"


def parse_spec(data: Any, name: str) -> TaskSpec:
    """Validate an already-parsed YAML mapping; errors name ``name`` and the field path."""
    if not isinstance(data, dict):
        raise TaskSpecError(f"{name}: expected a mapping of task fields, got {type(data).__name__}")
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as err:
        raise TaskSpecError(_validation_message(name, err)) from None
    for field, text, expression in spec.templates():
        problem = templates.syntax_problem(text, expression=expression)
        if problem is not None:
            raise TaskSpecError(f"{name}: {field}: {problem}")
    spec._origin = name
    return spec


def load_spec(path: str | Path) -> TaskSpec:
    """Load and validate a task YAML file (one-line TaskSpecError on any problem)."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskSpecError(f"{name}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TaskSpecError(f"{name}: cannot read ({err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise TaskSpecError(f"{name}{where}: invalid YAML: {problem}") from None
    return parse_spec(data, name)


def _looks_like_task(data: Any) -> bool:
    return isinstance(data, dict) and "name" in data and "source" in data and "output_type" in data


@lru_cache(maxsize=1)
def _builtin_index() -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted(BUILTIN_DIR.rglob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            data = None  # reported when someone asks for it by path; skip in the index
        if _looks_like_task(data):
            index.setdefault(str(data["name"]), path)
    return index


def builtin_task_names() -> list[str]:
    """Names of the built-in tasks, sorted."""
    return sorted(_builtin_index())


def builtin_spec_path(name: str) -> Path:
    try:
        return _builtin_index()[name]
    except KeyError:
        raise UnknownTaskError(_unknown_message(name)) from None


def _unknown_message(name: str) -> str:
    names = builtin_task_names()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"built-in tasks: {', '.join(names) or 'none'}"
    return f"unknown task {name!r}: not a built-in task or a YAML file ({hint})"


def resolve_task(name_or_path: str | Path) -> TaskSpec:
    """A built-in task by name, or a task YAML by path."""
    text = str(name_or_path)
    if text in _builtin_index():
        return load_spec(_builtin_index()[text])
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.exists():
            raise UnknownTaskError(f"task file not found: {path}")
        return load_spec(path)
    raise UnknownTaskError(_unknown_message(text))
