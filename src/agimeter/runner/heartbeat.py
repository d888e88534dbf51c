"""Holding a run's lease: this process as its owner, and a heartbeat that keeps the lease fresh
while an item takes long (the store's ``store.lease`` decides whether an owner still lives)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import psutil

from agimeter.records.sessions import Owner

# Well inside the store's lease TTL (60 s) for owners on another host.
HEARTBEAT_S = 15.0


def this_process() -> Owner:
    process = psutil.Process()
    return Owner(host=socket.gethostname(), pid=process.pid, started=process.create_time())


class Heartbeat:
    """Calls ``beat`` every ``every_s`` seconds from a daemon thread until stopped, or until
    ``beat`` returns False (the lease was lost: the run's own commits will then say so)."""

    def __init__(self, beat: Callable[[], bool], every_s: float = HEARTBEAT_S) -> None:
        self._beat = beat
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="agimeter-heartbeat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                if not self._beat():
                    return
            except Exception:  # a busy or unreachable store: the next item commit beats too
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
