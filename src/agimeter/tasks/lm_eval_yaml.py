"""Read lm-eval task YAML files without running their code.

lm-eval (0.4.13, ``lm_eval/tasks/_yaml_loader.py``) loads task files with a YAML loader that
imports the Python behind every ``!function`` tag and merges ``include:`` files under the file's
own keys. Here ``!function`` becomes a ``FunctionRef`` marker that the converter refuses (or
recognises, see ``lm_eval_spec``), and includes are merged the same way, found next to the file
or under ``--include-path``. Every file read is kept with its sha256 for the run's protocol.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from agimeter.errors import ConfigError, TaskSpecError

# Keys that only lm-eval task files use (agimeter's own specs have ``name`` and ``source``).
_LM_EVAL_KEYS = frozenset({"task", "include", "group", "dataset_path", "doc_to_text"})
_SKIP_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class FunctionRef:
    """A ``!function module.name`` tag: Python code that is never imported."""

    name: str
    defined_in: Path  # the YAML file holding the tag (lm-eval looks for the module next to it)

    def module_path(self) -> Path:
        """The file lm-eval would import: ``utils.process_docs`` -> ``<dir>/utils.py``."""
        module, _, _ = self.name.rpartition(".")
        return self.defined_in.parent / f"{module.replace('.', '/')}.py"


# libyaml's safe loader when built in (lm-eval uses it too): ~10x faster over a tasks tree.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _loader_for(path: Path) -> type[yaml.SafeLoader]:
    class Loader(_SafeBase):  # type: ignore[valid-type,misc]
        pass

    def function(loader: yaml.SafeLoader, node: yaml.Node) -> FunctionRef:
        return FunctionRef(str(loader.construct_scalar(node)), path)  # type: ignore[arg-type]

    Loader.add_constructor("!function", function)
    return Loader


def parse_yaml(text: str, name: str, path: Path | None = None) -> Any:
    """Safe YAML with ``!function`` read as a marker; a syntax error is one line ``name:line: ...``."""
    try:
        return yaml.load(text, Loader=_loader_for(path or Path(name)))  # a SafeLoader subclass: no Python objects
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise TaskSpecError(f"{name}{where}: invalid YAML: {problem}") from None


def find_function(data: Any, where: str = "") -> tuple[str, FunctionRef] | None:
    """The first ``!function`` in ``data`` as (field path, marker), None when there is none."""
    if isinstance(data, FunctionRef):
        return where or "<root>", data
    items: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        items = [(f"{where}.{key}" if where else str(key), value) for key, value in data.items()]
    elif isinstance(data, list):
        items = [(f"{where}[{i}]", value) for i, value in enumerate(data)]
    for path, value in items:
        found = find_function(value, path)
        if found is not None:
            return found
    return None


def is_lm_eval_config(data: Any) -> bool:
    """Whether a parsed YAML mapping is an lm-eval task file rather than an agimeter spec."""
    return isinstance(data, dict) and "name" not in data and bool(_LM_EVAL_KEYS & set(data))


@dataclass
class LmEvalConfig:
    """A task file with its includes merged (local keys win), and where each key was written."""

    path: Path
    data: dict[str, Any]
    key_file: dict[str, Path] = field(default_factory=dict)
    files: list[tuple[Path, str]] = field(default_factory=list)  # (path, sha256), the task file first

    def where(self, key: str) -> str:
        """The file that set top-level ``key`` (the task file when nobody did)."""
        return str(self.key_file.get(key, self.path))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TaskSpecError(f"{name}: file not found") from None
    except OSError as err:
        raise TaskSpecError(f"{name}: cannot read ({err.strerror or err})") from None


def _find_include(target: str, including: Path, include_paths: tuple[Path, ...]) -> Path:
    """lm-eval's rule (next to the including file, or absolute), then each ``--include-path``:
    the path under it, else the one file of that name anywhere below it."""
    raw = Path(target)
    if raw.is_absolute() or (including.parent / raw).is_file():
        return raw if raw.is_absolute() else including.parent / raw
    for root in include_paths:
        if (root / raw).is_file():
            return root / raw
        found = sorted(p for p in root.rglob(raw.name) if p.is_file() and not _SKIP_DIRS & set(p.parts))
        if len(found) > 1:
            shown = ", ".join(str(p) for p in found[:3])
            raise TaskSpecError(f"{including}: include: {target!r} matches several files under {root}: {shown}")
        if found:
            return found[0]
    return including.parent / raw


def load_config(path: Path, include_paths: tuple[Path, ...] = (), _stack: tuple[Path, ...] = ()) -> LmEvalConfig:
    """Read ``path`` and everything it includes, as lm-eval's ``load_yaml`` merges them."""
    name = str(path)
    resolved = path.resolve()
    if resolved in _stack:
        raise TaskSpecError(f"{name}: include: cycle ({' -> '.join(p.name for p in (*_stack, resolved))})")
    raw = _read(path, name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TaskSpecError(f"{name}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    data = parse_yaml(text, name, path)
    if not isinstance(data, dict):
        raise TaskSpecError(f"{name}: expected a mapping of task fields, got {type(data).__name__}")
    config = LmEvalConfig(path, {}, {}, [(path, _sha256(raw))])
    includes = data.pop("include", None)
    targets = includes if isinstance(includes, list) else [] if includes is None else [includes]
    for target in targets:
        if not isinstance(target, str):
            raise TaskSpecError(f"{name}: include: expected a file name, got {type(target).__name__}")
        found = _find_include(target, path, include_paths)
        if not found.is_file():
            where = "next to it" + (" or under --include-path" if include_paths else "")
            raise TaskSpecError(f"{name}: include: {target!r} not found ({where})")
        included = load_config(found, include_paths, (*_stack, resolved))
        included.data.pop("task_list", None)  # lm-eval: a task_list belongs to its own file
        config.data.update(included.data)
        config.key_file.update({key: included.key_file.get(key, included.path) for key in included.data})
        config.files += included.files
    config.data.update(data)
    config.key_file.update({key: path for key in data})
    return config


@dataclass(frozen=True)
class IndexedTasks:
    """Task and group names found under ``--include-path`` directories, with their files."""

    tasks: dict[str, Path]
    groups: dict[str, Path]


def include_dirs(paths: tuple[str, ...] | list[str]) -> tuple[Path, ...]:
    """``--include-path`` values as directories (a missing one is a one-line error)."""
    dirs = tuple(Path(p) for p in paths)
    for d in dirs:
        if not d.is_dir():
            raise ConfigError(f"--include-path: {d} is not a directory")
    return dirs


def _yaml_files(root: Path) -> list[Path]:
    found = sorted(root.rglob("*.yaml"), key=lambda p: p.as_posix())
    return [p for p in found if not _SKIP_DIRS & set(p.parts)]


def index_tasks(include_paths: tuple[Path, ...]) -> IndexedTasks:
    """Every ``*.yaml`` under the directories, by its ``task``/``group`` name, as lm-eval's
    TaskIndex builds it: files in path order, the first of a duplicate name kept within one
    directory, a later directory overriding an earlier one; unreadable files are skipped.
    Kept while no listed file changes (one run resolves each of its tasks against it)."""
    listing = tuple(tuple((p, p.stat().st_mtime_ns) for p in _yaml_files(root)) for root in include_paths)
    return _build_index(include_paths, listing)


@lru_cache(maxsize=4)
def _build_index(include_paths: tuple[Path, ...], listing: tuple[tuple[tuple[Path, int], ...], ...]) -> IndexedTasks:
    tasks: dict[str, Path] = {}
    groups: dict[str, Path] = {}
    for files in listing:
        here: dict[str, Path] = {}
        here_groups: dict[str, Path] = {}
        for path, _ in files:
            try:
                data = load_config(path, include_paths).data
            except TaskSpecError:
                continue
            if isinstance(data.get("group"), str):
                here_groups.setdefault(data["group"], path)
            elif isinstance(data.get("task"), str):
                here.setdefault(data["task"], path)
        tasks.update(here)
        groups.update(here_groups)
    return IndexedTasks(tasks, groups)
