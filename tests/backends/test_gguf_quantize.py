"""Quantized variants made by llama.cpp's own quantizer from the tiny all-F32 GGUF: they exist, are
cached by (source sha256, type), have the sizes their types imply, load through the gguf backend;
bad input (an unknown type, a source llama.cpp refuses, no disk space, a write that fails half way)
is one line and leaves nothing in the cache."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import gguf
import pytest

from agimeter.backends import gguf_quantize
from agimeter.backends._hashing import sha256_file
from agimeter.backends.base import LoglikRequest
from agimeter.backends.gguf import create
from agimeter.backends.gguf_file import summarize_gguf
from agimeter.backends.gguf_quantize import SourceInfo, describe_source, parse_quant_types, quantize
from agimeter.errors import ConfigError, ModelError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_cpp() -> ModuleType:
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'agimeter[gguf]')")


@pytest.fixture()
def source(llama_cpp: ModuleType, tiny_gguf: Path) -> SourceInfo:
    return describe_source(tiny_gguf)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() or p.is_symlink()) if folder.exists() else []


def _tensor_data_bytes(path: Path) -> int:
    """Bytes of tensor data the header declares, from ggml's block sizes."""
    total = 0
    for tensor in summarize_gguf(path).tensors:
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(tensor.kind)]
        total += tensor.elements // block * size
    return total


def test_source_precision(source: SourceInfo) -> None:
    assert source.file_type == "F32" and not source.quantized
    assert source.tensor_types == {"F32": 26}
    assert source.parameters == 123_456  # the tiny Qwen2: embeddings, 2 blocks, norms


def test_variants_exist_are_cached_and_sized_by_type(source: SourceInfo, tmp_path: Path) -> None:
    q8 = quantize(source, "Q8_0", tmp_path)
    q4 = quantize(source, "q4_0", tmp_path)
    for variant in (q8, q4):
        path = Path(variant.path)
        assert path.is_file() and not variant.reused and not variant.requantized
        assert variant.sha256 == sha256_file(path) and variant.bytes == path.stat().st_size
        assert variant.source_sha256 == source.sha256
        assert path.parent.name == source.sha256[:16]
    # the weight matrices take their type (the 1-D norms and biases stay F32); llama.cpp quantizes
    # the token embeddings of a Q4_0 file to Q8_0 and says so as a fallback
    assert q8.tensor_types == {"F32": 11, "Q8_0": 15}
    assert q4.tensor_types == {"F32": 11, "Q4_0": 14, "Q8_0": 1} and q4.fallback_tensors == 1
    # sizes as the types imply: per 32 weights, 34 bytes in Q8_0, 18 in Q4_0; 1-D tensors stay F32
    tensors = summarize_gguf(Path(source.path)).tensors
    vectors = sum(t.elements for t in tensors if t.name.endswith((".bias", "norm.weight"))) * 4
    embedding = next(t.elements for t in tensors if t.name == "token_embd.weight")
    matrices = sum(t.elements for t in tensors if not t.name.endswith((".bias", "norm.weight")))
    assert _tensor_data_bytes(Path(q8.path)) == vectors + matrices * 34 // 32
    assert _tensor_data_bytes(Path(q4.path)) == vectors + embedding * 34 // 32 + (matrices - embedding) * 18 // 32
    assert _tensor_data_bytes(Path(source.path)) == vectors + matrices * 4
    assert q4.bytes < q8.bytes < source.bytes

    # cached: the same file comes back without being written again
    mtime = Path(q8.path).stat().st_mtime_ns
    again = quantize(source, "Q8_0", tmp_path)
    assert again.reused and again.path == q8.path and again.sha256 == q8.sha256
    assert Path(q8.path).stat().st_mtime_ns == mtime
    assert gguf_quantize.cached_variant(source, "Q4_0", tmp_path) is not None
    assert gguf_quantize.cached_variant(source, "Q6_K", tmp_path) is None


def test_variant_loads_through_the_gguf_backend(source: SourceInfo, tmp_path: Path) -> None:
    variant = quantize(source, "Q4_0", tmp_path)
    backend = create(variant.path, n_threads="1")
    try:
        assert backend.info.identity == f"sha256:{variant.sha256}"
        assert backend.info.dtype == "Q4_0"
        assert backend.info.extra["extra_bufts"] in ("on", "off")  # resolved like any gguf: model
        (result,) = backend.loglikelihood([LoglikRequest(context="The quick brown", continuation=" fox")])
        assert result.logprob < 0
    finally:
        backend.close()


def test_requantizing_a_quantized_source(source: SourceInfo, tmp_path: Path) -> None:
    q8 = quantize(source, "Q8_0", tmp_path)
    quantized_source = describe_source(Path(q8.path))
    assert quantized_source.quantized and quantized_source.file_type == "Q8_0"
    again = quantize(quantized_source, "Q4_0", tmp_path)
    assert again.requantized and ".requant-Q4_0." in Path(again.path).name


def test_unknown_quant_type_lists_the_valid_ones() -> None:
    assert parse_quant_types(["q8_0,Q6_K", "q8_0"]) == ["Q8_0", "Q6_K"]
    with pytest.raises(ConfigError) as err:
        parse_quant_types(["q8_0,q7_k"])
    message = str(err.value)
    assert message.startswith("unknown quantization type 'q7_k'; valid types: f16, bf16, q8_0,")
    assert "q2_k" in message and "\n" not in message
    with pytest.raises(ConfigError, match="no quantization types given"):
        parse_quant_types([" , "])


def test_a_source_llama_cpp_cannot_requantize(llama_cpp: ModuleType, tiny_model_dir: Path, tmp_path: Path) -> None:
    from agimeter.testing.gguf_model import build_tiny_gguf

    # a weight matrix stored as int32: llama.cpp has no way to dequantize it
    odd = build_tiny_gguf(tiny_model_dir, tmp_path / "odd.gguf", cast={"blk.0.attn_q.weight": "int32"})
    info = describe_source(odd)
    cache = tmp_path / "cache"
    with pytest.raises(ModelError) as err:
        quantize(info, "Q8_0", cache)
    assert str(err.value) == f"llama.cpp cannot quantize {odd} to Q8_0: cannot dequantize/convert tensor type i32"
    assert _files(cache) == []


def test_no_disk_space_is_one_line_and_writes_nothing(
    source: SourceInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gguf_quantize.shutil, "disk_usage", lambda path: type("u", (), {"free": 10_000})())
    with pytest.raises(ModelError) as err:
        quantize(source, "Q8_0", tmp_path)
    assert str(err.value).startswith(f"not enough disk space for the Q8_0 variant in {tmp_path / source.sha256[:16]}:")
    assert "MB free, it needs about" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # not even the variant folder


def test_a_write_that_fails_half_way_leaves_no_partial(
    source: SourceInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC for real: llama.cpp writes into /dev/full (through the partial file's name)."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    real = gguf_quantize._partial_path

    def into_dev_full(folder: Path, name: str) -> Path:
        path = real(folder, name)
        path.unlink()
        path.symlink_to("/dev/full")
        return path

    monkeypatch.setattr(gguf_quantize, "_partial_path", into_dev_full)
    with pytest.raises(ModelError) as err:
        quantize(source, "Q8_0", tmp_path)
    assert str(err.value).startswith(f"llama.cpp could not write the Q8_0 variant to {tmp_path / source.sha256[:16]}")
    assert "free space there:" in str(err.value)
    assert _files(tmp_path) == []


def test_leftovers_of_a_killed_quantizer_are_removed(source: SourceInfo, tmp_path: Path) -> None:
    folder = tmp_path / source.sha256[:16]
    folder.mkdir()
    name = gguf_quantize.variant_file_name(source, "Q8_0")
    dead = folder / f".{name}.999999999.abcd.partial"  # no such pid
    live = folder / f".{name}.{os.getpid()}.efgh.partial"  # this process: not touched
    dead.write_bytes(b"half")
    live.write_bytes(b"half")
    quantize(source, "Q8_0", tmp_path)
    assert not dead.exists() and live.exists()
