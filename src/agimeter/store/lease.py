"""Leases: is the process that holds a run still alive?

On the same host the answer is exact: the owner's pid must exist, not be a zombie, and have the
start time recorded (a reused pid has another). A process on another host cannot be looked at, so
its lease is its heartbeat: it holds until ``LEASE_TTL_S`` after the last one. A live owner beats
every ``HEARTBEAT_S`` from a thread (and with each item it commits), so a slow item never lets its
lease lapse."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import datetime

import psutil

from agimeter.store.records import Owner

LEASE_TTL_S = 60.0
HEARTBEAT_S = 15.0
# Start times are derived from the boot time, which the kernel adjusts with the clock: allow a
# little drift. A pid is reused only after the pid space wraps, never within a second.
_START_TIME_SLACK_S = 1.0


def this_process() -> Owner:
    process = psutil.Process()
    return Owner(host=socket.gethostname(), pid=process.pid, started=process.create_time())


def owner_alive(owner: Owner, heartbeat_at: datetime, now: datetime) -> bool:
    if owner.host != socket.gethostname():
        return (now - heartbeat_at).total_seconds() < LEASE_TTL_S
    try:
        process = psutil.Process(owner.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return bool(abs(process.create_time() - owner.started) < _START_TIME_SLACK_S)
    except psutil.NoSuchProcess:  # ZombieProcess is a NoSuchProcess too
        return False
    except psutil.AccessDenied:  # it exists, and we may not look: count it alive
        return True


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
