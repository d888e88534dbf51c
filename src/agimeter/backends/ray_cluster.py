"""Ray for the stacks that scale out (``runner.executors``: evaluation workers; ``perf.distributed``:
load-generating workers): joining a cluster or starting a local one, and how they report events."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

EventSink = Callable[[str], None]


def ensure_ray(address: str | None, cpus: float, on_event: EventSink) -> bool:
    """Connect to the cluster at ``address``, or start a local one with at least ``cpus`` CPU slots
    (said plainly when that is more than the machine has: workers then share cores, and their
    meters show it). Nothing when Ray is running already; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        cores = os.cpu_count() or 1
        kwargs["num_cpus"] = max(cores, math.ceil(cpus))
        if cpus > cores:
            on_event(f"note: workers need {cpus:g} CPUs on a {cores}-core machine: they share cores")
    else:
        kwargs["address"] = address
    ray.init(**kwargs)
    return True
