"""``--sample`` (stratified) and ``--target-ci`` (sequential) on a full task: the subsampled
estimates land within their CI of the full score."""

from __future__ import annotations

from pathlib import Path

import pytest

from agimeter.backends.fake import FakeBackend
from agimeter.records.options import RunOptions
from agimeter.runner.session import execute_run, prepare_tasks
from agimeter.scoring.aggregate import summarize
from agimeter.store.repository import Store

pytestmark = pytest.mark.slow


def _run(store: Store, data_dir: Path, **kw: object) -> tuple[str, float, float, float]:
    options = RunOptions(model="fake:sampling", tasks=["mmlu"], data_dir=str(data_dir), num_fewshot=0, **kw)  # type: ignore[arg-type]
    run = execute_run(options, store, prepare_tasks(options), FakeBackend("sampling"), 0.0)
    (score,) = summarize(store.run_items(run.id), run.summary.protocols, run.summary.populations)
    est = score.metrics["acc"]
    return run.id, est.mean, est.ci_low, est.ci_high


def test_sample_and_target_ci_cover_the_full_score(data_dir: Path, tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    full_id, full, _, _ = _run(store, data_dir)
    assert len(store.run_items(full_id)) == 14042
    _, mean, low, high = _run(store, data_dir, sample=600, seed=3)
    assert low <= full <= high, (full, mean, low, high)
    seq_id, mean, low, high = _run(store, data_dir, target_ci=0.03, seed=5)
    run = store.get_run(seq_id)
    info = run.summary.sequential["mmlu"]
    assert info.reached and info.half_width is not None and info.half_width <= 0.03
    assert info.evaluated < 14042 and info.population == 14042
    assert len(store.run_items(seq_id)) == info.evaluated
    assert low <= full <= high, (full, mean, low, high)
    # every subject is represented in the sequential sample
    subjects = {r.subtask for r in store.run_items(seq_id)}
    assert len(subjects) == 57
