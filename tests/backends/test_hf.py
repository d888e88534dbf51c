"""HF backend: request-level parity with lm-eval's HFLM, packing invariance, generation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from agimeter.backends._hf_head import pick, slice_elements
from agimeter.backends.base import Backend, GenRequest, LoglikRequest
from agimeter.backends.hf import HFBackend, create
from agimeter.errors import ModelError

pytestmark = pytest.mark.slow

FEWSHOT = (
    "The following are multiple choice questions (with answers) about biology.\n\n"
    "Question: Which organ pumps blood?\nA. Lung\nB. Heart\nC. Skin\nD. Bone\nAnswer: B\n\n"
    "Question: Plants make sugar from?\nA. Sunlight\nB. Sand\nC. Iron\nD. Salt\nAnswer: A\n\n"
)
QUESTIONS = ("What is 12 + 30?", "Which planet is closest to the sun?", "Is water wet?")
ENDINGS = (
    " is ripping level tiles off the old roof.",
    " starts pulling up roofing on a roof.",
    " is holding a rubik's cube.",
    " lifts the weight over her head and smiles.",
)


def parity_requests() -> list[LoglikRequest]:
    requests = [
        LoglikRequest(context=f"{FEWSHOT}Question: {q}\nAnswer:", continuation=f" {letter}")
        for q in QUESTIONS
        for letter in "ABCD"
    ]
    for context in ("Roof shingle removal: A man is sitting on a roof. He", "Clean and jerk: A lady"):
        requests += [LoglikRequest(context=context, continuation=e) for e in ENDINGS]
    requests += [
        LoglikRequest(context="The quick brown fox ", continuation="jumps over the lazy dog."),
        LoglikRequest(context="Answer:  ", continuation="42"),
        LoglikRequest(context="", continuation="The man walks to the river."),
        LoglikRequest(context="", continuation=" A"),
        LoglikRequest(context="Q: Is it raining? A:", continuation=" No, it's sunny."),
    ]
    return requests


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> HFBackend:
    return HFBackend.load(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def lm_eval_scores(tiny_model_dir: Path) -> Callable[[list[LoglikRequest]], list[tuple[float, bool]]]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(tiny_model_dir), batch_size=4, device="cpu", dtype="float32")

    def score(requests: list[LoglikRequest]) -> list[tuple[float, bool]]:
        instances = [
            Instance(request_type="loglikelihood", doc={}, arguments=(r.context, r.continuation), idx=i)
            for i, r in enumerate(requests)
        ]
        return [(float(lp), bool(g)) for lp, g in lm.loglikelihood(instances, disable_tqdm=True)]

    return score


def greedy_requests(backend: HFBackend) -> list[LoglikRequest]:
    """Continuations the model itself would produce, so is_greedy is True for them."""
    prompts = ["The teacher studies", "Question: Which planet", "The man walks to", "Answer:", "Q: What"]
    outputs = backend.generate([GenRequest(prompt=p, max_tokens=1) for p in prompts])
    return [LoglikRequest(context=p, continuation=o.text) for p, o in zip(prompts, outputs, strict=True)]


def test_loglikelihood_matches_lm_eval(
    backend: HFBackend, lm_eval_scores: Callable[[list[LoglikRequest]], list[tuple[float, bool]]]
) -> None:
    requests = parity_requests() + greedy_requests(backend)
    ours = backend.loglikelihood(requests)
    reference = lm_eval_scores(requests)
    for request, result, (logprob, is_greedy) in zip(requests, ours, reference, strict=True):
        assert abs(result.logprob - logprob) < 1e-4, request
        assert result.is_greedy == is_greedy, request
    assert any(r.is_greedy for r in ours)


def test_encode_pair_matches_lm_eval(backend: HFBackend, tiny_model_dir: Path) -> None:
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(tiny_model_dir), batch_size=1, device="cpu", dtype="float32")
    for request in parity_requests():
        ours = backend.encode_pair(request.context, request.continuation)
        if request.context:
            assert ours == tuple(lm._encode_pair(request.context, request.continuation))
        else:
            assert ours[0] == [lm.prefix_token_id]


def test_results_do_not_depend_on_packing(tiny_model_dir: Path) -> None:
    requests = parity_requests()
    baseline = HFBackend.load(str(tiny_model_dir), device="cpu", pack_tokens=4096).loglikelihood(requests)
    for pack_tokens in (8, 64):
        other = HFBackend.load(str(tiny_model_dir), device="cpu", pack_tokens=pack_tokens)
        for a, b in zip(baseline, other.loglikelihood(requests), strict=True):
            assert a.logprob == pytest.approx(b.logprob, rel=1e-6, abs=1e-5)
            assert a.is_greedy == b.is_greedy
    # Request order (and so pack composition) does not matter either.
    reversed_results = HFBackend.load(str(tiny_model_dir), device="cpu").loglikelihood(requests[::-1])
    for a, b in zip(baseline, reversed_results[::-1], strict=True):
        assert a.logprob == pytest.approx(b.logprob, rel=1e-6, abs=1e-5)


@pytest.mark.parametrize("pack_tokens", [48, 4096])
def test_tree_attention_matches_the_dense_mask_path(tiny_model_dir: Path, pack_tokens: int) -> None:
    """Chains and tiles compute what one dense tree mask does, also with a cached, chunked trunk."""
    preamble = FEWSHOT * 2  # a shared prefix longer than a chain's minimum
    requests = parity_requests() + [
        LoglikRequest(context=f"{preamble}Question: {q}\nAnswer:", continuation=e) for q in QUESTIONS for e in ENDINGS
    ]
    tree = HFBackend.load(str(tiny_model_dir), device="cpu", pack_tokens=pack_tokens)
    dense = HFBackend.load(str(tiny_model_dir), device="cpu", pack_tokens=pack_tokens)
    dense._tree_attention = False
    assert tree._tree_attention
    for a, b in zip(tree.loglikelihood(requests), dense.loglikelihood(requests), strict=True):
        assert a.logprob == pytest.approx(b.logprob, rel=1e-6, abs=1e-5)
        assert a.is_greedy == b.is_greedy
    assert tree.last_stats == dense.last_stats


def test_loglikelihood_usage_timing_and_callbacks(backend: HFBackend) -> None:
    requests = parity_requests()
    seen: dict[int, float] = {}
    results = backend.loglikelihood(requests, on_result=lambda i, r: seen.__setitem__(i, r.logprob))
    assert seen == {i: r.logprob for i, r in enumerate(results)}
    for result in results:
        assert result.num_tokens >= 1
        assert result.usage.computed_prompt_tokens is not None
        assert 0 <= result.usage.computed_prompt_tokens <= result.usage.prompt_tokens
        assert result.timing.total_s >= 0 and result.timing.prefill_s == result.timing.total_s
    # The MMLU-style choices share their context: far fewer tokens are computed than prompted.
    prompted = sum(r.usage.prompt_tokens for r in results)
    computed = sum(r.usage.computed_prompt_tokens or 0 for r in results)
    assert computed == backend.last_stats.computed_tokens
    assert computed < prompted / 2


def test_generate_is_deterministic_and_batch_independent(tiny_model_dir: Path) -> None:
    requests = [
        GenRequest(prompt="The man walks to", max_tokens=12),
        GenRequest(prompt="Question: Which planet is closest to the sun?\nAnswer:", max_tokens=6),
        GenRequest(prompt="A", max_tokens=9),
        GenRequest(prompt="Water boils at 100 degrees Celsius at sea level.", max_tokens=4),
    ]
    batched = HFBackend.load(str(tiny_model_dir), device="cpu", batch_size=4).generate(requests)
    single = HFBackend.load(str(tiny_model_dir), device="cpu", batch_size=1)
    one_by_one = single.generate(requests)
    assert [r.text for r in batched] == [r.text for r in one_by_one]
    assert [r.text for r in single.generate(requests)] == [r.text for r in one_by_one]
    for request, result in zip(requests, batched, strict=True):
        assert result.usage.completion_tokens <= request.max_tokens
        if result.finish_reason == "length":
            assert result.usage.completion_tokens == request.max_tokens
        assert result.usage.prompt_tokens > 0
        assert result.timing.first_token_s is not None and result.timing.first_token_s > 0
        assert result.timing.total_s == pytest.approx(result.timing.prefill_s + result.timing.decode_s)


def test_generate_stops_at_stop_sequence(backend: HFBackend) -> None:
    free = backend.generate([GenRequest(prompt="The man walks to", max_tokens=16)])[0]
    assert len(free.text) > 4
    stop = free.text[2:4]
    stopped = backend.generate([GenRequest(prompt="The man walks to", stop=(stop,), max_tokens=16)])[0]
    assert stopped.text == free.text[: free.text.index(stop)]
    assert stopped.finish_reason == "stop"
    assert stopped.usage.completion_tokens < free.usage.completion_tokens or free.finish_reason == "stop"


def test_model_info_and_chat_template(backend: HFBackend, tiny_model_dir: Path) -> None:
    info = backend.info
    assert isinstance(backend, Backend)
    assert info.identity.startswith("sha256:") and len(info.identity) == 71
    assert info.identity == HFBackend.load(str(tiny_model_dir), device="cpu").info.identity
    assert info.num_parameters and info.num_parameters > 10_000
    assert (info.dtype, info.device, info.max_length) == ("float32", "cpu", 2048)
    rendered = backend.apply_chat_template([{"role": "user", "content": "hi"}])
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert create(str(tiny_model_dir), device="cpu").info.identity == info.identity


def test_missing_model_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="not found"):
        HFBackend.load(str(tmp_path / "no-such-model"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="Hugging Face cache") as err:
        HFBackend.load("agimeter-test/definitely-not-cached")
    assert "\n" not in str(err.value)


def test_pick_in_chunks_equals_one_log_softmax() -> None:
    torch.manual_seed(0)
    logits = torch.randn(23, 50) * 4
    rows = torch.tensor([0, 5, 5, 22, 11, 7])
    tokens = torch.tensor([3, 49, 0, 17, 2, int(logits[7].argmax())])
    expected = torch.log_softmax(logits, dim=-1)
    for chunk in (1, 50, 3 * 50, 10**9):  # one row (twice), three rows, everything at a time
        picked, hits = pick(lambda a, b: logits[a:b], 23, 50, rows, tokens, chunk)
        assert torch.allclose(picked, expected[rows, tokens], atol=1e-6)
        assert hits.tolist() == (expected.argmax(-1)[rows] == tokens).tolist()
        assert hits[-1]


class _Headed:
    def __init__(self, vocab: int, hidden: int) -> None:
        self.head = torch.nn.Linear(hidden, vocab, bias=False, device="meta")

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.head


def test_slices_are_32_mib_or_a_quarter_of_a_large_head() -> None:
    assert slice_elements(_Headed(49_152, 576)) == 2**23  # SmolLM2: 32 MiB, 170 positions
    assert slice_elements(_Headed(151_936, 896)) == 151_936 * 896 // 4  # Qwen2.5-0.5B: 224 positions
    assert slice_elements(_Headed(151_936, 896)) // 151_936 == 224


def test_split_head_scores_like_the_models_own_head(tiny_model_dir: Path) -> None:
    requests = parity_requests()
    own = HFBackend.load(str(tiny_model_dir), device="cpu")
    own._head = None  # the model's head over all kept positions at once
    baseline = own.loglikelihood(requests)
    split = HFBackend.load(str(tiny_model_dir), device="cpu")
    assert split._head is not None
    split._slice_elements = 7 * split._head.vocab  # 7 positions per slice
    for theirs, ours in zip(baseline, split.loglikelihood(requests), strict=True):
        # fp32 sums of up to ~100 token log-probs: the slices' matmul shapes round differently.
        assert ours.logprob == pytest.approx(theirs.logprob, rel=1e-6, abs=1e-5)
        assert ours.is_greedy == theirs.is_greedy


def test_no_deprecated_argument_reaches_the_model(tiny_model_dir: Path) -> None:
    """Trunk chunks kept in a KV cache (48-token packs) go through without transformers warning of
    a renamed argument (``past_key_values``, which its next versions drop)."""
    import warnings

    backend = HFBackend.load(str(tiny_model_dir), device="cpu", pack_tokens=48)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        backend.loglikelihood(parity_requests())
