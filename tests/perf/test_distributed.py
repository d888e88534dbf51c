"""Distributed load generation against the stub server on the session's Ray cluster: split
Poisson arrivals whose merge is Poisson at the asked rate, raw samples merged exactly, the meter's
error bound kept, each worker's own clock error reported."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from agimeter.errors import ConfigError
from agimeter.perf.distributed import LoadWorkers, split_point
from agimeter.perf.loadgen import PointSpec
from agimeter.perf.metrics import summarize_point
from agimeter.perf.session import PerfOptions
from agimeter.perf.workload import synthetic_prompts


def test_a_point_splits_into_shares_that_add_up() -> None:
    shares = split_point(PointSpec("rate", 30.0, 101, None, 8, seed=5, max_concurrency=9), 3)
    assert [s.level for s in shares] == [10.0, 10.0, 10.0]
    assert [s.requests for s in shares] == [34, 34, 33]
    assert len({s.seed for s in shares}) == 3  # independent arrival processes
    assert all(s.max_concurrency == 3 for s in shares)
    closed = split_point(PointSpec("concurrency", 5, None, 2.0, 8), 2)
    assert [s.level for s in closed] == [3.0, 2.0] and all(s.duration_s == 2.0 for s in closed)
    with pytest.raises(ConfigError, match="at least one per worker"):
        split_point(PointSpec("concurrency", 1, 10, None, 8), 2)


@pytest.mark.timing  # the meter's error bound is in milliseconds: retried once on a busy machine
def test_two_workers_merge_into_one_poisson_point(ray_cluster: str, stub_server: Any) -> None:
    url = stub_server("--first-ms", "20", "--itl-ms", "2")
    options = PerfOptions(model=f"openai:stub-model@{url}", mode="rate", levels=[40.0], requests=160)
    workers = LoadWorkers(options.model, {}, options.model_dump(mode="json"), 2)
    try:
        spec = PointSpec("rate", 40.0, 160, None, 4, seed=1)
        merged, overheads = workers.run_point(synthetic_prompts(160, 8, encode=None), spec, warmup=1)
    finally:
        workers.close()
    summary = summarize_point(merged, {})
    assert summary.succeeded == 160 and sum(o.requests for o in overheads) == 160
    assert [o.worker for o in overheads] == [0, 1] and [o.level for o in overheads] == [20.0, 20.0]
    # Merged arrivals: Poisson at the asked rate (a rate within sampling error of 40/s over 160
    # arrivals, exponential gaps: coefficient of variation near 1, where a regular schedule has 0).
    arrivals = np.sort([s.scheduled_at for s in merged.samples if s.scheduled_at is not None])
    gaps = np.diff(arrivals)
    assert 0.7 * 40 <= (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) <= 1.3 * 40
    assert 0.75 <= gaps.std() / gaps.mean() <= 1.25
    # Every raw sample is in the merged distribution, not an average of the workers' percentiles.
    ttfts = [s.trace.ttft_s for s in merged.samples if s.trace.ttft_s is not None]
    assert summary.ttft is not None and summary.ttft.n == 160
    assert summary.ttft.p90 == pytest.approx(float(np.percentile(np.asarray(ttfts) * 1000, 90)))
    # The meter's own error (client read - stub write of the first token, one monotonic clock on
    # this host) stays within the in-process bound; each worker reports its own dispatch lag.
    assert summary.server is not None and summary.server.meter_ttft_error_ms is not None
    assert 0 <= summary.server.meter_ttft_error_ms.p50 <= 1.0
    assert all(o.overhead.dispatch_lag_ms is not None and o.overhead.loop_lag_ms is not None for o in overheads)
    assert all(o.start_skew_ms < 250 for o in overheads)


def test_perf_cli_sends_from_workers_and_shows_each(ray_cluster: str, stub_server: Any, agimeter: Any, tmp_path):
    url = stub_server("--first-ms", "5", "--itl-ms", "1")
    store = f"sqlite:///{tmp_path / 's.db'}"
    model = f"openai:stub-model@{url}"
    args = ["--rate", "20", "--requests", "20", "--output-tokens", "4", "--input-tokens", "8", "--store", store]
    done = agimeter("perf", "--model", model, *args, "--workers", "2", "--ray-address", ray_cluster)
    assert done.returncode == 0, done.stderr
    assert "load-generating workers" in done.stdout
    run_id = done.stdout.split("perf ", 1)[1].split()[0]
    shown = agimeter("show", run_id, "--store", store, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    (point,) = json.loads(shown.stdout)["points"]
    assert point["succeeded"] == 20 and [w["requests"] for w in point["workers"]] == [10, 10]
