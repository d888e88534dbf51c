"""Scale-out on a local Ray cluster (2 CPUs, one cluster for the module): the same results as in
process item by item, nothing lost or stored twice when a worker is SIGKILLed mid-run, a request
that kills its workers reported and skipped, Ctrl-C resumable, and per-worker meters that sum to
the run's."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from agimeter.backends.base import Backend  # noqa: E402
from agimeter.backends.fake import FakeBackend  # noqa: E402
from agimeter.runner.executors.ray_exec import RayWorkerPool  # noqa: E402
from agimeter.runner.meter import Measurement  # noqa: E402
from agimeter.runner.session import RunOptions, execute_run, prepare_tasks  # noqa: E402
from agimeter.store.records import RunRecord  # noqa: E402
from agimeter.store.repository import Store  # noqa: E402

TIMINGS = {"prefill_s", "decode_s", "total_s", "judge_s"}


@pytest.fixture()
def cluster(ray_cluster: str) -> str:
    return ray_cluster


class _Sink:
    """A progress sink that calls ``at(n)`` once the n-th item is committed (to kill, interrupt)."""

    def __init__(self, when: int, action: Callable[[], None]) -> None:
        self.done, self.when, self.action = 0, when, action

    def start_task(self, name: str, total: int, done: int) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.done >= self.when and self.when > 0:
            self.when = 0
            self.action()

    def finish_task(self) -> None:
        return None


def _options(toy: dict[str, Path], **kw: Any) -> RunOptions:
    tasks = [str(toy["mc"]), str(toy["gen"])]
    return RunOptions(model="fake:m", tasks=tasks, data_dir=str(toy["data"]), **kw)


def _run(toy: dict[str, Path], db: str, backend: Backend, **kw: Any) -> tuple[Store, RunRecord]:
    options = _options(toy)
    store = Store.open(f"sqlite:///{toy['tmp'] / db}")
    return store, execute_run(options, store, prepare_tasks(options), backend, 0.0, **kw)


def _items(store: Store, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    rows = store.run_items(run_id)
    keys = [(i.task, i.doc_id) for i in rows]
    assert len(keys) == len(set(keys)), "an item stored twice"
    return {(i.task, i.doc_id): i.model_dump(exclude=TIMINGS) for i in rows}


def _pool(events: list[str], workers: int = 2, **options: object) -> RayWorkerPool:
    return RayWorkerPool(["fake:m"] * workers, dict(options), on_event=events.append)


def test_results_and_meters_match_the_in_process_run(cluster: str, toy_env: dict[str, Path]) -> None:
    store, local = _run(toy_env, "local.db", FakeBackend("m"))
    events: list[str] = []
    pool = _pool(events)
    try:
        ray_store, distributed = _run(toy_env, "ray.db", pool)
    finally:
        pool.close()
    assert distributed.status == "finished" and not events
    assert _items(ray_store, distributed.id) == _items(store, local.id)  # item by item, all 80

    measured = Measurement.model_validate(distributed.summary["measurement"])
    workers = distributed.summary["workers"]
    assert [w["worker"] for w in workers] == [0, 1] and {w["session"] for w in workers} == {1}
    assert all(w["units"] > 0 for w in workers)  # both workers did some of the work
    for field in ("prompt_tokens", "computed_prompt_tokens", "completion_tokens"):
        assert sum(w[field] for w in workers) == getattr(measured, field), field
    assert sum(w["requests"] for w in workers) == 40 * 4 + 40  # four choices per MC item, one generation each
    assert sum(w["prefill_s"] for w in workers) == pytest.approx(measured.prefill_s)
    assert all(w["held_s"] >= w["busy_s"] > 0 for w in workers)


def test_a_sigkilled_worker_loses_nothing_and_stores_nothing_twice(cluster: str, toy_env: dict[str, Path]) -> None:
    store, local = _run(toy_env, "local.db", FakeBackend("m"))
    events: list[str] = []
    pool = _pool(events, delay_s=0.01)
    killed: list[int] = []

    def kill() -> None:
        pid = pool.pids()[0]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    try:
        ray_store, run = _run(toy_env, "ray.db", pool, progress=_Sink(10, kill))
        meters = pool.worker_meters()
    finally:
        pool.close()
    assert killed and run.status == "finished"
    assert _items(ray_store, run.id) == _items(store, local.id)  # 0 lost, 0 duplicated, same results
    assert any("worker 0" in e and "died" in e for e in events), events
    # one death; the worker restarts (its model loaded again) while the other carries on
    assert (meters[0].restarts, meters[0].dead, meters[1].restarts) == (1, False, 0)
    measured = Measurement.model_validate(run.summary["measurement"])
    assert sum(m.completion_tokens for m in meters) == measured.completion_tokens  # the lost unit counted once


def test_a_request_that_kills_every_worker_is_skipped_after_its_attempts(
    cluster: str, toy_env: dict[str, Path]
) -> None:
    script = toy_env["tmp"] / "script.json"
    script.write_text(json.dumps({"What is 7 + 1?": "!crash"}))
    events: list[str] = []
    pool = RayWorkerPool(["fake:m"] * 2, {"responses_file": str(script)}, max_attempts=2, on_event=events.append)
    options = RunOptions(model="fake:m", tasks=[str(toy_env["gen"])], data_dir=str(toy_env["data"]))
    store = Store.open(f"sqlite:///{toy_env['tmp'] / 'poison.db'}")
    try:
        run = execute_run(options, store, prepare_tasks(options), pool, 0.0)
    finally:
        pool.close()
    measured = Measurement.model_validate(run.summary["measurement"])
    assert run.status == "incomplete"
    assert (measured.failed_items, measured.errors) == (1, {"worker_lost": 1})
    assert sorted(i.doc_id for i in store.run_items(run.id)) == [d for d in range(40) if d != 7]
    # twice with its unit, then once alone; the other requests of its unit were redone and stored
    assert sum("died" in e for e in events) == 3 and "skipped" in events[-1], events


def test_ctrl_c_stops_the_workers_and_the_run_resumes(cluster: str, toy_env: dict[str, Path]) -> None:
    store, local = _run(toy_env, "local.db", FakeBackend("m"))

    def interrupt() -> None:
        raise KeyboardInterrupt

    events: list[str] = []
    pool = _pool(events)
    with pytest.raises(KeyboardInterrupt):
        try:
            _run(toy_env, "ray.db", pool, progress=_Sink(30, interrupt))
        finally:
            pool.close()
    (stopped,) = Store.open(f"sqlite:///{toy_env['tmp'] / 'ray.db'}").list_runs()
    assert stopped.status == "interrupted"

    pool = _pool(events)
    try:
        ray_store, resumed = _run(toy_env, "ray.db", pool)
    finally:
        pool.close()
    assert resumed.id == stopped.id and resumed.status == "finished"
    assert _items(ray_store, resumed.id) == _items(store, local.id)
    assert [(w["session"], w["worker"]) for w in resumed.summary["workers"]] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    measured = Measurement.model_validate(resumed.summary["measurement"])
    assert sum(w["completion_tokens"] for w in resumed.summary["workers"]) >= measured.completion_tokens


def test_cli_runs_on_an_existing_cluster_and_shows_each_worker(
    cluster: str, toy_env: dict[str, Path], agimeter: Any
) -> None:
    store = f"sqlite:///{toy_env['store']}"
    args = ["--tasks", str(toy_env["gen"]), "--data-dir", str(toy_env["data"]), "--store", store]
    done = agimeter("run", "--model", "fake:m", *args, "--workers", "2", "--ray-address", cluster)
    assert done.returncode == 0, done.stderr
    assert "scaling efficiency" in done.stdout and "Σ worker-hours" in done.stdout
    shown = agimeter("show", Store.open(store).list_runs()[0].id, "--store", store, "--format", "json")
    payload = json.loads(shown.stdout)
    assert [w["worker"] for w in payload["workers"]] == [0, 1]
    assert payload["scaling"]["workers"] == 2 and payload["scaling"]["tokens_per_s"] > 0
    # billed per worker: Σ of the workers' held seconds, not the driver's wall time
    assert payload["cost"]["billed_s"] == pytest.approx(sum(w["held_s"] for w in payload["workers"]))


@pytest.mark.slow
def test_a_tiny_model_scores_the_same_on_workers(cluster: str, toy_env: dict[str, Path], tiny_model_dir: Path) -> None:
    """Real log-likelihoods (a 2-layer random Qwen2, float32) computed on 2 workers, sharded into
    units, against one in-process backend: the same items, the same numbers."""
    from agimeter.backends.registry import create_backend

    model = f"hf:{tiny_model_dir}"
    options = RunOptions(model=model, tasks=[str(toy_env["mc"])], data_dir=str(toy_env["data"]), limit=12)
    local_store = Store.open(f"sqlite:///{toy_env['tmp'] / 'local.db'}")
    backend = create_backend(model, dtype="float32", device="cpu")
    local = execute_run(options, local_store, prepare_tasks(options), backend, 0.0)
    pool = RayWorkerPool([model] * 2, {"dtype": "float32", "device": "cpu"})
    try:
        assert pool.info.identity == backend.info.identity  # the same cache keys
        ray_store = Store.open(f"sqlite:///{toy_env['tmp'] / 'ray.db'}")
        distributed = execute_run(options, ray_store, prepare_tasks(options), pool, 0.0)
    finally:
        pool.close()
    here, there = _items(local_store, local.id), _items(ray_store, distributed.id)
    assert here.keys() == there.keys() and len(here) == 12
    for key, item in here.items():
        other = there[key]
        assert other["loglikelihoods"] == pytest.approx(item["loglikelihoods"], abs=1e-5), key
        assert (other["prediction"], other["correct"], other["cache_key"]) == (
            item["prediction"],
            item["correct"],
            item["cache_key"],
        )


def test_a_judged_conversation_answers_on_workers_and_is_judged_on_the_driver(cluster: str, tmp_path: Path) -> None:
    """The model phase (every turn, each after the model's own earlier answer) runs on the workers;
    the judge (a model by role) stays in the driver's process."""
    from agimeter.testing.judged import candidate, candidate_responses, judge, write_judged_toy

    env = write_judged_toy(tmp_path)
    options = RunOptions(model="fake:cand", tasks=[str(env["conv"])], data_dir=str(env["data"]), judge="fake:judge")
    here = Store.open(f"sqlite:///{tmp_path / 'local.db'}")
    local = execute_run(options, here, prepare_tasks(options), candidate(), 0.0, models={"grader": judge()})
    script = tmp_path / "candidate.json"
    script.write_text(json.dumps(candidate_responses()))
    pool = RayWorkerPool(["fake:cand"] * 2, {"responses_file": str(script), "chat_template": "true"})
    there = Store.open(f"sqlite:///{tmp_path / 'ray.db'}")
    try:
        assert pool.info.identity == candidate().info.identity
        run = execute_run(options, there, prepare_tasks(options), pool, 0.0, models={"grader": judge()})
    finally:
        pool.close()
    assert run.status == "finished" and local.status == "finished"
    assert _items(there, run.id) == _items(here, local.id)
    assert sum(w["requests"] for w in run.summary["workers"]) == 2 * len(_items(here, local.id))  # two turns each


def test_one_worker_per_endpoint(cluster: str, toy_env: dict[str, Path], stub_server: Any) -> None:
    """``openai:MODEL@URL1,URL2``: each worker talks to its own server; the pool's identity covers
    both endpoints (their results are cached as the pair's, never as one server's)."""
    from agimeter.backends.registry import create_backend
    from agimeter.runner.executors.ray_exec import worker_specs

    urls = [stub_server("--first-ms", "1", "--itl-ms", "1") for _ in range(2)]
    specs = worker_specs(f"openai:stub-model@{urls[0]},{urls[1]}", None)
    pool = RayWorkerPool(specs, {})
    options = RunOptions(model="openai:stub-model", tasks=[str(toy_env["gen"])], data_dir=str(toy_env["data"]))
    store = Store.open(f"sqlite:///{toy_env['tmp'] / 'endpoints.db'}")
    try:
        run = execute_run(options, store, prepare_tasks(options), pool, 0.0)
    finally:
        pool.close()
    assert run.status == "finished" and len(_items(store, run.id)) == 40
    workers = run.summary["workers"]
    assert [w["model"] for w in workers] == specs and all(w["requests"] > 0 for w in workers)
    singles = {create_backend(spec).info.identity for spec in specs}
    assert len(singles) == 2 and pool.info.identity not in singles
    assert pool.info.extra["endpoints"] == ",".join(specs)
