"""How long to wait for a server: one attempt's deadline, and a watch on the server as a whole.

A request's own limits (the stall timer, ``timeout_s``, ``max_retries``) bound each request, not a
run: a run of a thousand items against a dead server would wait a thousand times. The watch makes
the bound hold for the run: once the server is judged gone, nothing more is sent to it.
"""

from __future__ import annotations

import asyncio
import time


class Deadline:
    """One attempt's deadline (an ``asyncio.timeout``): moved on by every chunk of a stream (the
    stall timer), or set to now when the watch gives up on the server. ``reason`` says which."""

    def __init__(self, timeout: asyncio.Timeout) -> None:
        self.timeout = timeout
        self.reason = ""

    def stall_after(self, seconds: float) -> None:
        if not self.timeout.expired():
            self.reason = f"stalled: no bytes for {seconds:g} s (read_timeout_s)"
            self.timeout.reschedule(asyncio.get_running_loop().time() + seconds)

    def expire(self, reason: str) -> None:
        if not self.timeout.expired():
            self.reason = reason
            self.timeout.reschedule(asyncio.get_running_loop().time())


class ServerWatch:
    """Whether a server still answers, across every request a backend sends it (all calls).

    It gives up on the server when, while requests are in flight, nothing at all has arrived for
    ``give_up_s`` (a silent server), or when an attempt times out and no attempt has succeeded
    for ``give_up_s`` (a server that keeps stalling). Then the attempts in flight end at once and
    every later one fails before it is sent, as ``timeout`` and without retries: however many
    items a run has, a server that stops answering holds it for about ``give_up_s`` (plus one
    ``read_timeout_s`` for a stall), and a re-run retries what failed."""

    def __init__(self, give_up_s: float) -> None:
        self.give_up_s = give_up_s
        self.gave_up: str | None = None
        self._in_flight: set[Deadline] = set()
        self._pauses: set[Deadline] = set()  # requests backing off before a retry
        self._last_byte = self._last_success = time.monotonic()

    def start_call(self) -> None:
        """A new batch of requests: time between calls is nobody's silence."""
        self._last_byte = self._last_success = time.monotonic()

    def begin(self, attempt: Deadline) -> None:
        if not self._in_flight:  # silence counts only while something waits for the server
            self._last_byte = time.monotonic()
        self._in_flight.add(attempt)

    def end(self, attempt: Deadline) -> None:
        self._in_flight.discard(attempt)
        self._pauses.discard(attempt)

    def pause(self, waiting: Deadline) -> None:
        self._pauses.add(waiting)

    def heard(self) -> None:
        self._last_byte = time.monotonic()

    def succeeded(self) -> None:
        self._last_byte = self._last_success = time.monotonic()

    def timed_out(self) -> None:
        if time.monotonic() - self._last_success >= self.give_up_s:
            self.give_up(f"no request succeeded for {self.give_up_s:g} s while attempts timed out")

    def give_up(self, why: str) -> None:
        if self.gave_up is None:
            self.gave_up = f"gave up on the server: {why} (give_up_s); re-run to retry"
        for attempt in [*self._in_flight, *self._pauses]:
            attempt.expire(self.gave_up)

    async def run(self) -> None:
        """Watchdog for one event loop: give up on a server silent for ``give_up_s``."""
        interval = min(1.0, self.give_up_s / 10)
        while True:
            await asyncio.sleep(interval)
            if self._in_flight and time.monotonic() - self._last_byte >= self.give_up_s:
                self.give_up(f"it sent nothing for {self.give_up_s:g} s")
