"""The text-divergence and speed probes: KL and top-1 agreement on constructed logits with known
answers, and on the tiny GGUF (against itself: exactly 0; against its Q4_0 variant: more than Q8_0's)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from agimeter.backends.gguf import GGUFBackend, GGUFOptions
from agimeter.backends.gguf_probe import DivergenceSums, chunk_plan, measure_speed, text_divergence, token_kl
from agimeter.backends.gguf_quantize import describe_source, quantize
from agimeter.errors import ModelError
from agimeter.testing.models import tiny_corpus


def test_kl_of_identical_distributions_is_zero() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 50))
    assert np.array_equal(token_kl(logits, logits), np.zeros(5))
    assert np.allclose(token_kl(logits, logits + 3.0), 0.0, atol=1e-14)  # a shift is the same distribution


def test_kl_known_value() -> None:
    # P = (1/4, 3/4), Q = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2)
    p = np.array([[0.0, math.log(3.0)]])
    q = np.array([[0.0, 0.0]])
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert token_kl(p, q)[0] == pytest.approx(expected, abs=1e-12)
    assert token_kl(q, p)[0] == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), abs=1e-12)  # not symmetric


def test_divergence_sums_known_answers() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(40, 30))
    targets = rng.integers(0, 30, size=40).tolist()
    same = DivergenceSums()
    same.add(ref, ref.copy(), targets)
    result = same.result(text="t", text_sha256="0" * 64, chunk_tokens=80, chunks=1)
    assert result.mean_kld == 0 and result.kld_max == 0 and result.same_top_p == 1.0
    assert result.ln_ppl_ratio == 0 and result.ppl_reference == result.ppl_variant

    planted = ref.copy()
    planted[7] = -planted[7]  # one position's most likely token changes
    assert ref[7].argmax() != planted[7].argmax()
    sums = DivergenceSums()
    sums.add(ref[:20], planted[:20], targets[:20])  # two chunks, combined
    sums.add(ref[20:], planted[20:], targets[20:])
    result = sums.result(text="t", text_sha256="0" * 64, chunk_tokens=40, chunks=2)
    assert result.scored_tokens == 40
    assert result.same_top_p == pytest.approx(39 / 40)
    assert result.mean_kld == pytest.approx(float(token_kl(ref[7:8], planted[7:8])[0]) / 40)
    assert result.kld_max == pytest.approx(float(token_kl(ref[7:8], planted[7:8])[0]))


def test_chunk_plan_drops_the_tail() -> None:
    assert chunk_plan(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ModelError, match="too short"):
        chunk_plan(list(range(10)), 2)


@pytest.fixture(scope="module")
def llama_cpp() -> ModuleType:
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'agimeter[gguf]')")


@pytest.fixture(scope="module")
def variants(llama_cpp: ModuleType, tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    source = describe_source(tiny_gguf)
    cache = tmp_path_factory.mktemp("variants")
    return {q: quantize(source, q, cache).path for q in ("Q8_0", "Q4_0")} | {"F32": str(tiny_gguf)}


@pytest.fixture(scope="module")
def loaded(variants: dict[str, str]) -> Iterator[dict[str, GGUFBackend]]:
    options = GGUFOptions(n_ctx=64, n_threads=1)
    backends = {name: GGUFBackend.load(path, options) for name, path in variants.items()}
    backends["F32 again"] = GGUFBackend.load(variants["F32"], options)
    yield backends
    for backend in backends.values():
        backend.close()


@pytest.mark.slow
def test_text_divergence_on_the_tiny_model(loaded: dict[str, GGUFBackend]) -> None:
    ref = loaded["F32"]
    tokens = ref.tok_encode(" ".join(tiny_corpus()), add_special_tokens=False)[:256]

    def divergence(name: str) -> tuple[float, float]:
        d = text_divergence(ref, loaded[name], tokens, chunk=64, text="corpus", text_sha256="0" * 64)
        assert d.chunks == 4 and d.scored_tokens == 4 * 31  # positions 32..62 of each chunk
        return d.mean_kld, d.same_top_p

    assert divergence("F32 again") == (0.0, 1.0)  # the same file in another context: identical
    kld_q8, top_q8 = divergence("Q8_0")
    kld_q4, top_q4 = divergence("Q4_0")
    assert 0 < kld_q8 < kld_q4
    assert top_q4 <= top_q8 < 1.0


@pytest.mark.slow
def test_speed_probe(loaded: dict[str, GGUFBackend]) -> None:
    backend = loaded["Q4_0"]
    tokens = backend.tok_encode(" ".join(tiny_corpus()), add_special_tokens=False)
    speed = measure_speed(backend, tokens, prompt_tokens=32, gen_tokens=8, repeats=2)
    assert speed.prompt_tokens == 32 and len(speed.prefill_runs) == len(speed.decode_runs) == 2
    assert speed.prefill_tokens_per_s > 0 and speed.decode_tokens_per_s > 0
    with pytest.raises(ModelError, match="fewer than the 10000 asked"):
        measure_speed(backend, tokens, prompt_tokens=10_000, gen_tokens=8, repeats=1)
