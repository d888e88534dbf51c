"""CPU thread policy for the hf backend: passive OpenMP waits and a measured intra-op thread count.

torch's CPU ops split their work statically over an OpenMP team (libgomp in the pip wheels). When
another process takes a core, one thread of the team runs at a fraction of its speed and every
parallel region waits for it; libgomp's default wait *spins* (GOMP_SPINCOUNT 300,000 pause
iterations, ~15 ms on a recent Xeon) on the core the straggler or the other process could use.
Two remedies, measured in docs/perf_profile.md:

- ``OMP_WAIT_POLICY=PASSIVE``: waiting threads sleep, so an idle core can pick up the straggler.
  libgomp reads it once, when it is loaded, so :func:`prefer_passive_waits` must run before
  ``import torch``; ``agimeter/__init__`` calls it (a user's own OMP_WAIT_POLICY or
  GOMP_SPINCOUNT wins).
- :class:`ThreadTuner`: while any of the process's threads wait on a run queue (``schedstat``),
  every 4th-16th decoder layer runs with the other thread count (the full count or one) and the
  faster is kept, from the next layer on. Layers of one forward do the same work, so an
  alternative layer against the layers just before it is a paired comparison taken within
  milliseconds, immune to the load drifting between forwards; one forward is enough to switch.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def prefer_passive_waits() -> None:
    """Ask OpenMP for sleeping (not spinning) waits, unless torch is loaded already or the user
    chose a wait policy."""
    if "torch" in sys.modules or any(name in os.environ for name in WAIT_VARIABLES):
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def wait_policy() -> str:
    """The OpenMP wait settings this process started with, for the model info."""
    chosen = [f"{name}={os.environ[name]}" for name in WAIT_VARIABLES if name in os.environ]
    return ",".join(chosen) or "default"


def cpu_count() -> int:
    """Cores this process may run on (torch's default can undercount in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run_queue_wait_s() -> float | None:
    """Seconds this process's threads have spent runnable but not running (Linux schedstat), or
    None where the kernel does not report it."""
    total = 0
    try:
        for task in Path("/proc/self/task").iterdir():
            try:
                fields = (task / "schedstat").read_text().split()
            except OSError:
                continue  # the thread ended meanwhile
            total += int(fields[1])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


class ThreadTuner:
    """Chooses torch's intra-op thread count by timing decoder layers as a forward runs."""

    MIN_ROWS = 64
    """Smaller forwards are too short to time; they run at the current choice."""
    CONTENDED = 0.05
    """Run-queue wait per wall second above which the alternative is tried."""
    RECENT = 4
    """Layers at the current count that an alternative layer is compared with."""

    def __init__(self, max_threads: int) -> None:
        self.max_threads = max_threads
        self.threads = max_threads
        # One process beside us takes a core: max - 1 fits many cores; on few, 1 avoids barriers.
        self.candidates = sorted({max_threads, max(1, max_threads - 1), 1}, reverse=True)
        self.log_gain: dict[int, float] = {}
        """Per alternative count: smoothed log(layer time at ``threads`` / layer time at it)."""
        self.period = 4
        self._turn = 0
        self.switches = 0
        self._explore = False
        self._layer = 0
        self._running = max_threads
        self._base: list[float] = []
        self._started = 0.0
        self._wait_mark: tuple[float, float] | None = None

    def begin_forward(self, rows: int) -> None:
        """Called before each forward: decide whether its layers may explore."""
        import torch

        wait = run_queue_wait_s()
        now = time.perf_counter()
        contended = True
        if wait is not None and self._wait_mark is not None:
            wall = now - self._wait_mark[0]
            contended = wall > 0 and (wait - self._wait_mark[1]) / wall > self.CONTENDED
        self._wait_mark = (now, wait) if wait is not None else None
        # Quiet at the full thread count: nothing to win. Below it, a quiet machine looks the
        # same from here, so keep checking the full count now and then.
        wider = self.threads < self.max_threads
        self._explore = self.max_threads > 1 and rows >= self.MIN_ROWS and (contended or wider)
        self._layer = 0
        self._base = []  # layer times depend on the forward's size: compare within one forward
        torch.set_num_threads(self.threads)

    def before_layer(self) -> None:
        import torch

        explore = self._explore and self._layer % self.period == self.period // 2
        if explore:
            others = [c for c in self.candidates if c != self.threads]
            self._turn += 1
            self._running = others[self._turn % len(others)]
        else:
            self._running = self.threads
        if torch.get_num_threads() != self._running:
            torch.set_num_threads(self._running)
        self._started = time.perf_counter()

    def after_layer(self) -> None:
        elapsed = time.perf_counter() - self._started
        self._layer += 1
        if self._running == self.threads:
            self._base.append(elapsed)
        elif len(self._base) >= 2:
            self._judge(elapsed)

    def _judge(self, alternative_s: float) -> None:
        """Fold one alternative layer into its estimate; switch when the alternative is faster."""
        count = self._running
        gain = math.log(_median(self._base[-self.RECENT :]) / max(alternative_s, 1e-9))
        previous = self.log_gain.get(count)
        smoothed = gain if previous is None else 0.5 * previous + 0.5 * gain
        if smoothed > 0.05:
            self.log_gain = {self.threads: -smoothed}  # the others were relative to the old count
            self.threads = count
            self.switches += 1
            self.period = 4
            self._base = [alternative_s]
        else:
            self.log_gain[count] = smoothed
            # Clearly slower alternatives need checking less often.
            self.period = 16 if max(self.log_gain.values()) < -0.3 else 8

    def end_forward(self) -> None:
        import torch

        torch.set_num_threads(self.threads)

    @contextmanager
    def attached(self, model: Any) -> Iterator[None]:
        """Time ``model``'s decoder layers inside the block; restore torch's thread count after."""
        import torch

        layers = _decoder_layers(model)
        previous = torch.get_num_threads()
        handles = []
        for layer in layers:
            handles.append(layer.register_forward_pre_hook(lambda *_: self.before_layer()))
            handles.append(layer.register_forward_hook(lambda *_: self.after_layer()))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            torch.set_num_threads(previous)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def _decoder_layers(model: Any) -> list[Any]:
    """The model's stack of decoder layers (the longest ModuleList whose length is the config's
    layer count); empty when there is none (then nothing is timed and the count stays)."""
    import torch

    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    count = getattr(config, "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return list(module)
    return []
