"""The sweep's parent process without its row processes (replaced here): what it checks before
anything is stored, the reference and the notes it names, and how it resumes: a variant made
before a kill is reused, and one removed from the cache since is made again (the same file)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from agimeter.errors import ConfigError, ModelError
from agimeter.runner import sweep as sweep_module
from agimeter.runner.sweep import SweepOptions, execute_sweep, plan_sweep
from agimeter.store.repository import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_cpp() -> ModuleType:
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'agimeter[gguf]')")


def _options(source: Path, **fields: object) -> SweepOptions:
    values: dict[str, object] = {
        "model": f"gguf:{source}", "quants": ["q8_0,q4_0"], "tasks": ["offline_arith_mc"], "limit": 5,
        "kl_text": "none",
    }  # fmt: skip
    return SweepOptions.model_validate({**values, **fields})


def test_plan_names_the_reference_and_its_caveat(llama_cpp: ModuleType, tiny_gguf: Path, tmp_path: Path) -> None:
    plan = plan_sweep(_options(tiny_gguf))
    assert plan.quants == ["Q8_0", "Q4_0"] and not plan.source.quantized and plan.notes == []
    assert plan_sweep(_options(tiny_gguf)).key == plan.key  # the same command, the same sweep
    assert plan_sweep(_options(tiny_gguf, price_per_hour=9.0)).key == plan.key  # a view setting
    assert plan_sweep(_options(tiny_gguf, limit=6)).key != plan.key

    from agimeter.backends.gguf_quantize import quantize

    q8 = quantize(plan.source, "Q8_0", tmp_path)
    requant = plan_sweep(_options(Path(q8.path), quants=["q8_0,q4_0"]))
    assert requant.source.quantized and requant.quants == ["Q4_0"]  # Q8_0 is the source's own type
    assert requant.notes[0].startswith("The source is already quantized (Q8_0): it is the reference")
    assert "cannot recover what the source lost" in requant.notes[0]
    assert requant.notes[1] == "Q8_0 is the source's own type: its row is the reference (the source file)."


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"quants": ["q9_9"]}, ConfigError, "unknown quantization type 'q9_9'"),
        ({"model": "hf:smollm2-135m-instruct"}, ConfigError, "a sweep needs a GGUF model"),
        ({"kl_text": "/no/such/file.txt"}, ConfigError, "--kl-text /no/such/file.txt: cannot read"),
        ({"tasks": ["no_such_task"]}, Exception, "no_such_task"),
    ],
)
def test_bad_input_fails_before_anything_is_stored(
    llama_cpp: ModuleType, tiny_gguf: Path, fields: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        plan_sweep(_options(tiny_gguf, **fields))


def test_a_removed_variant_is_made_again(
    llama_cpp: ModuleType, tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGIMETER_MODEL_CACHE", str(tmp_path / "cache"))
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store.open(url)
    plan = plan_sweep(_options(tiny_gguf))
    measured: list[str] = []

    def killed_at_q4(store: Store, store_url: str, sweep_id: str, quant: str, say: object) -> None:
        if quant == "Q4_0":
            raise KeyboardInterrupt  # as a kill during Q4_0's evaluation
        measured.append(quant)
        row = next(r for r in store.sweep_variants(sweep_id) if r.quant == quant)
        store.save_variant(row.model_copy(update={"state": "evaluated"}))  # measured, not yet done

    monkeypatch.setattr(sweep_module, "_measure_in_child", killed_at_q4)
    with pytest.raises(KeyboardInterrupt):
        execute_sweep(plan, store, url, lambda line: None)
    (sweep,) = store.list_sweeps()
    assert sweep.status == "interrupted" and measured == ["reference", "Q8_0"]
    q8 = next(r for r in store.sweep_variants(sweep.id) if r.quant == "Q8_0")
    Path(q8.path).unlink()  # the cache was cleaned meanwhile

    said: list[str] = []
    monkeypatch.setattr(sweep_module, "_measure_in_child", lambda *args: None)
    execute_sweep(plan, store, url, said.append)
    again = next(r for r in store.sweep_variants(sweep.id) if r.quant == "Q8_0")
    assert Path(again.path).is_file() and again.sha256 == q8.sha256 and again.state == "evaluated"
    assert any(line.startswith("Q8_0: ") and "quantized in" in line for line in said)
    assert not any(line.startswith("Q4_0: ") for line in said)  # made before the kill: not made again
    assert store.get_sweep(sweep.id).status == "finished"

    # a variant that comes out differently than the one measured is refused, not silently swapped
    stored = next(r for r in store.sweep_variants(sweep.id) if r.quant == "Q8_0")
    store.save_variant(stored.model_copy(update={"sha256": "0" * 64}))
    Path(stored.path).unlink()
    store.set_sweep_status(sweep.id, "failed")
    with pytest.raises(ModelError, match="differs from the one this sweep measured"):
        execute_sweep(plan, store, url, said.append)
