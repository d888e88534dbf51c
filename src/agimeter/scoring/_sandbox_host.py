"""Parent side of the code sandbox: sandbox uids, per-run cgroups, the runner and the cleanup.

Nothing here trusts the child: output is read with a size cap, every wait has a monotonic
deadline, and the cleanup kills by process group, by cgroup and by uid before the work dir goes.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import json
import logging
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agimeter.scoring._sandbox_boot import PROGRAM, BootSpec
from agimeter.scoring._sandbox_cgroup import KILL_GRACE_S, RunCgroup, cgroup_roots, kill_until_gone
from agimeter.scoring._sandbox_seccomp import LIBSECCOMP


class SandboxLimits(BaseModel):
    """Resource limits of one program; the defaults suit HumanEval and MBPP."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_s: float = Field(default=10.0, gt=0)
    cpu_s: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=1024, ge=32)  # address space per process, and the run's cgroup total
    max_processes: int = Field(default=64, ge=1)  # processes and threads of the run
    max_output_bytes: int = Field(default=65536, ge=0)  # per stream; the tail is kept
    max_file_mb: int = Field(default=16, ge=1)  # per file; each private tmpfs holds 4x this


log = logging.getLogger(__name__)

BOOT = Path(__file__).with_name("_sandbox_boot.py")
# Sandbox uids lie in 0x70000000-0x7FFDFFFF, which no systemd range claims (systemd.io/UIDS-GIDS);
# one uid per concurrent run, so RLIMIT_NPROC and the kill-by-uid sweep see only that run's processes.
SANDBOX_UID_BASE = 2_000_000_000
SANDBOX_UID_SLOTS = 1024

# -- sandbox uids -------------------------------------------------------------------------------


@functools.cache
def _lock_dir() -> Path:
    """A root-only dir of per-uid lock files, shared by every agimeter process on the machine."""
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    path = base / f"agimeter-sandbox-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        path = Path(tempfile.mkdtemp(prefix="agimeter-sandbox-locks-"))  # someone else's: locks per process
    return path


@contextlib.contextmanager
def uid_slot(enabled: bool) -> Iterator[int | None]:
    """A sandbox uid held (flock) for the duration of one run, or None when we cannot switch uids."""
    if not enabled or os.geteuid() != 0:
        yield None
        return
    start = os.getpid() % SANDBOX_UID_SLOTS
    for slot in itertools.chain(range(start, SANDBOX_UID_SLOTS), range(start)):
        fd = os.open(_lock_dir() / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        uid = SANDBOX_UID_BASE + slot
        try:
            kill_until_gone(functools.partial(pids_of_uids, uid, uid), KILL_GRACE_S)  # left by a parent that crashed
            yield uid
        finally:
            os.close(fd)
        return
    raise RuntimeError(f"all {SANDBOX_UID_SLOTS} sandbox uids are in use")


def pids_of_uids(first: int, last: int) -> list[int]:
    """Processes whose real, effective or saved uid lies in [first, last]."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                uids = next(line for line in f if line.startswith("Uid:")).split()[1:4]
        except (OSError, StopIteration):
            continue  # gone meanwhile
        if any(first <= int(u) <= last for u in uids):
            found.append(int(entry.name))
    return found


def _owner_alive(name: str) -> bool:
    """Whether the process whose pid is in ``agimeter-sandbox-<pid>-...`` still runs (or might)."""
    pid = name.split("-")[2]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


@functools.cache
def sweep_stale() -> None:
    """Remove what the runs of parents that were killed left behind: their cgroups (killing any
    process still in them) and work dirs. Once per process."""
    roots = cgroup_roots()
    if roots is not None:
        for root in (roots.pids, roots.memory):
            for stale in root.glob("agimeter-sandbox-*-*") if root else ():
                if not _owner_alive(stale.name):
                    RunCgroup(roots.version, dirs=[stale]).remove()
    for stale in Path(tempfile.gettempdir()).glob("agimeter-sandbox-*-*"):
        if not _owner_alive(stale.name):
            shutil.rmtree(stale, ignore_errors=True)


# -- the run ------------------------------------------------------------------------------------


def interpreter_dirs() -> list[str]:
    """Dirs the program's interpreter reads: its prefix, the venv, the real executable's dir."""
    dirs = {
        os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)))
    }
    return sorted(d for d in dirs if not any(d != o and d.startswith(o + "/") for o in dirs))


def program_env(workdir: str) -> dict[str, str]:
    """The program's whole environment, built from scratch: nothing of ours is inherited."""
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        # One thread per BLAS/OpenMP pool: threads count against the process limit, and run_many
        # already uses every core.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


@dataclass
class RawRun:
    """What one run left behind, before it is classified."""

    stdout: bytes
    stderr: bytes
    events: list[dict[str, Any]]
    timed_out: bool
    wall_s: float
    cgroup: bool = False
    pids_limit_hit: bool = False
    oom_killed: bool = False


class _Tail:
    """The last ``cap`` bytes of a stream."""

    def __init__(self, cap: int) -> None:
        self.cap, self.data = cap, bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.cap:
            del self.data[: len(self.data) - self.cap]


def _pump(
    sel: selectors.BaseSelector,
    sinks: dict[int, _Tail | bytearray],
    until: float,
    stop_fd: int | None,
    boot_pid: int | None = None,
) -> bool:
    """Read the registered pipes until ``stop_fd`` (or, when None, every pipe) reaches EOF, or
    ``boot_pid`` has exited and nothing is left to read; False when ``until`` (monotonic) came first."""
    while (stop_fd in sel.get_map()) if stop_fd is not None else sel.get_map():
        left = until - time.monotonic()
        if left <= 0:
            return False
        ready = sel.select(min(left, 0.1))
        # A fork of this process (not ours) can hold the status pipe open; boot's exit settles it.
        # WNOWAIT: boot stays unreaped, so its pid and process group cannot be reused meanwhile.
        if not ready and boot_pid is not None and os.waitid(os.P_PID, boot_pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            return True
        for key, _ in ready:
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(key.fd)
                continue
            sink = sinks[key.fd]
            if isinstance(sink, _Tail):
                sink.add(chunk)
            else:
                sink += chunk
    return True


def execute(code: str, limits: SandboxLimits, disable: frozenset[str] = frozenset()) -> RawRun:
    """Run ``code`` as ``main.py`` in a fresh sandbox; ``disable`` turns layers off (tests of the
    fallbacks): ``namespaces``, ``net_namespace``, ``cgroup``, ``uid``, and ``seccomp`` (a library
    that cannot be loaded: the run must fail closed)."""
    sweep_stale()
    roots = None if "cgroup" in disable else cgroup_roots()
    with uid_slot("uid" not in disable) as uid:
        workdir = tempfile.mkdtemp(prefix=f"agimeter-sandbox-{os.getpid()}-")
        group: RunCgroup | None = None
        proc: subprocess.Popen[bytes] | None = None
        try:
            with open(os.path.join(workdir, PROGRAM), "wb") as f:
                f.write(code.encode("utf-8", errors="replace"))
            os.chmod(os.path.join(workdir, PROGRAM), 0o644)
            if uid is not None:
                os.chown(workdir, uid, uid)  # used as is when there is no mount namespace
            if roots is not None:
                try:  # boot and init are in the cgroup too: two more tasks
                    group = RunCgroup.create(roots, limits.max_processes + 2, limits.memory_mb)
                except OSError as exc:
                    log.warning("sandbox: no cgroup for this run (%s)", exc)
            status_r, status_w = os.pipe()
            spec: BootSpec = {
                # The real interpreter binary, not a venv's symlink to it: the program needs only
                # the standard library, and a venv under /tmp would vanish behind the private /tmp.
                "python": os.path.realpath(sys.executable),
                "workdir": workdir,
                "env": program_env(workdir),
                "status_fd": status_w,
                "parent_pid": os.getpid(),
                "uid": uid,
                "cgroup_procs": group.procs_files if group else [],
                "pids_cgroup": group is not None and group.pids is not None,
                "expose": interpreter_dirs(),
                "namespaces": "namespaces" not in disable,
                "net_namespace": "net_namespace" not in disable,
                "libseccomp": "libseccomp-disabled-by-test.so" if "seccomp" in disable else LIBSECCOMP,
                "cpu_s": limits.cpu_s,
                "memory_mb": limits.memory_mb,
                "max_processes": limits.max_processes,
                "max_file_mb": limits.max_file_mb,
            }
            start = time.monotonic()
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(BOOT), json.dumps(spec)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    pass_fds=(status_w,),
                    start_new_session=True,
                    cwd="/",
                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                )
            finally:
                os.close(status_w)
            assert proc.stdout is not None and proc.stderr is not None
            out, err, status = _Tail(limits.max_output_bytes), _Tail(limits.max_output_bytes), bytearray()
            sinks: dict[int, _Tail | bytearray] = {
                proc.stdout.fileno(): out,
                proc.stderr.fileno(): err,
                status_r: status,
            }
            with selectors.DefaultSelector() as sel:
                for fd in sinks:
                    os.set_blocking(fd, False)
                    sel.register(fd, selectors.EVENT_READ)
                finished = _pump(sel, sinks, start + limits.wall_s, stop_fd=status_r, boot_pid=proc.pid)
                wall_s = time.monotonic() - start
                _kill_all(proc, group, uid)
                if status_r in sel.get_map():  # boot is gone; whatever holds the pipe now is not ours
                    with contextlib.suppress(BlockingIOError):
                        while chunk := os.read(status_r, 65536):
                            status += chunk
                    sel.unregister(status_r)
                if not _pump(sel, sinks, time.monotonic() + KILL_GRACE_S, stop_fd=None):
                    log.warning("sandbox: output pipes still open after the kill; closing them")
            os.close(status_r)
            events = []
            for line in status.decode(errors="replace").splitlines():
                with contextlib.suppress(ValueError):  # a line cut short by the kill
                    events.append(json.loads(line))
            raw = RawRun(bytes(out.data), bytes(err.data), events, not finished, wall_s, cgroup=group is not None)
            if group is not None:
                raw.pids_limit_hit, raw.oom_killed = group.pids_limit_hit(), group.oom_killed()
            return raw
        finally:
            _kill_all(proc, group, uid)
            if proc is not None:
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
            if group is not None:
                group.remove()
            shutil.rmtree(workdir, ignore_errors=True)


def _kill_all(proc: subprocess.Popen[bytes] | None, group: RunCgroup | None, uid: int | None) -> None:
    """SIGKILL the run's session (boot, and init with it: its death signal takes the whole pid
    namespace down), then anything left in its cgroup or running as its uid."""
    if proc is None:
        return
    if proc.returncode is None:  # once reaped, its pid (and group id) may belong to someone else
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        log.warning("sandbox: boot process %d did not exit after SIGKILL", proc.pid)
    if group is not None:
        kill_until_gone(group.procs, KILL_GRACE_S)
    if uid is not None:
        kill_until_gone(functools.partial(pids_of_uids, uid, uid), KILL_GRACE_S)
