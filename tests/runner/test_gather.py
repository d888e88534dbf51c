"""Gather: a flat batch's results back into their items, in any order, retries and errors included."""

from __future__ import annotations

from agimeter.backends.base import GenResult, RequestError, Timing, Usage
from agimeter.runner.gather import Gather


class _Meter:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def add_error(self, kind: str) -> None:
        self.errors.append(kind)


def _ok(text: str) -> GenResult:
    return GenResult(text=text, usage=Usage(), timing=Timing())


def _err() -> GenResult:
    return GenResult(text="", usage=Usage(), timing=Timing(), error=RequestError(kind="timeout", message="slow"))


def test_items_ready_in_request_order_once_each_whatever_the_arrival_order() -> None:
    ready: list[tuple[int, list[str]]] = []
    meter = _Meter()
    gather: Gather[GenResult] = Gather([2, 1, 3], meter, lambda i, done: ready.append((i, [r.text for r in done])))
    for index in (5, 2, 0, 3, 0, 1, 4):  # request 0 reported twice: the first result is kept
        gather(index, _ok(f"r{index}"))
    assert ready == [(1, ["r2"]), (0, ["r0", "r1"]), (2, ["r3", "r4", "r5"])]
    assert gather.answered == 3 and not gather.failed and meter.errors == []


def test_an_error_fails_its_item_only_and_is_counted() -> None:
    ready: list[int] = []
    meter = _Meter()
    gather: Gather[GenResult] = Gather([2, 2], meter, lambda i, done: ready.append(i))
    gather(0, _err())
    for index in (1, 2, 3):
        gather(index, _ok("x"))
    assert ready == [1]
    assert gather.failed == {0} and gather.answered == 2 and meter.errors == ["timeout"]


def test_missing_results_leave_items_unanswered() -> None:
    gather: Gather[GenResult] = Gather([1, 2], _Meter(), lambda i, done: None)
    gather(1, _ok("x"))
    assert gather.answered == 0
