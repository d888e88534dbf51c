"""One registry style for every extension point: backends, scorers, preprocessors, generators.

Each kind has one ``Registry``, owned by its layer, and a decorator that adds to it
(``@backend("fake")``, ``@scorer("code_exec", version="2")``, ``@preprocessor("hellaswag")``,
``@generator("arithmetic")``). Where importing the implementation is expensive (backends pull in
torch or llama.cpp), a name is registered by reference instead, ``"module:function"``, and the
module is imported on first use.

A separate package adds names without editing agimeter through ``importlib.metadata`` entry
points in the kind's group (``agimeter.backends``, ``agimeter.scorers``, ``agimeter.preprocessors``,
``agimeter.generators``). An entry point names a module (or an object in one) whose import
registers its names with the same decorators; every entry point of a group is loaded once, on the
registry's first lookup, and a plugin that fails to load is a one-line error naming it.

Lives below every layer: it imports nothing of agimeter but the error hierarchy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

from agimeter.errors import AgimeterError

T = TypeVar("T")


@dataclass(frozen=True)
class _Lazy:
    reference: str  # "module:attribute"

    def load(self) -> object:
        module_name, _, attribute = self.reference.partition(":")
        return getattr(importlib.import_module(module_name), attribute)


class Registry(Generic[T]):
    """Names → objects of one kind, with lazy references and entry-point plugins."""

    def __init__(self, kind: str, group: str, error: type[AgimeterError]) -> None:
        self.kind = kind  # as messages name it: "scorer", "procedural generator"
        self.group = group  # entry-point group of plugins
        self.error = error  # raised for an unknown name or a plugin that fails to load
        self._entries: dict[str, T | _Lazy] = {}
        self._plugins = "unloaded"  # "unloaded" | "loading" | "loaded"

    def add(self, name: str, target: T) -> T:
        """Register ``target`` under ``name``; a second, different registration is an error."""
        self._put(name, target)
        return target

    def add_lazy(self, name: str, reference: str) -> None:
        """Register ``"module:attribute"`` under ``name``; imported on the first ``get(name)``."""
        if ":" not in reference:
            raise ValueError(f"{self.kind} {name!r}: a lazy reference is 'module:attribute', not {reference!r}")
        self._put(name, _Lazy(reference))

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator(name)``: register the decorated object under ``name``."""

        def register(target: T) -> T:
            return self.add(name, target)

        return register

    def _put(self, name: str, target: T | _Lazy) -> None:
        if not name or name != name.strip():
            raise ValueError(f"{self.kind} name {name!r} must be non-empty, without surrounding spaces")
        existing = self._entries.get(name)
        if existing is not None and existing != target:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = target

    def get(self, name: str, where: str = "") -> T:
        """The object registered as ``name`` (lazy references imported now); unknown names raise
        the kind's error listing the known ones, after ``where`` (a field path) if given."""
        self._load_plugins()
        entry = self._entries.get(name)
        if entry is None:
            raise self.error(self.unknown(name, where))
        if isinstance(entry, _Lazy):
            loaded = cast(T, entry.load())
            self._entries[name] = loaded
            return loaded
        return entry

    def names(self) -> list[str]:
        """Every registered name, plugins included, sorted."""
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def unknown(self, name: str, where: str = "") -> str:
        """The one-line message for an unknown ``name``."""
        prefix = f"{where}: " if where else ""
        return f"{prefix}unknown {self.kind} {name!r} (known: {', '.join(self.names()) or 'none'})"

    def _load_plugins(self) -> None:
        if self._plugins != "unloaded":  # "loading": a plugin module looks names up while it registers
            return
        self._plugins = "loading"
        try:
            for point in entry_points(group=self.group):
                try:
                    point.load()
                except Exception as err:
                    lines = str(err).strip().splitlines()
                    why = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
                    raise self.error(
                        f"{self.kind} plugin {point.name} = {point.value} (entry point group {self.group}) "
                        f"failed to load: {why}"
                    ) from err
        except BaseException:
            self._plugins = "unloaded"  # the next lookup tries again, and fails the same way
            raise
        self._plugins = "loaded"

    @contextmanager
    def isolated(self) -> Iterator[None]:
        """Tests: entry points are looked up afresh inside, and names added inside are gone after."""
        saved, state = dict(self._entries), self._plugins
        self._plugins = "unloaded"
        try:
            yield
        finally:
            self._entries, self._plugins = saved, state
