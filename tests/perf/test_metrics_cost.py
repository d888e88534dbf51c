"""Metrics, SLO goodput, serving cost and synthetic workloads on hand-made traces (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agimeter.backends.base import RequestError
from agimeter.backends.stream import StreamTrace
from agimeter.cost.serving import operating_point, serving_cost
from agimeter.errors import ConfigError
from agimeter.perf.loadgen import PointRun, PointSpec, Sample
from agimeter.perf.metrics import parse_slo, summarize_point
from agimeter.perf.workload import PerfPrompt, load_tokenizer, synthetic_prompts


def _trace(sent: float, ttft: float, itl: float, n: int, usage: bool = True) -> StreamTrace:
    times = [sent + ttft + k * itl for k in range(n)]
    return StreamTrace(
        sent_at=sent,
        first_byte_at=times[0],
        token_times=times,
        done_at=times[-1] + 0.001,
        usage={"prompt_tokens": 10, "completion_tokens": n} if usage else None,
    )


def _run(traces: list[StreamTrace]) -> PointRun:
    prompt = PerfPrompt("x", 10, exact=True)
    samples = [Sample(i, prompt, t) for i, t in enumerate(traces)]
    return PointRun(PointSpec("concurrency", 2, len(traces), None, 4), samples, 0.0, 2.0)


def test_parse_slo() -> None:
    assert parse_slo("ttft=2s, tpot=100ms,e2e=1.5") == {"ttft": 2.0, "tpot": 0.1, "e2e": 1.5}
    assert parse_slo(None) == {}
    with pytest.raises(ConfigError, match="'latency=3s'"):
        parse_slo("latency=3s")


def test_summary_statistics_and_goodput() -> None:
    traces = [_trace(0.0, 0.1, 0.02, 5), _trace(0.5, 0.3, 0.05, 5), _trace(1.0, 0.1, 0.02, 5, usage=False)]
    traces.append(StreamTrace(sent_at=1.0, done_at=1.2, error=RequestError(kind="timeout", message="t")))
    summary = summarize_point(_run(traces), {"ttft": 0.2, "tpot": 0.03})
    assert summary.requests == 4 and summary.succeeded == 3 and summary.errors == {"timeout": 1}
    assert summary.ttft is not None and summary.ttft.p50 == pytest.approx(100.0)
    assert summary.ttft.mean == pytest.approx(500 / 3)
    assert summary.tpot is not None and summary.tpot.max == pytest.approx(50.0)
    assert summary.itl is not None and summary.itl.n == 12
    assert summary.slo_ok == 2 and summary.goodput_per_s == pytest.approx(1.0)
    assert summary.request_per_s == pytest.approx(1.5)
    assert summary.output_tokens == 15 and summary.output_tokens_counted_client_side
    assert summary.input_tokens_per_s == pytest.approx(15.0)


def test_serving_cost_splits_the_hour_by_prefill_share() -> None:
    traces = [_trace(0.0, 0.25, 0.25, 4)]  # ttft 0.25 of e2e 1.001
    summary = summarize_point(_run(traces), {})
    cost = serving_cost([summary], 3.6, example=True, with_slo=False)
    assert cost is not None
    share = 0.25 / 1.001
    assert cost.prefill_time_share == pytest.approx(share)
    per_s = 3.6 / 3600
    assert cost.usd_per_1m_input == pytest.approx(per_s * share / summary.input_tokens_per_s * 1e6)
    assert cost.usd_per_1m_output == pytest.approx(per_s * (1 - share) / summary.output_tokens_per_s * 1e6)
    assert cost.usd_per_1m_blended_3_1 == pytest.approx((3 * cost.usd_per_1m_input + cost.usd_per_1m_output) / 4)


def test_operating_point_prefers_goodput_under_slo() -> None:
    fast_few = summarize_point(_run([_trace(0.0, 0.1, 0.01, 4)] * 2), {"ttft": 0.2})
    slow_many = summarize_point(_run([_trace(0.0, 0.5, 0.01, 8)] * 6), {"ttft": 0.2})
    assert operating_point([fast_few, slow_many], with_slo=True) == 0
    assert operating_point([fast_few, slow_many], with_slo=False) == 1


def test_synthetic_prompts_have_exact_lengths(tiny_model_dir: Path) -> None:
    encode, vocab = load_tokenizer(str(tiny_model_dir))
    prompts = synthetic_prompts(20, 37, encode=encode, vocab=vocab, seed=1)
    assert all(len(encode(p.text)) == 37 and p.exact for p in prompts)
    assert len({p.text for p in prompts}) == 20  # all different: no prefix-cache flattery
    assert [p.text for p in synthetic_prompts(3, 37, encode=encode, vocab=vocab, seed=1)] == [
        p.text for p in prompts[:3]
    ]
