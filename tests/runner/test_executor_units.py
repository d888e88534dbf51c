"""The executor seam without a cluster: work units, one spec per endpoint, worker resources, and
the scaling figures computed from per-worker meters."""

from __future__ import annotations

import pytest

from agimeter.backends.base import GenRequest, LoglikRequest
from agimeter.errors import ConfigError
from agimeter.runner.executors.base import WorkerMeter, plan_units, scaling, unit_size_for
from agimeter.runner.executors.ray_exec import parse_worker_resources, worker_specs


def test_units_keep_an_items_requests_together_and_cover_every_request_once() -> None:
    requests = [LoglikRequest(context=f"shots\nQ{i // 4}", continuation=f" {i % 4}") for i in range(40)]
    units = plan_units("loglik", requests[::-1], unit_size=3)  # reversed: the planner orders by prompt
    covered = sorted(i for u in units for i in u.indices)
    assert covered == list(range(40))
    for unit in units:
        contexts = [r.context for r in unit.requests]
        assert all(isinstance(r, LoglikRequest) for r in unit.requests)
        assert len(unit.requests) == 4 and len(set(contexts)) == 1  # never cut inside an item
    assert [r.context for u in units for r in u.requests] == sorted(r.context for r in requests)


def test_units_hold_samples_of_one_prompt_together() -> None:
    requests = [GenRequest(prompt=f"p{i % 3}", temperature=0.7, seed=i) for i in range(12)]
    units = plan_units("generate", requests, unit_size=2)
    assert [len(u.requests) for u in units] == [4, 4, 4]
    assert all(len({r.prompt for r in u.requests if isinstance(r, GenRequest)}) == 1 for u in units)


def test_unit_size_gives_each_worker_several_units() -> None:
    assert unit_size_for(160, 2) == 20
    assert unit_size_for(5, 4) == 1
    assert unit_size_for(100_000, 2) == 64


def test_one_worker_per_endpoint() -> None:
    assert worker_specs("openai:m@http://a:1/v1,http://b:2/v1", None) == [
        "openai:m@http://a:1/v1",
        "openai:m@http://b:2/v1",
    ]
    assert worker_specs("fake:m", 3) == ["fake:m"] * 3
    assert worker_specs("openai:m@http://a:1/v1", None) == ["openai:m@http://a:1/v1"]
    with pytest.raises(ConfigError, match=r"--workers 3: .* names 2 endpoints"):
        worker_specs("openai:m@http://a/v1,http://b/v1", 3)


def test_worker_resources_are_checked_field_by_field() -> None:
    assert parse_worker_resources('{"num_cpus": 4, "num_gpus": 1}').num_gpus == 1
    assert parse_worker_resources(None).num_cpus == 1
    with pytest.raises(ConfigError, match="--worker-resources num_gpu: Extra inputs"):
        parse_worker_resources('{"num_gpu": 1}')
    with pytest.raises(ConfigError, match="--worker-resources num_cpus"):
        parse_worker_resources('{"num_cpus": -1}')
    with pytest.raises(ConfigError, match="--worker-resources"):
        parse_worker_resources("{num_cpus: 1")


def _meter(worker: int, tokens: int, busy_s: float, held_s: float, price: float = 3.6) -> WorkerMeter:
    return WorkerMeter(
        worker=worker, model="fake:m", held_s=held_s, busy_s=busy_s, prompt_tokens=tokens, price_per_hour=price
    )


def test_scaling_is_run_throughput_over_n_times_one_workers() -> None:
    # each worker alone does 100 tok/s; the run's 2,000 tokens took 12.5 s of wall time: 160 tok/s
    meters = [_meter(0, 1000, 10.0, 20.0), _meter(1, 1000, 10.0, 30.0)]
    scale = scaling(meters, wall_s=12.5)
    assert scale.tokens_per_s == pytest.approx(160.0)
    assert scale.worker_tokens_per_s == pytest.approx(100.0)
    assert scale.efficiency == pytest.approx(0.8)
    assert scale.usd == pytest.approx((20.0 + 30.0) / 3600 * 3.6)  # Σ worker-hours × price
    assert scaling([], 1.0).efficiency is None
