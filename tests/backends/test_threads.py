"""CPU thread policy: passive OpenMP waits by default, thread count chosen by timing layers."""

from __future__ import annotations

import sys
import time

import pytest
import torch

from agimeter.backends import _threads
from agimeter.backends._threads import ThreadTuner, prefer_passive_waits, run_queue_wait_s


def test_passive_waits_unless_torch_is_loaded_or_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _threads.WAIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    prefer_passive_waits()  # torch is loaded in this process: too late, nothing set
    assert "OMP_WAIT_POLICY" not in _threads.os.environ
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setenv("GOMP_SPINCOUNT", "1000")
    prefer_passive_waits()
    assert "OMP_WAIT_POLICY" not in _threads.os.environ
    monkeypatch.delenv("GOMP_SPINCOUNT")
    prefer_passive_waits()
    assert _threads.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert _threads.wait_policy() == "OMP_WAIT_POLICY=PASSIVE"


def test_run_queue_wait_is_read_where_linux_reports_it() -> None:
    first = run_queue_wait_s()
    if first is None:
        pytest.skip("no /proc/self/task/*/schedstat on this kernel")
    assert first >= 0
    later = run_queue_wait_s()
    assert later is not None and later >= first - 1e-3  # threads may end, sums never jump down much


class _Layer(torch.nn.Module):
    """Sleeps for as long as its thread count costs in the current scenario."""

    def __init__(self, costs: dict[int, float]) -> None:
        super().__init__()
        self.costs = costs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.costs[torch.get_num_threads()])
        return x


class _Model(torch.nn.Module):
    def __init__(self, costs: dict[int, float], layers: int = 12) -> None:
        super().__init__()
        self.config = type("Config", (), {"num_hidden_layers": layers})()
        self.layers = torch.nn.ModuleList(_Layer(costs) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def _run(tuner: ThreadTuner, model: _Model, forwards: int) -> None:
    with tuner.attached(model):
        for _ in range(forwards):
            tuner.begin_forward(rows=512)
            model(torch.zeros(1))
            tuner.end_forward()


def test_tuner_follows_the_faster_thread_count_while_contended(monkeypatch: pytest.MonkeyPatch) -> None:
    waited = iter(range(0, 10**6, 1))  # every call: one more second of run-queue wait (contended)
    monkeypatch.setattr(_threads, "run_queue_wait_s", lambda: float(next(waited)))
    costs = {2: 0.012, 1: 0.003}  # a core is taken: one thread is 4x faster
    model = _Model(costs)
    tuner = ThreadTuner(max_threads=2)
    previous = torch.get_num_threads()
    _run(tuner, model, forwards=6)
    assert tuner.threads == 1 and tuner.switches >= 1
    costs.update({2: 0.003, 1: 0.012})  # the other process ended: two threads win again
    _run(tuner, model, forwards=8)
    assert tuner.threads == 2
    assert torch.get_num_threads() == previous  # restored on leaving


def test_tuner_does_not_explore_on_a_quiet_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_threads, "run_queue_wait_s", lambda: 0.0)
    seen: set[int] = set()

    class Recording(_Layer):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.add(torch.get_num_threads())
            return super().forward(x)

    model = _Model({})
    model.layers = torch.nn.ModuleList(Recording({2: 0.002, 1: 0.008}) for _ in range(12))
    tuner = ThreadTuner(max_threads=2)
    _run(tuner, model, forwards=1)  # the first forward has no earlier reading: it explores
    assert seen == {1, 2} and tuner.threads == 2
    seen.clear()
    _run(tuner, model, forwards=4)
    assert seen == {2} and tuner.threads == 2
