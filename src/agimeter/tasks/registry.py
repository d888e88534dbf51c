"""Find and load task specs: built-in YAML files under ``tasks/builtin/``, a user's YAML path, or
an lm-eval task YAML (by path, or by its task name under ``--include-path``)."""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agimeter.errors import TaskSpecError, UnknownTaskError
from agimeter.tasks import lm_eval_yaml, templates
from agimeter.tasks.lm_eval_spec import spec_from_lm_eval
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


def load_spec(path: str | Path, include_paths: tuple[Path, ...] = ()) -> TaskSpec:
    """Load and validate a task YAML file, agimeter's own or lm-eval's (one-line TaskSpecError
    on any problem); ``include_paths`` is where an lm-eval file's ``include:`` may also be found."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskSpecError(f"{name}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TaskSpecError(f"{name}: cannot read ({err})") from None
    data = lm_eval_yaml.parse_yaml(text, name, path)
    if lm_eval_yaml.is_lm_eval_config(data):
        return spec_from_lm_eval(lm_eval_yaml.load_config(path, include_paths))
    found = lm_eval_yaml.find_function(data)
    if found is not None:
        raise TaskSpecError(f"{name}: {found[0]}: !function (Python code) is not supported in a task spec")
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


def _unknown_message(name: str, included: list[str] | None = None) -> str:
    names = builtin_task_names()
    close = difflib.get_close_matches(name, names + (included or []), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"built-in tasks: {', '.join(names) or 'none'}"
    where = "a built-in task, a task under --include-path," if included is not None else "a built-in task"
    return f"unknown task {name!r}: not {where} or a YAML file ({hint})"


def resolve_task(name_or_path: str | Path, include_paths: tuple[str, ...] | list[str] = ()) -> TaskSpec:
    """By name, an lm-eval task under ``include_paths`` (which, as in lm-eval, take precedence)
    or a built-in task; else a task YAML (agimeter's or lm-eval's) by path."""
    text = str(name_or_path)
    dirs = lm_eval_yaml.include_dirs(include_paths)
    path = Path(text)
    named_file = path.suffix in (".yaml", ".yml")
    indexed = lm_eval_yaml.index_tasks(dirs) if dirs and not named_file else None
    if indexed is not None and text in indexed.tasks:
        return load_spec(indexed.tasks[text], dirs)
    if text in _builtin_index():
        return load_spec(_builtin_index()[text])
    if named_file or path.is_file():
        if not path.exists():
            raise UnknownTaskError(f"task file not found: {path}")
        return load_spec(path, dirs)
    if indexed is not None and text in indexed.groups:
        raise TaskSpecError(f"{indexed.groups[text]}: group: lm-eval groups are not supported; pass its member tasks")
    raise UnknownTaskError(_unknown_message(text, sorted(indexed.tasks) if indexed is not None else None))
