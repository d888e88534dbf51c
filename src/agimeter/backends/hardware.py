"""What machine a backend runs on (``HardwareInfo``, stored with each measurement), and how much
memory this process peaked at."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

import psutil

from agimeter.records.hardware import HardwareInfo


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _torch_if_loaded() -> object | None:
    # Only report torch facts when a backend already imported it: never import torch just for this.
    return sys.modules.get("torch")


def detect_hardware() -> HardwareInfo:
    torch = _torch_if_loaded()
    gpu: str | None = None
    torch_version: str | None = None
    if torch is not None:
        torch_version = str(getattr(torch, "__version__", None))
        cuda = getattr(torch, "cuda", None)
        if cuda is not None and cuda.is_available():
            count = cuda.device_count()
            gpu = f"{count}x {cuda.get_device_name(0)}"
    return HardwareInfo(
        cpu_model=_cpu_model(),
        cpu_cores_logical=os.cpu_count() or 1,
        cpu_cores_physical=psutil.cpu_count(logical=False),
        ram_bytes=psutil.virtual_memory().total,
        gpu=gpu,
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        torch=torch_version,
    )


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def cuda_max_allocated_bytes() -> int | None:
    torch = _torch_if_loaded()
    cuda = getattr(torch, "cuda", None) if torch is not None else None
    if cuda is None or not cuda.is_available():
        return None
    return int(cuda.max_memory_allocated())
