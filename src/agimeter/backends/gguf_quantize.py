"""Quantized variants of a GGUF, made by llama.cpp's own quantizer and cached by (source, type).

``llama_model_quantize`` (llama-cpp-python's binding of llama.cpp's ``llama-quantize``) does the
work: no quantization code of our own. A float (F32/F16/BF16) source is quantized directly; a
quantized source is re-quantized (``allow_requantize``: llama.cpp dequantizes each tensor and
quantizes it again), so a variant of nominally higher precision (Q8_0 of a Q4_K_M file) cannot
recover what the source already lost: it is the source's weights, stored in more bits.

Variants live in ``<model cache>/quantized/<source sha256[:16]>/``. One is written to a
``.partial`` file in that folder (llama.cpp writes the file itself), checked for completeness,
hashed and renamed into place, then stamped (source sha256, type, its own sha256, size, mtime), so
an error or a kill leaves no half-written variant behind and a later call reuses the file without
reading it. Free space is checked before writing.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from agimeter.backends._hashing import file_sha256, remember_sha256, sha256_file
from agimeter.backends._stamps import read_stamp, write_stamp
from agimeter.backends.gguf_file import HeaderSummary, file_type_name, summarize_gguf
from agimeter.errors import ConfigError, ModelError

FLOAT_TYPES = frozenset({"F32", "F16", "BF16"})
# Slack on top of the estimate of a variant's size: its metadata and vocabulary, and filesystem blocks.
SPACE_MARGIN_BYTES = 64 << 20


class QuantType(NamedTuple):
    name: str  # as llama.cpp's llama-quantize names it: Q4_K_M
    ftype: str  # llama_cpp constant: LLAMA_FTYPE_MOSTLY_Q4_K_M
    bits: float  # bits per weight of its main block type (k-quant mixes keep some tensors wider)


# The types llama-quantize offers that need no importance matrix (IQ1_*, IQ2_* and Q2_K_S refuse
# to run without one). Bits per weight: ggml's block sizes.
QUANT_TYPES: dict[str, QuantType] = {
    q.name.lower(): q
    for q in (
        QuantType("F16", "LLAMA_FTYPE_MOSTLY_F16", 16.0),
        QuantType("BF16", "LLAMA_FTYPE_MOSTLY_BF16", 16.0),
        QuantType("Q8_0", "LLAMA_FTYPE_MOSTLY_Q8_0", 8.5),
        QuantType("Q6_K", "LLAMA_FTYPE_MOSTLY_Q6_K", 6.5625),
        QuantType("Q5_K_M", "LLAMA_FTYPE_MOSTLY_Q5_K_M", 5.5),
        QuantType("Q5_K_S", "LLAMA_FTYPE_MOSTLY_Q5_K_S", 5.5),
        QuantType("Q5_1", "LLAMA_FTYPE_MOSTLY_Q5_1", 6.0),
        QuantType("Q5_0", "LLAMA_FTYPE_MOSTLY_Q5_0", 5.5),
        QuantType("Q4_K_M", "LLAMA_FTYPE_MOSTLY_Q4_K_M", 4.5),
        QuantType("Q4_K_S", "LLAMA_FTYPE_MOSTLY_Q4_K_S", 4.5),
        QuantType("Q4_1", "LLAMA_FTYPE_MOSTLY_Q4_1", 5.0),
        QuantType("Q4_0", "LLAMA_FTYPE_MOSTLY_Q4_0", 4.5),
        QuantType("IQ4_NL", "LLAMA_FTYPE_MOSTLY_IQ4_NL", 4.5),
        QuantType("IQ4_XS", "LLAMA_FTYPE_MOSTLY_IQ4_XS", 4.25),
        QuantType("Q3_K_L", "LLAMA_FTYPE_MOSTLY_Q3_K_L", 3.4375),
        QuantType("Q3_K_M", "LLAMA_FTYPE_MOSTLY_Q3_K_M", 3.4375),
        QuantType("Q3_K_S", "LLAMA_FTYPE_MOSTLY_Q3_K_S", 3.4375),
        QuantType("Q2_K", "LLAMA_FTYPE_MOSTLY_Q2_K", 2.625),
    )
}


def quant_type(name: str) -> QuantType:
    """The type named ``name`` (any case); a one-line ``ConfigError`` listing the valid ones."""
    found = QUANT_TYPES.get(name.strip().lower())
    if found is None:
        valid = ", ".join(QUANT_TYPES)
        raise ConfigError(f"unknown quantization type {name.strip()!r}; valid types: {valid}")
    return found


def parse_quant_types(names: Iterable[str]) -> list[str]:
    """Canonical names (``Q8_0``) of a comma-separated list, in order, without repeats."""
    out: list[str] = []
    for part in names:
        for name in part.split(","):
            if not name.strip():
                continue
            canonical = quant_type(name).name
            if canonical not in out:
                out.append(canonical)
    if not out:
        raise ConfigError(f"no quantization types given; valid types: {', '.join(QUANT_TYPES)}")
    return out


class SourceInfo(BaseModel):
    """The file variants are made from, and the reference they are compared with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: str
    bytes: int
    file_type: str  # general.file_type (Q4_K_M, F32, ...); "mixed" when the file does not say
    quantized: bool  # any weight tensor is stored in a quantized type
    parameters: int  # elements over all tensors
    tensor_types: dict[str, int]  # ggml type name -> number of tensors


class Variant(BaseModel):
    """One quantized variant on disk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quant: str  # Q8_0
    path: str
    sha256: str
    bytes: int
    source_sha256: str
    requantized: bool  # made from a quantized source (cannot be better than it)
    seconds: float  # llama.cpp's quantization time, when this variant was made
    reused: bool  # found in the cache, not made by this call
    tensor_types: dict[str, int]
    fallback_tensors: int | None = None  # llama.cpp's "N of M tensor(s) required fallback quantization"


def describe_source(path: Path) -> SourceInfo:
    """The source's identity and precision, from its header (one-line ``ModelError`` if unreadable)."""
    header = summarize_gguf(path)
    types = _tensor_types(header)
    quantized = any(name not in FLOAT_TYPES and name not in ("I8", "I16", "I32", "I64", "F64") for name in types)
    return SourceInfo(
        path=str(path),
        sha256=file_sha256(path),
        bytes=path.stat().st_size,
        file_type=file_type_name(header.file_type) or ("mixed" if quantized else _float_name(types)),
        quantized=quantized,
        parameters=sum(t.elements for t in header.tensors),
        tensor_types=types,
    )


def variant_dir(source: SourceInfo, cache_dir: Path | None = None) -> Path:
    from agimeter.backends.gguf_convert import cache_root

    return (cache_dir or cache_root() / "quantized") / source.sha256[:16]


def variant_file_name(source: SourceInfo, quant: str) -> str:
    """``<source stem>.Q8_0.gguf``, or ``<source stem>.requant-Q8_0.gguf`` from a quantized source."""
    stem = Path(source.path).stem
    return f"{stem}.{'requant-' if source.quantized else ''}{quant}.gguf"


def estimated_bytes(source: SourceInfo, quant: str) -> int:
    """A deliberately generous size estimate of the variant (2 bits per weight over the main type's,
    for the tensors k-quant mixes keep wider), for the free-space check."""
    bits = quant_type(quant).bits + 2.0
    return int(source.parameters * min(bits, 32.0) / 8)


def cached_variant(source: SourceInfo, quant: str, cache_dir: Path | None = None) -> Variant | None:
    """The variant when the cache holds it (its stamp vouches for it, no reading), else None."""
    target = variant_dir(source, cache_dir) / variant_file_name(source, quant)
    stamp = read_stamp(target)
    if stamp is None or stamp.get("source_sha256") != source.sha256 or stamp.get("quant") != quant:
        return None
    try:
        return Variant.model_validate({**stamp["variant"], "path": str(target), "reused": True})
    except (KeyError, ValueError):
        return None


def quantize(source: SourceInfo, quant: str, cache_dir: Path | None = None, *, threads: int | None = None) -> Variant:
    """The ``quant`` variant of ``source``: from the cache, or made by llama.cpp now (one-line
    ``ModelError``/``ConfigError`` on any problem, with nothing left in the cache)."""
    kind = quant_type(quant)
    found = cached_variant(source, kind.name, cache_dir)
    if found is not None:
        return found
    folder = variant_dir(source, cache_dir)
    target = folder / variant_file_name(source, kind.name)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelError(f"cannot write model cache {folder}: {err.strerror or err}") from None
    try:
        return _write_variant(source, kind, target, threads)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):  # not empty: another process's variant is in it
                folder.rmdir()
        raise


def _write_variant(source: SourceInfo, kind: QuantType, target: Path, threads: int | None) -> Variant:
    """Quantize into a partial file next to ``target``, check it, rename it into place, stamp it."""
    from agimeter.backends.gguf import _import_llama_cpp

    llama_cpp = _import_llama_cpp()
    folder = target.parent
    _remove_stale_partials(folder, target.name)
    needed = estimated_bytes(source, kind.name) + SPACE_MARGIN_BYTES
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ModelError(
            f"not enough disk space for the {kind.name} variant in {folder}: {free / 1e6:,.0f} MB free, "
            f"it needs about {needed / 1e6:,.0f} MB"
        )
    partial = _partial_path(folder, target.name)
    try:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, kind.ftype)
        params.nthread = threads or 0  # 0: llama.cpp uses every hardware thread
        params.allow_requantize = source.quantized
        started = time.perf_counter()
        with _llama_messages() as messages:
            status = llama_cpp.llama_model_quantize(source.path.encode(), str(partial).encode(), params)
        seconds = time.perf_counter() - started
        if status != 0:
            raise ModelError(_failure(source, kind.name, messages, folder, needed))
        header = summarize_gguf(partial)  # complete, or a one-line error
        sha = sha256_file(partial)
        os.chmod(partial, 0o644)  # mkstemp makes it private; the cache is readable like any download
        os.replace(partial, target)
    except OSError as err:
        raise ModelError(f"cannot write the {kind.name} variant to {folder}: {err.strerror or err}") from None
    finally:
        partial.unlink(missing_ok=True)
    variant = Variant(
        quant=kind.name,
        path=str(target),
        sha256=sha,
        bytes=target.stat().st_size,
        source_sha256=source.sha256,
        requantized=source.quantized,
        seconds=seconds,
        reused=False,
        tensor_types=_tensor_types(header),
        fallback_tensors=_fallbacks(messages),
    )
    write_stamp(
        target,
        source_sha256=source.sha256,
        quant=kind.name,
        sha256=sha,
        variant=variant.model_dump(mode="json", exclude={"path", "reused"}),
    )
    remember_sha256(target, sha)
    return variant


# ------------------------------------------------------------------------------------ helpers


def _partial_path(folder: Path, name: str) -> Path:
    """A fresh, empty ``.partial`` file for llama.cpp to write (it opens the path itself); the pid in
    its name lets a later call remove the leftovers of a killed process."""
    fd, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.{os.getpid()}.", suffix=".partial")
    os.close(fd)
    return Path(path)


def _remove_stale_partials(folder: Path, name: str) -> None:
    """Delete ``.partial`` files of ``name`` whose writing process is gone (a kill during quantizing)."""
    import psutil

    for leftover in folder.glob(f".{name}.*.partial"):
        pid = leftover.name[len(name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            leftover.unlink(missing_ok=True)


_FALLBACK = re.compile(r"(\d+) of (\d+) tensor\(s\) required fallback quantization")
_FAILED = re.compile(r"failed to quantize: (.*)")


def _failure(source: SourceInfo, quant: str, messages: list[str], folder: Path, needed: int) -> str:
    """One line saying why llama.cpp did not make the variant."""
    text = "".join(messages)
    reason = next((m.group(1).strip() for m in _FAILED.finditer(text)), None)
    reason = reason or (text.strip().splitlines() or ["no message"])[-1].strip()
    if "iostream error" in reason or "No space left" in reason:
        free = shutil.disk_usage(folder).free
        return (
            f"llama.cpp could not write the {quant} variant to {folder} ({reason}); free space there: "
            f"{free / 1e6:,.0f} MB, needed about {needed / 1e6:,.0f} MB"
        )
    what = f"re-quantize {source.file_type}" if source.quantized else "quantize"
    return f"llama.cpp cannot {what} {source.path} to {quant}: {reason}"


def _fallbacks(messages: list[str]) -> int | None:
    match = _FALLBACK.search("".join(messages))
    return int(match.group(1)) if match else None


_LOG_LOCK = threading.Lock()
_WARN = 3  # ggml_log_level: 2 info, 3 warn, 4 error, 5 continuation of the previous message


@contextmanager
def _llama_messages() -> Iterator[list[str]]:
    """Collect llama.cpp's warnings and errors (instead of printing its per-tensor log) while the
    block runs; llama-cpp-python's own log callback is put back afterwards."""
    from agimeter.backends.gguf import _import_llama_cpp

    llama_cpp = _import_llama_cpp()
    from llama_cpp import _logger

    messages: list[str] = []
    last = [0]

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def collect(level: int, text: bytes, _user: Any) -> None:
        level = last[0] if level == 5 else level
        last[0] = level
        if level >= _WARN:
            messages.append(text.decode("utf-8", errors="replace"))

    with _LOG_LOCK:
        llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
        try:
            yield messages
        finally:
            llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
            logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)


def _tensor_types(header: HeaderSummary) -> dict[str, int]:
    import gguf

    counts: Counter[str] = Counter()
    for tensor in header.tensors:
        try:
            counts[gguf.GGMLQuantizationType(tensor.kind).name] += 1
        except ValueError:
            counts[f"type{tensor.kind}"] += 1
    return dict(sorted(counts.items()))


def _float_name(types: dict[str, int]) -> str:
    floats = [t for t in ("BF16", "F16", "F32") if t in types]
    return floats[0] if len(floats) == 1 else "mixed"


__all__ = [
    "QUANT_TYPES",
    "SourceInfo",
    "Variant",
    "cached_variant",
    "describe_source",
    "parse_quant_types",
    "quant_type",
    "quantize",
]
