"""Model alias catalog: install hints, sha256 checks, and no half-written conversion cache."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agimeter.backends import aliases, gguf_convert
from agimeter.backends.aliases import ModelAlias, load_catalog
from agimeter.errors import ModelError


def _alias(**update: object) -> ModelAlias:
    base = load_catalog()["smollm2-135m-instruct"]
    return base.model_copy(update=update)


def test_catalog_lists_both_real_models() -> None:
    catalog = load_catalog()
    assert {"smollm2-135m-instruct", "gemma-3-270m"} <= set(catalog)
    for alias in catalog.values():
        assert alias.pip_install.startswith("pip install") and alias.num_parameters > 0


def test_missing_package_names_the_pip_command(tmp_path: Path) -> None:
    alias = _alias(module="agimeter_no_such_model_pkg", pip_install="pip install no-such-pkg")
    with pytest.raises(ModelError, match=r"pip install no-such-pkg") as err:
        gguf_convert.ensure_converted(alias, tmp_path)
    assert "\n" not in str(err.value)


def test_corrupt_gguf_leaves_no_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "model.gguf").write_bytes(b"GGUF" + b"\x00" * 64)  # truncated: header only
    monkeypatch.setattr(aliases, "package_dir", lambda _alias: pkg)
    cache = tmp_path / "cache"
    # Found by the header check before transformers reads it (was transformers' "cannot read GGUF").
    with pytest.raises(ModelError, match="GGUF file is truncated or corrupt"):
        gguf_convert.ensure_converted(_alias(file="model.gguf", sha256=None), cache)
    converted = cache / "converted"
    assert not converted.exists() or not any(converted.iterdir())


def test_sha256_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "model.gguf").write_bytes(b"not the real weights")
    monkeypatch.setattr(aliases, "package_dir", lambda _alias: pkg)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        gguf_convert.ensure_converted(_alias(file="model.gguf", sha256="0" * 64), tmp_path / "cache")
    assert not (tmp_path / "cache" / "converted").exists()


def test_unknown_alias_lists_the_known_ones() -> None:
    from agimeter.backends.registry import create_backend

    with pytest.raises(ModelError, match=r"unknown model 'smollm2-135m'.*smollm2-135m-instruct"):
        create_backend("hf:smollm2-135m", dtype="float32", device="cpu")


def test_full_disk_during_conversion_leaves_no_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    # A complete GGUF header (v3, no tensors, no metadata): it passes the truncation check, and the
    # (mocked) transformers loads it.
    (pkg / "model.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    monkeypatch.setattr(aliases, "package_dir", lambda _alias: pkg)

    class HalfWritten:
        config = object()

        def save_pretrained(self, directory: str) -> None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            (Path(directory) / "model.safetensors").write_bytes(b"half a tensor")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: HalfWritten())
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: HalfWritten())
    with pytest.raises(ModelError, match="No space left on device"):
        gguf_convert.ensure_converted(_alias(file="model.gguf", sha256=None), tmp_path / "cache")
    converted = tmp_path / "cache" / "converted"
    assert not converted.exists() or not any(converted.iterdir())
