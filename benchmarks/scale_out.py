"""Scaling efficiency of a run on 1 vs 2 Ray workers, on this machine, side by side.

Two workloads, each evaluated from scratch (a fresh store) on 1 worker and then on 2:

- ``remote``: the fake backend with a fixed delay per request (``--delay-ms``), standing for a
  model behind an HTTP endpoint (one worker per endpoint, or one slow server each): the workers
  wait, they do not compute, so this shows what the pool itself costs (units, round trips, the
  driver committing every item) and should scale almost perfectly on any machine.
- ``cpu``: a tiny random Qwen2 (2 layers, built in a temp dir) scoring the task's log-likelihoods
  zero-shot in float32 on the CPU. Each worker reserves one CPU (Ray then gives its torch one
  thread), so on a 2-core machine 2 workers use both cores.

For each it prints: tokens/s over the run's wall time (model load excluded, as agimeter meters it),
the 2-worker speed-up over 1 worker, and the scaling efficiency = throughput(2) / (2 × throughput(1)),
plus the in-run efficiency ``show`` reports (against the workers' own busy rates).

What 2 cores can show: that the pool adds little over in-process work, that results and meters are
right, and an upper bound of 2 for CPU-bound work. What they cannot: the CPU-bound number on a
machine shared with other jobs is a floor, not the scaling of a real cluster; one host shows no
network, no multi-node scheduling, no GPU workers, and no contention for memory bandwidth that
bigger models meet.

    python benchmarks/scale_out.py [--items 200] [--delay-ms 20] [--task arc_challenge]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file in ~/.ray for a benchmark

import ray

from agimeter.runner.executors.base import WorkerMeter, scaling
from agimeter.runner.executors.ray_exec import RayWorkerPool
from agimeter.runner.meter import Measurement
from agimeter.runner.session import RunOptions, execute_run, prepare_tasks
from agimeter.store.repository import Store
from agimeter.testing import build_tiny_qwen2


def one_run(model: str, options: dict[str, object], workers: int, run: RunOptions, db: Path) -> dict[str, Any]:
    start = time.perf_counter()
    pool = RayWorkerPool([model] * workers, options)
    load_s = time.perf_counter() - start
    try:
        store = Store.open(f"sqlite:///{db}")
        record = execute_run(run, store, prepare_tasks(run), pool, load_s)
    finally:
        pool.close()
    measured = Measurement.model_validate(record.summary["measurement"])
    meters = [WorkerMeter.model_validate(w) for w in record.summary["workers"]]
    tokens = measured.prompt_tokens + measured.completion_tokens
    return {
        "workers": workers,
        "wall_s": measured.wall_s,
        "load_s": load_s,
        "tokens": tokens,
        "tokens_per_s": tokens / measured.wall_s,
        "in_run": scaling(meters, measured.wall_s).efficiency,
    }


def compare(name: str, model: str, options: dict[str, object], run: RunOptions, tmp: Path) -> None:
    one = one_run(model, options, 1, run, tmp / f"{name}-1.db")
    two = one_run(model, options, 2, run, tmp / f"{name}-2.db")
    assert one["tokens"] == two["tokens"], "the two runs did different work"
    speedup = two["tokens_per_s"] / one["tokens_per_s"]
    print(f"\n{name}: {model.split('/')[-1]}, {one['tokens']:,} tokens")
    for r in (one, two):
        eff = f"{100 * r['in_run']:.0f}%" if r["in_run"] is not None else "n/a"
        print(
            f"  {r['workers']} worker(s): wall {r['wall_s']:6.2f} s  {r['tokens_per_s']:9,.0f} tok/s  "
            f"(start + load {r['load_s']:.1f} s; in-run efficiency {eff})"
        )
    print(f"  speed-up 2 vs 1: {speedup:.2f}x   scaling efficiency: {100 * speedup / 2:.0f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=200, help="items per workload")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the remote workload's time per request")
    parser.add_argument("--task", default="arc_challenge", help="the CPU workload's multiple-choice task")
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()
    data_dir = os.environ.get("AGIMETER_DATA_DIR") or str(Path(__file__).resolve().parents[2] / "shared/benchmarks")
    cores = os.cpu_count() or 1
    print(f"machine: {cores} logical cores; Ray local cluster with 2 CPU slots; each worker reserves 1")
    with tempfile.TemporaryDirectory(prefix="agimeter-scale-") as tmp_dir:
        tmp = Path(tmp_dir)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(tmp / "ray"))
        try:
            run = RunOptions(model="fake:remote", tasks=[args.task], data_dir=data_dir, limit=args.items)
            compare("remote", "fake:remote", {"delay_s": args.delay_ms / 1000}, run, tmp)
            if not args.skip_cpu:
                model = f"hf:{build_tiny_qwen2(tmp / 'tiny', seed=0)}"
                # zero-shot: the tiny model's small vocabulary makes few-shot prompts thousands of tokens long
                run = RunOptions(model=model, tasks=[args.task], data_dir=data_dir, limit=args.items, num_fewshot=0)
                compare("cpu", model, {"dtype": "float32", "device": "cpu"}, run, tmp)
        finally:
            ray.shutdown()
    print(
        "\nOn 2 cores this shows the pool's own cost (remote) and at most 2x for CPU-bound work, which a\n"
        "machine shared with other jobs only reaches when both cores are free; it shows nothing about\n"
        "networks, several hosts, GPUs or memory bandwidth."
    )


if __name__ == "__main__":
    main()
