"""Run untrusted, model-written Python (HumanEval, MBPP) in a throw-away sandbox.

Each program runs as ``main.py`` in its own process tree, under layered isolation. The parent
(``_sandbox_host``) starts a bootstrap (``_sandbox_boot``) in a new session; the bootstrap builds
the sandbox and execs the same interpreter (``sys.executable -s -B -c RUNNER``, which runs
``main.py`` as ``__main__``). A run is ``passed`` only when it exits 0 *and* ``main.py`` ran to its
last statement: the runner then writes back a per-run token that init gave it on a pipe it
cannot read again (see ``_sandbox_boot``), so ``sys.exit(0)``, ``os._exit(0)``, atexit hooks and
signal handlers before the tests are failures. Mechanisms, strongest first, and what takes over
when one is unavailable:

1. **seccomp** (``_sandbox_seccomp``; libseccomp through ctypes): an allow-list of the syscalls
   CPython needs, default EPERM. No ``socket()`` at all (so no host Unix socket is reachable by
   path), ``socketpair`` only ``AF_UNIX``/``SOCK_STREAM``, ``clone`` only without namespace
   flags, ``clone3`` ENOSYS, no ``unshare``/``setns``/``mount``/``ptrace``/``bpf``/``io_uring``/
   ``userfaultfd``/``keyctl``/``perf_event_open``.
   *No fallback*: without libseccomp (or a kernel that refuses the filter) the run fails closed
   (status ``error``), and ``isolation()`` says why.
2. **Namespaces** (``unshare(2)`` through ctypes: ``os.unshare`` is 3.12+). As root directly; as
   another user inside a user namespace of its own (our uid mapped to itself). A new *network*
   namespace: no interfaces at all, not even loopback. A new *pid* namespace: the program's init
   is pid 1; when it exits, or its parent is killed (``PR_SET_PDEATHSIG``), the kernel kills
   every process left, ``setsid`` or not. A new *mount* namespace: a fresh ``/proc`` (no host
   process is visible), every mount read-only except /proc, /sys and /dev, an empty read-only
   tmpfs over ``/run`` (and ``/var/run``: the host's sockets and lock files), private size-capped
   tmpfs for the work dir and for the world-writable dirs (``/tmp``, ``/var/tmp``, ``/dev/shm``,
   ...) so nothing reaches the host disk, and a closed dir holding the interpreter (``/root``
   for pyenv) covered by an empty tmpfs with only the interpreter bound back, read-only. New
   IPC and UTS namespaces too.
   *Fallback* (no CAP_SYS_ADMIN and no user namespaces, e.g. a default Docker container): an
   audit hook in the program's interpreter refuses internet sockets, DNS, ctypes and exec (weak:
   native code can bypass it); the work dir is a host temp dir owned by the sandbox uid; the
   world-writable dirs stay writable.
3. **A sandbox uid** (root only): one uid per concurrent run out of ``2000000000 + [0, 1024)``,
   held with ``flock`` across processes; supplementary groups dropped, ``no_new_privs`` set.
   Linux ignores RLIMIT_NPROC for root, so this is what makes the process limit bite for root;
   it also keeps the parent's files, the repo and ``/proc/<pid>/environ`` out of reach.
   *Fallback* (not root; or no mount namespace and an interpreter other uids cannot reach): the
   program keeps the current uid. As root with neither a sandbox uid nor a pids cgroup nothing
   would stop a fork bomb, so the run fails closed (status ``error``).
4. **A cgroup per run** (v2 when the pids controller is delegated to our cgroup, else v1):
   ``pids.max`` and a memory limit over all of the run's processes; the cleanup kills by cgroup.
   *Fallback*: per-process rlimits only (a forked memory bomb can reach ``max_processes`` times
   ``memory_mb``).
5. **rlimits**, always: CPU seconds (rounded up; SIGXCPU), address space (``memory_mb``: an
   allocation past it raises MemoryError), file size, open files, no core dumps; RLIMIT_NPROC
   (processes and threads) of the sandbox uid, or of our own uid (its other processes count).
6. **The parent** enforces the wall time with a monotonic clock, reads stdout and stderr with a
   size cap (the tail is kept), builds the environment from scratch (no inherited secrets;
   ``PYTHONHASHSEED=0``), and at the end SIGKILLs the session, whatever is left in the cgroup
   and every process of the run's uid, then removes the cgroup and the work dir.

``isolation()`` reports which of these are in force, from a real probe run.
"""

from __future__ import annotations

import functools
import os
import re
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from agimeter.scoring import _sandbox_host as host
from agimeter.scoring._sandbox_cgroup import cgroup_roots
from agimeter.scoring._sandbox_host import SandboxLimits as SandboxLimits  # the public name is here

__all__ = ["JUDGE_VERSION", "ExecResult", "SandboxLimits", "isolation", "run_many", "run_program"]

Status = Literal["passed", "failed", "timeout", "error"]

# How a program's outcome is judged; part of the item cache key of code tasks, so results judged by
# an earlier sandbox are not reused. 2: a pass needs the per-run marker written after the last
# statement (before: exit status 0 alone, which sys.exit(0) could forge).
JUDGE_VERSION = "2"


class ExecResult(BaseModel):
    """How one program ended.

    ``passed``: exit 0 within the limits after the last statement ran (the pass marker).
    ``failed``: a non-zero exit (an exception, a failed assert), or exit 0 before the end.
    ``timeout``: the wall-time or CPU-time limit. ``error``: a memory, process or file
    limit, a fatal signal, or a sandbox that could not be set up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Status
    returncode: int | None  # negative: killed by that signal; None: no exit status (wall-time kill, setup failure)
    wall_s: float
    stdout: str
    stderr: str
    reason: str


def run_program(code: str, limits: SandboxLimits | None = None) -> ExecResult:
    """Run ``code`` as ``main.py`` in a fresh sandbox and say how it ended."""
    return _run(code, limits or SandboxLimits())


def run_many(
    programs: Sequence[str],
    limits: SandboxLimits | None = None,
    workers: int | None = None,
    on_result: Callable[[int, ExecResult], None] | None = None,
) -> list[ExecResult]:
    """Run every program, ``workers`` at a time (default: one per core); results in input order.
    ``on_result(index, result)`` is called in the calling thread as each one finishes."""
    limits = limits or SandboxLimits()
    results: list[ExecResult | None] = [None] * len(programs)
    with ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1)) as pool:
        futures = {pool.submit(_run, code, limits): i for i, code in enumerate(programs)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = result = future.result()
            if on_result is not None:
                on_result(i, result)
    return [r for r in results if r is not None]


@functools.cache
def isolation() -> dict[str, bool | int | str]:
    """Which mechanisms are in force on this machine, from one real probe run (cached)."""
    limits = SandboxLimits()
    raw = host.execute("pass\n", limits)
    setup = next((e for e in raw.events if e.get("event") == "setup"), {})
    status, _, reason = _classify(raw, limits)
    filtered: dict[str, Any] = setup.get("seccomp") or {}
    roots = cgroup_roots() if raw.cgroup else None
    netns, mountns, pidns = (bool(setup.get(k)) for k in ("net_namespace", "mount_namespace", "pid_namespace"))
    uid_drop = setup.get("uid") is not None
    nproc = uid_drop or os.geteuid() != 0
    nproc_name = "RLIMIT_NPROC" if uid_drop else "RLIMIT_NPROC (of our own uid)"
    limiters = [name for name, on in (("cgroup pids.max", roots and roots.pids), (nproc_name, nproc)) if on]
    if mountns:
        filesystem = "read-only mounts; /run hidden; private tmpfs work dir, /tmp, /var/tmp and /dev/shm"
    elif uid_drop:
        filesystem = "host temp dir owned by the sandbox uid (weaker: /tmp and other world-writable dirs stay writable)"
    else:
        filesystem = "host temp dir as the current user (weak: it can write wherever this user can)"
    first = host.SANDBOX_UID_BASE
    return {
        "probe": "ok" if status == "passed" else f"error: {reason}",
        "seccomp": bool(filtered),
        "seccomp_default": str(filtered.get("default", "")),
        "seccomp_syscalls": int(filtered.get("syscalls", 0)),
        "seccomp_note": f"libseccomp {filtered['libseccomp']}" if filtered else str(setup.get("seccomp_error", "")),
        "pass_marker": "per-run token from init, written after the program's last statement",
        "network": "network namespace (no interfaces)" if netns else "audit hook (weak: native code can bypass it)",
        "net_namespace": netns,
        "pid_namespace": pidns,
        "mount_namespace": mountns,
        "ipc_namespace": mountns,  # unshared together
        "user_namespace": bool(setup.get("user_namespace")),
        "filesystem": filesystem,
        "writable_mounts": ", ".join(setup.get("writable_mounts", [])),
        "uid_drop": uid_drop,
        "sandbox_uids": f"{first}-{first + host.SANDBOX_UID_SLOTS - 1}" if uid_drop else "",
        "uid_note": str(setup.get("uid_note", setup.get("namespace_error", ""))),
        "cgroup": f"v{roots.version}" if roots else "none",
        "cgroup_pids": bool(roots and roots.pids),
        "cgroup_memory": bool(roots and roots.memory),
        "rlimits": True,
        "rlimit_nproc": nproc,
        "no_new_privs": True,
        "process_limit": " + ".join(limiters) if limiters else "none (weak: only the wall-time kill stops a fork bomb)",
        "env": "built from scratch",
    }


def _run(code: str, limits: SandboxLimits, disable: frozenset[str] = frozenset()) -> ExecResult:
    raw = host.execute(code, limits, disable)
    status, returncode, reason = _classify(raw, limits)
    stdout = raw.stdout.decode("utf-8", errors="replace")
    stderr = raw.stderr.decode("utf-8", errors="replace")
    return ExecResult(
        status=status, returncode=returncode, wall_s=round(raw.wall_s, 4), stdout=stdout, stderr=stderr, reason=reason
    )


_TRACEBACK = "Traceback (most recent call last):"
_EXC_NAME = re.compile(r"[A-Za-z_][\w.]*")
_EXC_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)(: .*)?")


def _exception_line(stderr: str) -> str:
    """The ``Type: message`` line of the last complete traceback in ``stderr`` (or, for errors
    reported without one, such as a SyntaxError in ``main.py``, the last such line), or ''."""
    found, in_traceback = "", False
    for line in stderr.splitlines():
        if line.startswith(_TRACEBACK):
            in_traceback = True
        elif line and not line[0].isspace() and (in_traceback or _EXC_LINE.fullmatch(line)):
            found, in_traceback = line, False
    return found


def _classify(raw: host.RawRun, limits: SandboxLimits) -> tuple[Status, int | None, str]:
    if raw.timed_out:
        return "timeout", None, f"wall-time limit {limits.wall_s:g} s"
    events = {e.get("event"): e for e in raw.events}
    if "error" in events:
        e = events["error"]
        return "error", None, f"sandbox setup failed ({e.get('stage')}): {e.get('error')}"
    if "exit" not in events:
        died = events.get("init_died", {}).get("signal")
        return "error", None, f"sandbox init died (signal {died})" if died else "no exit status from the sandbox"
    end = events["exit"]
    sig, returncode, cpu_s = end.get("signal"), end.get("returncode"), float(end.get("cpu_s", 0.0))
    if sig is not None:
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_s >= limits.cpu_s):
            return "timeout", -sig, f"cpu-time limit {limits.cpu_s:g} s"
        if sig == signal.SIGKILL:
            memory = f"memory limit {limits.memory_mb} MB" if raw.oom_killed else "memory?"
            return "error", -sig, f"killed by SIGKILL ({memory})"
        if sig == signal.SIGXFSZ:
            return "error", -sig, f"file-size limit {limits.max_file_mb} MB"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return "error", -sig, f"killed by {name}"
    if returncode == 0:
        if end.get("finished"):
            return "passed", 0, "exit 0"
        return "failed", 0, "exit 0, but it exited before the tests finished (no pass marker)"
    line = _exception_line(raw.stderr.decode("utf-8", errors="replace"))
    match = _EXC_NAME.match(line)
    exc = match.group(0) if match else ""
    reason = f"exit {returncode}: {exc}" if exc else f"exit {returncode}"
    if exc == "MemoryError":
        return "error", returncode, f"{reason} (memory limit {limits.memory_mb} MB)"
    if raw.pids_limit_hit or (exc == "BlockingIOError" and "[Errno 11]" in line):
        return "error", returncode, f"{reason} (process limit {limits.max_processes})"
    if "[Errno 27]" in line or "[Errno 28]" in line:  # EFBIG, ENOSPC: Python ignores SIGXFSZ
        return "error", returncode, f"{reason} (file-size limit {limits.max_file_mb} MB)"
    return "failed", returncode, reason
