"""Test helpers for plugins: an installed-looking distribution in a folder, and registries that
look their entry points up afresh and forget what was registered meanwhile."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path


def write_distribution(root: Path, module: str, source: str, entry_points: Mapping[str, Mapping[str, str]]) -> Path:
    """Write ``module.py`` and its dist-info (what ``pip install`` leaves) under ``root``; put
    ``root`` on ``sys.path`` (or ``PYTHONPATH``) and ``importlib.metadata`` finds its entry points
    (``{group: {name: "module[:object]"}}``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    name = module.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    sections = [
        "\n".join([f"[{group}]", *(f"{k} = {v}" for k, v in points.items())]) for group, points in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return root


@contextmanager
def fresh_registries(*plugin_modules: str) -> Iterator[None]:
    """Every registry looks its entry points up again inside; afterwards the names registered
    inside are gone and ``plugin_modules`` are unloaded (so the next import registers again)."""
    from agimeter.backends.registry import BACKENDS
    from agimeter.scoring.registry import SCORERS
    from agimeter.tasks.preprocess import PREPROCESSORS
    from agimeter.tasks.procedural import GENERATORS

    try:
        with ExitStack() as stack:
            for registry in (BACKENDS, SCORERS, PREPROCESSORS, GENERATORS):
                stack.enter_context(registry.isolated())
            yield
    finally:
        for module in plugin_modules:
            sys.modules.pop(module, None)
