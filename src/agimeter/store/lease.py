"""Leases: is the process that holds a run still alive?

On the same host the answer is exact: the owner's pid must exist, not be a zombie, and have the
start time recorded (a reused pid has another). A process on another host cannot be looked at, so
its lease is its heartbeat: it holds until ``LEASE_TTL_S`` after the last one. A live owner beats
every ``runner.heartbeat.HEARTBEAT_S`` (15 s, well inside the TTL) from a thread and with each item
it commits, so a slow item never lets its lease lapse."""

from __future__ import annotations

import socket
from datetime import datetime

import psutil

from agimeter.records.sessions import Owner

LEASE_TTL_S = 60.0
# Start times are derived from the boot time, which the kernel adjusts with the clock: allow a
# little drift. A pid is reused only after the pid space wraps, never within a second.
_START_TIME_SLACK_S = 1.0


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
