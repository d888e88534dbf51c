"""HF backend on a sliding-window model (tiny random Gemma 3): tree packing keeps the window.

Contexts are several times longer than the window, so any layer that attended globally (the
custom 4D mask overriding the model's own sliding mask) would change the scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from agimeter.backends._hf_head import split_head
from agimeter.backends._hf_loading import load_model
from agimeter.backends.base import LoglikRequest
from agimeter.backends.hf import HFBackend, HFOptions

pytestmark = pytest.mark.slow

WINDOW = 16
LAYER_TYPES = ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention"]
PREAMBLE = (
    "The following are multiple choice questions (with answers) about science.\n\n"
    "Question: Which organ pumps blood?\nA. Lung\nB. Heart\nC. Skin\nD. Bone\nAnswer: B\n\n"
    "Question: Plants make sugar from?\nA. Sunlight\nB. Sand\nC. Iron\nD. Salt\nAnswer: A\n\n"
)
QUESTIONS = ("What is 12 + 30?", "Which planet is closest to the sun?", "Is water wet?")


def build_tiny_gemma3(path: Path, seed: int = 0) -> Path:
    """A 4-layer Gemma 3 (hidden 64, window 16, sliding and global layers) with the test tokenizer."""
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    from agimeter.testing import build_tokenizer

    config_cls: Any = Gemma3TextConfig
    model_cls: Any = Gemma3ForCausalLM
    vocab_size = build_tokenizer(path)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    config = config_cls(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=len(LAYER_TYPES),
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=WINDOW,
        layer_types=LAYER_TYPES,
        max_position_embeddings=2048,
        initializer_range=0.1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    model.save_pretrained(str(path), safe_serialization=True)
    return path


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="module")
def backend(gemma_dir: Path) -> HFBackend:
    return HFBackend.load(str(gemma_dir), device="cpu")


def long_requests() -> list[LoglikRequest]:
    requests = [
        LoglikRequest(context=f"{PREAMBLE}Question: {q}\nAnswer:", continuation=f" {letter}")
        for q in QUESTIONS
        for letter in "ABCD"
    ]
    story = "A man is sitting on a roof and removing old shingles. The teacher studies the old book."
    requests += [
        LoglikRequest(context=f"{story} {story}", continuation=" Then he climbs down the ladder and smiles."),
        LoglikRequest(context=f"{story} {story}", continuation=" Two dogs run past the river again!"),
        LoglikRequest(context="", continuation=f" {story} {story}"),  # long continuation
        LoglikRequest(context="Short:", continuation=" A"),
    ]
    return requests


def plain_scores(backend: HFBackend, requests: list[LoglikRequest]) -> list[tuple[float, bool]]:
    """One unpacked forward per request; the model builds its own causal and sliding masks."""
    model = backend._model
    scores = []
    for request in requests:
        context, continuation = backend.encode_pair(request.context, request.continuation)
        whole = context + continuation
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([whole[:-1]])).logits[0]
        logprobs = torch.log_softmax(logits[-len(continuation) :].float(), dim=-1)
        target = torch.tensor(continuation)
        scores.append(
            (
                float(logprobs.gather(-1, target[:, None]).sum()),
                bool((logprobs.argmax(-1) == target).all()),
            )
        )
    return scores


def assert_close(results: list[Any], reference: list[tuple[float, bool]], tol: float = 1e-4) -> None:
    for result, (logprob, is_greedy) in zip(results, reference, strict=True):
        assert abs(result.logprob - logprob) < tol, (result.logprob, logprob)
        assert result.is_greedy == is_greedy


def test_contexts_exceed_the_window(backend: HFBackend) -> None:
    assert backend._sliding_window == WINDOW
    lengths = [sum(map(len, backend.encode_pair(r.context, r.continuation))) for r in long_requests()]
    assert min(lengths[:-1]) > 2 * WINDOW


def test_packed_matches_plain_forward(backend: HFBackend) -> None:
    requests = long_requests()
    assert_close(backend.loglikelihood(requests), plain_scores(backend, requests))


@pytest.mark.parametrize("pack_tokens", [8, 24, 40])
def test_small_budgets_with_a_long_trunk_match_plain_forward(gemma_dir: Path, pack_tokens: int) -> None:
    """Small budgets chunk the trunk and split packs; the shared preamble trunk is longer than
    the window, so packs must see only its last window of keys on sliding layers."""
    packed = HFBackend.load(str(gemma_dir), device="cpu", pack_tokens=pack_tokens)
    requests = long_requests()
    results = packed.loglikelihood(requests)
    assert packed.last_stats.forwards > packed.last_stats.packs  # some trunk was computed
    assert_close(results, plain_scores(packed, requests))


def test_eager_attention_takes_additive_masks(gemma_dir: Path) -> None:
    loaded = load_model(
        str(gemma_dir),
        dtype="float32",
        device="cpu",
        gguf_file=None,
        revision=None,
        trust_remote_code=False,
    )
    loaded.model.set_attn_implementation("eager")
    eager = HFBackend(loaded, HFOptions(device="cpu", pack_tokens=24))
    assert not eager._bool_mask
    requests = long_requests()
    assert_close(eager.loglikelihood(requests), plain_scores(eager, requests))


def test_ignoring_the_window_would_be_caught(gemma_dir: Path) -> None:
    """Guard on the test itself: global attention on every layer gives measurably other scores."""
    unwindowed = HFBackend.load(str(gemma_dir), device="cpu")
    unwindowed._sliding_window, unwindowed._layer_types = None, None
    requests = long_requests()
    reference = plain_scores(unwindowed, requests)
    results = unwindowed.loglikelihood(requests)
    diffs = [abs(r.logprob - logprob) for r, (logprob, _) in zip(results, reference, strict=True)]
    assert max(diffs) > 1e-3


def test_matches_lm_eval(backend: HFBackend, gemma_dir: Path) -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(gemma_dir), batch_size=4, device="cpu", dtype="float32")
    requests = long_requests()
    instances = [
        Instance(request_type="loglikelihood", doc={}, arguments=(r.context, r.continuation), idx=i)
        for i, r in enumerate(requests)
    ]
    reference = [(float(lp), bool(g)) for lp, g in lm.loglikelihood(instances, disable_tqdm=True)]
    assert_close(backend.loglikelihood(requests), reference)


def test_split_head_applies_soft_capping_and_refuses_what_it_cannot_reproduce(
    gemma_dir: Path, tiny_model_dir: Path
) -> None:
    """The head taken apart from the decoder (``backends._hf_head``) only where that is exact."""
    from transformers import AutoModelForCausalLM

    gemma: Any = AutoModelForCausalLM.from_pretrained(str(gemma_dir))
    gemma.eval()
    gemma.config.final_logit_softcapping = 0.5  # Gemma applies it: the split must too
    split = split_head(gemma, torch.device("cpu"))
    assert split is not None and split.softcap == 0.5
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.inference_mode():
        capped = gemma(input_ids=ids).logits[0]
        assert capped.abs().max() <= 0.5
        assert torch.allclose(split.logits(split.base(input_ids=ids).last_hidden_state[0]), capped, atol=1e-5)

    qwen: Any = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    qwen.eval()
    assert split_head(qwen, torch.device("cpu")) is not None
    qwen.config.final_logit_softcapping = 0.5  # Qwen2 ignores it: head(base(x)) capped would differ
    assert split_head(qwen, torch.device("cpu")) is None
