"""Known real models shipped on PyPI as GGUF files inside wheels: a small declarative catalog.

A GGUF is either one file inside one package, written by the package's own ``assemble`` hook, or
cut into data ``parts`` across several packages, which agimeter concatenates itself without
importing them (:mod:`agimeter.backends.gguf_parts`). ``hf:<alias>`` loads the GGUF through
transformers (dequantized), caching the converted weights on disk keyed by the GGUF's sha256,
which is also the model identity used in cache keys; ``gguf:<alias>`` reads it with llama.cpp.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agimeter.backends.gguf_parts import ModelPart, assemble, assembled_path, installed_parts, module_dir
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
    hf_id: str  # the checkpoint the weights are (published numbers are looked up by it)
    package: str  # pip package(s) carrying the file
    pip_install: str  # exact command to install it
    extra: str | None = None  # agimeter extra that pulls it in, if there is one
    module: str | None = None  # import name of the package (found with find_spec, never imported)
    file: str  # GGUF file name inside the package dir, or of the assembled file in the cache
    assemble: str | None = None  # "module:function" that writes the file (chunked packages)
    parts: list[ModelPart] = Field(default_factory=list)  # data parts concatenated in this order
    bytes: int | None = None  # size of the GGUF (required with parts)
    sha256: str | None = None  # expected sha256 of the GGUF, when published (required with parts)
    licence: str
    licence_notice: str | None = None  # shown on first use
    provenance: str | None = None  # who packaged the weights, when it is not the model's authors
    weights_note: str | None = None  # how the weights differ from the ones published numbers are for
    architecture: str
    num_parameters: int
    quantization: str
    chat_template: bool
    published: list[PublishedScore] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way_to_find_the_file(self) -> ModelAlias:
        if (self.module is None) == (not self.parts):
            raise ValueError("give either module (one package holds the file) or parts (cut into packages)")
        if self.parts:
            if self.assemble is not None:
                raise ValueError("parts are assembled by agimeter: no assemble hook")
            if self.sha256 is None or self.bytes is None:
                raise ValueError("parts need the assembled file's bytes and sha256")
            total = sum(part.bytes for part in self.parts)
            if total != self.bytes:
                raise ValueError(f"parts add up to {total:,} bytes, not bytes: {self.bytes:,}")
        return self


@functools.cache
def load_catalog() -> Mapping[str, ModelAlias]:
    """The aliases, parsed once per process (read-only: lookups run inside per-entry loops)."""
    raw = yaml.safe_load(CATALOG_FILE.read_text())
    return MappingProxyType({entry["alias"]: ModelAlias.model_validate(entry) for entry in raw["models"]})


def package_dir(alias: ModelAlias) -> Path | None:
    """The package holding the GGUF; None for a model cut into parts (see :func:`is_installed`)."""
    return module_dir(alias.module) if alias.module is not None else None


def is_installed(alias: ModelAlias) -> bool:
    """The package is there, or every part of a model cut into parts."""
    if alias.parts:
        return all(path is not None for path in installed_parts(alias))
    return package_dir(alias) is not None


def gguf_path(alias: ModelAlias, work_dir: Path) -> Path:
    """Locate (or assemble) the GGUF file; raise a one-line error naming the pip command."""
    if alias.parts:
        return assemble(alias, work_dir)
    pkg = package_dir(alias)
    if pkg is None:
        via_extra = f" (or `pip install 'agimeter[{alias.extra}]'`)" if alias.extra else ""
        raise ModelError(f"model {alias.alias!r} is not installed: run `{alias.pip_install}`{via_extra}")
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


class ModelListing(BaseModel):
    """One row of ``agimeter models``: the catalog entry and what is on this machine now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str
    hf_id: str
    installed: bool
    parts_installed: int | None  # models cut into parts: how many of them are installed
    parts_total: int | None
    gguf_path: str | None  # the GGUF as found (package file or assembled cache file), if present
    gguf_bytes: int | None  # its size, measured (stat): the file, else the sum of the installed parts
    num_parameters: int
    quantization: str
    architecture: str
    chat_template: bool
    licence: str
    provenance: str | None
    weights_note: str | None
    sha256: str | None  # pinned: the file must hash to this
    pip_install: str


def describe(alias: ModelAlias, cache_dir: Path) -> ModelListing:
    """``alias`` as found on this machine, without reading or assembling any weights."""
    found: Path | None = None
    parts_installed: int | None = None
    size: int | None = None
    if alias.parts:
        paths = installed_parts(alias)
        parts_installed = sum(p is not None for p in paths)
        found = assembled_path(alias, cache_dir)
        if found is None and parts_installed == len(paths):
            size = sum(p.stat().st_size for p in paths if p is not None)
        installed = parts_installed == len(paths)
    else:
        pkg = package_dir(alias)
        installed = pkg is not None
        for candidate in ([pkg / alias.file] if pkg else []) + [cache_dir / alias.file]:
            if candidate.is_file():
                found = candidate
                break
    if found is not None:
        size = found.stat().st_size
    return ModelListing(
        alias=alias.alias,
        hf_id=alias.hf_id,
        installed=installed,
        parts_installed=parts_installed,
        parts_total=len(alias.parts) if alias.parts else None,
        gguf_path=str(found) if found else None,
        gguf_bytes=size,
        num_parameters=alias.num_parameters,
        quantization=alias.quantization,
        architecture=alias.architecture,
        chat_template=alias.chat_template,
        licence=alias.licence,
        provenance=alias.provenance,
        weights_note=alias.weights_note,
        sha256=alias.sha256,
        pip_install=alias.pip_install,
    )
