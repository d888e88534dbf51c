"""Per-run cgroups of the code sandbox: ``pids.max`` and a memory limit over all of a run's
processes, and a kill that reaches every one of them (v2 when the pids controller is delegated
to our own cgroup, else v1; none when neither is writable)."""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# How long a kill sweep may take before it gives up (and logs).
KILL_GRACE_S = 3.0

_run_counter = itertools.count()


def kill_until_gone(list_pids: Callable[[], list[int]], grace_s: float) -> None:
    """SIGKILL what ``list_pids`` returns until it returns nothing, for at most ``grace_s``."""
    deadline = time.monotonic() + grace_s
    while (pids := list_pids()) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    if pids:
        log.warning("sandbox: %d process(es) survived SIGKILL for %.1f s", len(pids), grace_s)


@dataclass(frozen=True)
class CgroupRoots:
    """Where this process's cgroups live, for the controllers we use."""

    version: int
    pids: Path | None
    memory: Path | None


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@functools.cache
def cgroup_roots() -> CgroupRoots | None:
    """Our own cgroups (v2 preferred when it has the pids controller), or None when not writable."""
    own: dict[str, str] = {}  # controller ("" for v2) -> our cgroup path
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, cgroup = line.split(":", 2)
            own.update(dict.fromkeys(controllers.split(","), cgroup))
        mounts = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    except (OSError, ValueError):
        return None
    v1: dict[str, Path] = {}
    for m in mounts:
        root, point, fstype, options = m[3], m[4], m[m.index("-") + 1], m[-1].split(",")
        if fstype == "cgroup2" and "" in own:
            path = Path(point) / os.path.relpath(own[""], root)
            # Only when delegated to us: enabling controllers ourselves would change the host's tree.
            with contextlib.suppress(OSError):
                enabled = (path / "cgroup.subtree_control").read_text().split()
                if "pids" in enabled and _writable_dir(path):
                    return CgroupRoots(2, path, path if "memory" in enabled else None)
        elif fstype == "cgroup":
            for controller in ("pids", "memory"):
                if controller in options and controller in own:
                    v1[controller] = Path(point) / os.path.relpath(own[controller], root)
    pids, memory = v1.get("pids"), v1.get("memory")
    pids = pids if pids and _writable_dir(pids) else None
    memory = memory if memory and _writable_dir(memory) else None
    return CgroupRoots(1, pids, memory) if pids or memory else None


@dataclass
class RunCgroup:
    """The cgroup(s) of one run: pids.max and a memory limit over all of its processes."""

    version: int
    pids: Path | None = None
    memory: Path | None = None
    dirs: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, roots: CgroupRoots, max_tasks: int, memory_mb: int) -> RunCgroup:
        name = f"agimeter-sandbox-{os.getpid()}-{next(_run_counter)}"
        group = cls(roots.version)
        try:
            if roots.pids is not None:
                group.pids = group._mkdir(roots.pids / name)
                (group.pids / "pids.max").write_text(str(max_tasks))
            if roots.memory is not None:
                group.memory = group._mkdir(roots.memory / name)
                limit = str(memory_mb * 1024 * 1024)
                if roots.version == 2:
                    (group.memory / "memory.max").write_text(limit)
                    with contextlib.suppress(OSError):
                        (group.memory / "memory.swap.max").write_text("0")
                else:
                    (group.memory / "memory.limit_in_bytes").write_text(limit)
                    with contextlib.suppress(OSError):
                        (group.memory / "memory.memsw.limit_in_bytes").write_text(limit)
        except OSError:
            group.remove()
            raise
        return group

    def _mkdir(self, path: Path) -> Path:
        if path not in self.dirs:
            path.mkdir()
            self.dirs.append(path)
        return path

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def _counter(self, path: Path | None, file: str, key: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            for line in (path / file).read_text().splitlines() if path else []:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        return 0

    def pids_limit_hit(self) -> bool:
        return self._counter(self.pids, "pids.events", "max") > 0

    def oom_killed(self) -> bool:
        file = "memory.events" if self.version == 2 else "memory.oom_control"
        return self._counter(self.memory, file, "oom_kill") > 0

    def procs(self) -> list[int]:
        pids: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return sorted(pids)

    def remove(self) -> None:
        """Kill every process still in the cgroup, then remove it."""
        for d in self.dirs:
            with contextlib.suppress(OSError):
                (d / "cgroup.kill").write_text("1")  # v2, kernel 5.14+: atomic
        kill_until_gone(self.procs, KILL_GRACE_S)
        for d in self.dirs:
            deadline = time.monotonic() + KILL_GRACE_S
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last tasks exit
                    if time.monotonic() > deadline:
                        log.warning("sandbox: could not remove cgroup %s", d)
                        break
                    time.sleep(0.01)
        self.dirs.clear()
