"""Gather a batch's results back into their items as the backend reports them.

A backend answers a flat list of requests (an item's choices, or its samples) in any order and
may report one twice (a retry); ``Gather`` keeps the first result of each request, counts errors
in the meter, and hands an item's results to ``ready`` once its last one is back, unless one of
them failed (the item is then counted as failed, to be retried by the next run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from agimeter.backends.base import RequestError


class _Errored(Protocol):
    @property
    def error(self) -> RequestError | None: ...


class _ErrorMeter(Protocol):
    def add_error(self, kind: str) -> None: ...


R = TypeVar("R", bound=_Errored)


class Gather(Generic[R]):
    def __init__(self, sizes: Sequence[int], meter: _ErrorMeter, ready: Callable[[int, list[R]], None]) -> None:
        self.owner = [(i, j) for i, size in enumerate(sizes) for j in range(size)]
        self.slots: list[list[R | None]] = [[None] * size for size in sizes]
        self.remaining = list(sizes)
        self.failed: set[int] = set()
        self.meter, self.ready = meter, ready

    def __call__(self, index: int, result: R) -> None:
        i, j = self.owner[index]
        if self.slots[i][j] is not None:
            return
        self.slots[i][j] = result
        self.remaining[i] -= 1
        error = result.error
        if error is not None:
            self.meter.add_error(error.kind)
            self.failed.add(i)
        if self.remaining[i] == 0 and i not in self.failed:
            self.ready(i, [r for r in self.slots[i] if r is not None])

    @property
    def answered(self) -> int:
        """Items whose every request came back (failed ones included)."""
        return sum(1 for left in self.remaining if left == 0)
