"""Is a GGUF file complete? Read its header and compare the tensor data it declares with the size
of the file, before llama.cpp or transformers touch it.

Both stacks report a truncated file obscurely (transformers through the ``gguf`` reader:
``cannot reshape array of size ...``; llama.cpp: "failed to load model"), and only after work. The
header is parsed here with ``struct`` over a memory map: keys and array values are skipped, not
decoded, so a 150k-token vocabulary costs milliseconds.

Layout (GGUF v2/v3, little- or big-endian): magic ``GGUF``, version u32, tensor count u64, metadata
count u64, metadata (key string, type u32, value), tensor infos (name string, n_dims u32, dims
u64 x n_dims, type u32, offset u64), padding to ``general.alignment``, then the tensor data.
"""

from __future__ import annotations

import math
import mmap
import struct
from pathlib import Path
from typing import NamedTuple

from agimeter.errors import ModelError

_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _UINT32 = 8, 9, 4
_MAX_DIMS = 8


class _Truncated(Exception):
    """The header itself runs past the end of the file, or makes no sense."""


class _Header:
    def __init__(self, data: mmap.mmap | bytes) -> None:
        self.data = data
        self.pos = 0
        self.order = "<"

    def take(self, fmt: str) -> int:
        size = struct.calcsize(self.order + fmt)
        if self.pos + size > len(self.data):
            raise _Truncated(f"the header ends early, at byte {len(self.data):,}")
        (value,) = struct.unpack_from(self.order + fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def skip(self, size: int) -> None:
        if size < 0 or self.pos + size > len(self.data):
            raise _Truncated(f"the header ends early, at byte {len(self.data):,}")
        self.pos += size

    def string(self) -> bytes:
        size = self.take("Q")
        start = self.pos
        self.skip(size)
        return bytes(self.data[start : self.pos])

    def skip_value(self, kind: int) -> None:
        if kind == _STRING:
            self.skip(self.take("Q"))
        elif kind == _ARRAY:
            item, count = self.take("I"), self.take("Q")
            if item in _SCALAR_SIZES:
                self.skip(_SCALAR_SIZES[item] * count)
            else:
                for _ in range(count):
                    self.skip_value(item)
        elif kind in _SCALAR_SIZES:
            self.skip(_SCALAR_SIZES[kind])
        else:
            raise _Truncated(f"unknown metadata type {kind} at byte {self.pos:,}")


def _tensor_bytes(kind: int, dims: list[int]) -> int:
    import gguf

    try:
        block, block_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
    except (ValueError, KeyError):
        raise _Truncated(f"unknown tensor type {kind}") from None
    return math.prod(dims) // block * block_bytes


class TensorInfo(NamedTuple):
    name: str
    kind: int  # ggml type number (``gguf.GGMLQuantizationType``)
    elements: int


class HeaderSummary(NamedTuple):
    """What a GGUF header says about its weights, read without decoding any metadata array."""

    declared_size: int  # bytes the file must have
    file_type: int | None  # ``general.file_type`` (``gguf.LlamaFileType``), when the file states it
    tensors: list[TensorInfo]


def read_header(data: mmap.mmap | bytes) -> HeaderSummary:
    """Parse a GGUF header: the size its tensor data needs, ``general.file_type`` and every tensor's
    type and element count."""
    header = _Header(data)
    if bytes(data[:4]) != b"GGUF":
        raise _Truncated("no GGUF magic at the start")
    header.skip(4)
    version = header.take("I")
    if version & 0xFFFF == 0 and version > 0xFFFF:  # a big-endian file: the version reads byte-swapped
        header.order = ">"
        version = struct.unpack(">I", struct.pack("<I", version))[0]
    if version not in (2, 3):
        raise _Truncated(f"unsupported GGUF version {version}")
    n_tensors, n_metadata = header.take("Q"), header.take("Q")
    alignment = 32
    file_type: int | None = None
    for _ in range(n_metadata):
        key = header.string()
        kind = header.take("I")
        if key == b"general.alignment" and kind == _UINT32:
            alignment = header.take("I")
        elif key == b"general.file_type" and kind == _UINT32:
            file_type = header.take("I")
        else:
            header.skip_value(kind)
    if alignment <= 0:
        raise _Truncated(f"general.alignment is {alignment}")
    end = 0
    tensors = []
    for _ in range(n_tensors):
        name = header.string()
        n_dims = header.take("I")
        if n_dims > _MAX_DIMS:
            raise _Truncated(f"a tensor with {n_dims} dimensions")
        dims = [header.take("Q") for _ in range(n_dims)]
        kind, offset = header.take("I"), header.take("Q")
        end = max(end, offset + _tensor_bytes(kind, dims))
        tensors.append(TensorInfo(name.decode("utf-8", errors="replace"), kind, math.prod(dims)))
    if end == 0:  # no tensor data: nothing after the header is needed
        return HeaderSummary(header.pos, file_type, tensors)
    data_start = -(-header.pos // alignment) * alignment
    return HeaderSummary(data_start + end, file_type, tensors)


def declared_size(data: mmap.mmap | bytes) -> int:
    """Bytes a GGUF file must have: where its tensor data starts plus the extent of the last tensor."""
    return read_header(data).declared_size


def file_type_name(value: int | str | None) -> str | None:
    """``general.file_type`` as a short name (``Q4_1``, ``F32``, ``Q4_K_M``); None when unknown."""
    import gguf

    try:
        name: str = gguf.LlamaFileType(int(value if value is not None else "")).name
    except ValueError:
        return None
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def summarize_gguf(path: Path) -> HeaderSummary:
    """``read_header`` of a complete file (``check_gguf_file`` first); one-line ``ModelError`` otherwise."""
    check_gguf_file(path)
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return read_header(data)


def check_gguf_file(path: Path) -> None:
    """Raise ``ModelError("<path>: GGUF file is truncated or corrupt (...)")`` unless the file holds
    every byte of tensor data its header declares."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            if size == 0:
                raise _Truncated("the file is empty")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                needed = declared_size(data)
    except _Truncated as why:
        raise ModelError(f"{path}: GGUF file is truncated or corrupt ({why})") from None
    except OSError as err:
        raise ModelError(f"{path}: cannot read ({err.strerror or err})") from None
    if size < needed:
        raise ModelError(f"{path}: GGUF file is truncated or corrupt ({size:,} bytes, its header declares {needed:,})")
