"""Child-side bootstrap of the code sandbox: run as ``python -I -S _sandbox_boot.py SPEC_JSON``.

Only the standard library is imported (``-I`` keeps the package off ``sys.path``). Three processes:

* **boot** (started by the parent in a new session, as root or as the parent's user): joins the
  run's cgroups, unshares the namespaces, forks *init* and waits for it.
* **init** (pid 1 of the new pid namespace): builds the mount namespace and the seccomp filter,
  makes the run's pass token, forks the program and waits for it, then reports its exit status,
  and whether the program wrote the token back, on the status pipe. When init exits, the kernel
  kills everything left in the pid namespace; ``PR_SET_PDEATHSIG`` kills init when boot dies.
* **program**: sets the rlimits, drops to the sandbox uid, sets ``no_new_privs``, closes every
  other descriptor, loads the seccomp filter and execs the interpreter on ``RUNNER``, which runs
  ``main.py`` in the work dir.

**The pass marker.** Exit status alone cannot tell a program whose tests all ran from one that
called ``sys.exit(0)``, ``os._exit(0)`` or an atexit hook before them. Init makes a random token
per run and hands it to the program on a pipe (fd 3) that ``RUNNER`` reads empty and closes
before any of ``main.py`` runs; once the last statement of ``main.py`` has run without an
exception, in the program's own process, ``RUNNER`` writes the token to a second pipe (fd 4,
write-only for the program). Init reads that pipe after the program's exit and reports
``finished`` only for exactly the token. The token is never in the source, argv, the
environment, a file, or a descriptor the program can read, and init is not dumpable (no
``/proc/1/mem``; ptrace is refused by seccomp). What remains: the token is a local of
``RUNNER``'s frame while ``main.py`` runs, so code that deliberately inspects its own
interpreter (``sys._getframe``, ``gc``, ctypes on its own memory) can find it, as it can rewrite
the tests' frames; only running the tests in a process the candidate's code does not run in
would close that, which is not how HumanEval and MBPP tests work (they call the candidate's
functions in its namespace).

Events go to the status pipe as JSON lines: ``setup`` (which layers are in force), ``init``,
``exit`` (returncode or signal, CPU seconds, ``finished``) and ``error`` (a setup step failed:
fail closed).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import re
import resource
import signal
import stat
import sys
import types
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING or __package__:
    from agimeter.scoring import _sandbox_seccomp as seccomp
else:  # run as a script with -I -S: the package is not importable, but its sibling file is
    seccomp = sys.modules["_sandbox_seccomp"] = types.ModuleType("_sandbox_seccomp")
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_seccomp.py"), "rb") as _f:
        exec(compile(_f.read(), _f.name, "exec"), seccomp.__dict__)  # importlib.util: 4 ms more per run

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38

# Directories any uid may write to on a stock Linux; those that are (mode o+w) get a private,
# size-capped tmpfs, everything else is read-only.
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run/lock", "/var/lock")
# Runtime state of the host (its Unix sockets: D-Bus, systemd, databases; our lock dir): hidden
# behind an empty read-only tmpfs. seccomp already refuses socket(); this hides the rest.
HIDDEN = ("/run", "/var/run")
PROGRAM = "main.py"
TOKEN_FD, MARKER_FD = 3, 4  # in the program: the token pipe's read end, the marker pipe's write end

# What the interpreter runs (``python -s -B -c RUNNER``): read the token, run main.py as
# ``__main__``, and write the token back only when its last statement has run, in this process.
RUNNER = f"""\
def _agimeter_run():
    import os, sys, types
    getpid, write = os.getpid, os.write  # bound before main.py could replace them
    runner = sys.modules["__main__"]  # keeps our own module alive once main.py's takes its place
    token = os.read({TOKEN_FD}, 64)
    os.close({TOKEN_FD})
    os.set_inheritable({MARKER_FD}, False)
    pid = getpid()
    with open("{PROGRAM}", "rb") as f:
        code = compile(f.read(), "{PROGRAM}", "exec")
    module = types.ModuleType("__main__")
    module.__file__ = "{PROGRAM}"
    sys.modules["__main__"] = module
    sys.argv[:] = ["{PROGRAM}"]
    sys.path[0] = os.getcwd()
    exec(code, module.__dict__)
    if getpid() == pid:
        write({MARKER_FD}, token)
_agimeter_run()
"""
# The fallback when there is no network namespace: an audit hook in the program's interpreter
# refuses internet sockets, name lookups, ctypes and spawning other executables, before RUNNER.
# Native code can bypass it, so isolation() reports it as weak (seccomp refuses sockets anyway).
NETWORK_GUARD = """\
import sys
def _agimeter_guard(event, args, _block=frozenset({
        "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.gethostbyname_ex",
        "ctypes.dlopen", "ctypes.dlsym", "os.exec", "os.posix_spawn", "os.system", "subprocess.Popen"})):
    if (event == "socket.__new__" and args[1] not in (1, 16)) or event in _block:
        raise PermissionError(f"{event} is blocked in the agimeter sandbox (no network namespace)")
sys.addaudithook(_agimeter_guard)
del _agimeter_guard
"""


class BootSpec(TypedDict):
    """What the parent asks for (``_sandbox_host.execute`` passes it as JSON in ``argv[1]``)."""

    python: str
    workdir: str
    env: dict[str, str]
    status_fd: int
    parent_pid: int
    uid: int | None  # None: stay as the current user (not root, or no usable uid)
    cgroup_procs: list[str]  # cgroup.procs files to join before anything else
    pids_cgroup: bool  # one of them has pids.max
    expose: list[str]  # interpreter dirs the sandbox uid must be able to read
    namespaces: bool
    net_namespace: bool
    libseccomp: str  # the library to load (a name that does not exist: tests of the fail-closed path)
    cpu_s: float
    memory_mb: int
    max_processes: int
    max_file_mb: int


_libc: Any = None


def _c(name: str, *args: int | bytes | None) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    converted = [ctypes.c_ulong(a) if isinstance(a, int) else ctypes.c_char_p(a) for a in args]
    if _libc[name](*converted) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{tuple(a for a in args if a is not None)}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _c("mount", enc(source), enc(target), enc(fstype), flags, enc(data))


def _emit(fd: int, **event: Any) -> None:
    os.write(fd, (json.dumps(event) + "\n").encode())


def _reachable(path: str) -> bool:
    """Whether every directory on the way to ``path`` can be traversed by an arbitrary uid."""
    parts = os.path.realpath(path).split("/")
    for i in range(2, len(parts) + 1):
        mode = os.stat("/".join(parts[:i]) or "/").st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    return True


def _read_only_everywhere() -> list[str]:
    """Remount every mount read-only but the kernel's (/proc, /sys, /dev); the mounts that
    refused. Their nosuid/nodev/noexec/atime flags are kept: a user namespace may not drop them."""
    flag_of = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024, "relatime": 1 << 21}
    refused = []
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    for fields in mounts:
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if any(point == k or point.startswith(k + "/") for k in ("/proc", "/sys", "/dev")):
            continue
        flags = sum(flag_of.get(option, 0) for option in fields[5].split(","))
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            if point == "/":
                raise
            refused.append(point)
    return refused


def _bind_back(real: str, fd: int, hardening: int) -> None:
    """Bind a dir kept open (``O_PATH``) back at its path, read-only, after a tmpfs covered it."""
    os.makedirs(real, mode=0o755, exist_ok=True)
    _mount(f"/proc/self/fd/{fd}", real, None, MS_BIND | MS_REC)
    _mount(None, real, None, MS_REMOUNT | MS_BIND | MS_RDONLY | hardening)
    os.close(fd)


def _cover(path: str, expose: list[str], hardening: int, options: str, read_only: bool = False) -> None:
    """Cover ``path`` with a private tmpfs; interpreter dirs under it (e.g. a Python installed in
    /tmp) are bound back read-only."""
    inside = [os.path.realpath(p) for p in expose]
    inside = [p for p in inside if p.startswith(path.rstrip("/") + "/") and os.path.isdir(p)]
    kept = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in inside]
    _mount("tmpfs", path, "tmpfs", hardening, options)
    for real, fd in kept:
        _bind_back(real, fd, hardening)
    if read_only:
        _mount(None, path, None, MS_REMOUNT | MS_RDONLY | hardening)


def _build_mounts(spec: BootSpec, code: bytes) -> list[str]:
    """In the new mount namespace: fresh /proc, every mount read-only, an empty tmpfs over /run,
    tmpfs for every world-writable dir and for the work dir, and the interpreter re-exposed when
    it lives under a closed dir. Returns the mounts that could not be made read-only."""
    tmpfs_mb = 4 * spec["max_file_mb"]
    hardening = MS_NOSUID | MS_NODEV
    _mount("proc", "/proc", "proc", hardening | MS_NOEXEC)
    # Closed ancestors (e.g. /root for a pyenv interpreter) are replaced by an empty tmpfs in
    # which only the interpreter's dirs are bind-mounted back; open descriptors survive the cover.
    closed: dict[str, list[tuple[str, int]]] = {}
    for path in spec["expose"]:
        real = os.path.realpath(path)
        parts = real.split("/")
        for i in range(2, len(parts) + 1):
            top = "/".join(parts[:i])
            if not os.stat(top).st_mode & stat.S_IXOTH:
                closed.setdefault(top, []).append((real, os.open(real, os.O_PATH | os.O_DIRECTORY)))
                break
    refused = _read_only_everywhere()
    for top, keep in closed.items():
        _mount("tmpfs", top, "tmpfs", hardening, "size=1m,mode=0755")
        for real, fd in keep:
            _bind_back(real, fd, hardening)
        _mount(None, top, None, MS_REMOUNT | MS_RDONLY | hardening)
    for path in HIDDEN:  # first: /run/lock, a world-writable dir under it, goes with it
        if os.path.isdir(path) and not os.path.islink(path):
            _cover(path, spec["expose"], hardening | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755", read_only=True)
    for path in WORLD_WRITABLE:
        if os.path.isdir(path) and not os.path.islink(path) and os.stat(path).st_mode & stat.S_IWOTH:
            _cover(path, spec["expose"], hardening, f"size={tmpfs_mb}m,nr_inodes=4096,mode=1777")
    workdir, uid = spec["workdir"], spec["uid"] if spec["uid"] is not None else os.getuid()
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    _mount("tmpfs", workdir, "tmpfs", hardening, f"size={tmpfs_mb}m,nr_inodes=4096,mode=0700,uid={uid},gid={uid}")
    program = os.path.join(workdir, PROGRAM)
    with open(program, "wb") as f:
        f.write(code)
    os.chmod(program, 0o644)
    return refused


def _map_own_ids(uid: int, gid: int) -> None:
    """In a fresh user namespace, map our own uid and gid to themselves (nothing else exists)."""
    for file, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{file}", "w") as f:
            f.write(text)


def _tasks_of_uid(uid: int) -> int:
    """Processes and threads running as ``uid`` (what RLIMIT_NPROC counts)."""
    tasks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[0]) == uid:
            tasks += int(fields["Threads"])
    return tasks


def _set_limits(spec: BootSpec, drop_uid: bool) -> None:
    cpu = max(1, int(-(-spec["cpu_s"] // 1)))  # whole seconds, rounded up
    memory = spec["memory_mb"] * 1024 * 1024
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (memory, memory),
        resource.RLIMIT_FSIZE: (spec["max_file_mb"] * 1024 * 1024,) * 2,
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_NOFILE: (1024, 1024),
    }
    if drop_uid:  # counts every task of the uid; ignored for root, so only after a drop
        limits[resource.RLIMIT_NPROC] = (spec["max_processes"], spec["max_processes"])
    elif os.geteuid() != 0:  # not root: the user's other tasks count too
        nproc = _tasks_of_uid(os.getuid()) + spec["max_processes"]
        limits[resource.RLIMIT_NPROC] = (nproc, nproc)
    for which, value in limits.items():
        resource.setrlimit(which, value)


def _arrange_fds(status_fd: int, token_r: int, marker_w: int) -> int:
    """Leave 0-2, the token pipe at TOKEN_FD and the marker pipe at MARKER_FD (both inherited by
    the exec), and the status pipe (closed by the exec) at the fd returned; close the rest."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, MARKER_FD + 1) for fd in (status_fd, token_r, marker_w)]
    os.dup2(high[1], TOKEN_FD)
    os.dup2(high[2], MARKER_FD)
    os.closerange(MARKER_FD + 1, high[0])
    os.closerange(high[0] + 1, 65536)
    return high[0]


def _program(spec: BootSpec, status_fd: int, pipes: tuple[int, int], guard: bool, flt: seccomp.Filter) -> None:
    """Runs in the forked program process; never returns."""
    try:
        _c("prctl", PR_SET_DUMPABLE, 1, 0, 0, 0)  # init is not; our own /proc/self must be ours
        os.chdir(spec["workdir"])
        uid = spec["uid"]
        _set_limits(spec, uid is not None)
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")  # under memory pressure, the sandbox goes first
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _c("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # a uid change cleared it
        _c("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        status_fd = _arrange_fds(status_fd, *pipes)
        argv = [spec["python"], "-s", "-B", "-c", (NETWORK_GUARD if guard else "") + RUNNER]
        flt.load()  # last: from here on only the allow-list, execve included
        os.execve(spec["python"], argv, spec["env"])
    except BaseException as exc:
        _emit(status_fd, event="error", stage="program", error=f"{type(exc).__name__}: {exc}")
    os._exit(127)


def _read_marker(fd: int) -> bytes:
    """What the program wrote to the marker pipe (without waiting: a child may hold it open)."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return b""


def _init(spec: BootSpec, status_fd: int, code: bytes, setup: dict[str, Any], boot_pid: int) -> None:
    """Runs in the forked init process; never returns."""
    try:
        _c("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # Not dumpable: a program running as our uid cannot read our memory (the token) via /proc.
        _c("prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)
        if not setup["pid_namespace"] and os.getppid() != boot_pid:
            os._exit(0)  # boot died before the death signal was armed
        os.umask(0o022)
        if setup["mount_namespace"]:
            setup["writable_mounts"] = _build_mounts(spec, code)
        try:
            flt = seccomp.build(spec["libseccomp"])
        except seccomp.SeccompUnavailable as exc:
            # Without the filter host sockets and nested namespaces would be open: fail closed.
            _emit(status_fd, event="setup", **setup, seccomp=None, seccomp_error=str(exc))
            raise PermissionError(f"seccomp unavailable: {exc}") from None
        _emit(status_fd, event="setup", **setup, seccomp=flt.summary())
        token = os.urandom(32).hex().encode()
        token_r, token_w = os.pipe()
        marker_r, marker_w = os.pipe()
        os.write(token_w, token)
        os.close(token_w)
        child = os.fork()
        if child == 0:
            os.close(marker_r)
            _program(spec, status_fd, (token_r, marker_w), not setup["net_namespace"], flt)
        os.close(token_r)
        os.close(marker_w)
        while True:  # as pid 1 we also reap orphans
            pid, status, usage = os.wait4(-1, 0)
            if pid == child:
                break
        finished = _read_marker(marker_r) == token  # (no timing attack: compared once, after the exit)
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        returncode = os.WEXITSTATUS(status) if sig is None else None
        cpu_s = usage.ru_utime + usage.ru_stime
        _emit(status_fd, event="exit", returncode=returncode, signal=sig, cpu_s=cpu_s, finished=finished)
    except BaseException as exc:
        _emit(status_fd, event="error", stage="init", error=f"{type(exc).__name__}: {exc}")
    os._exit(0)


def main(argv: list[str]) -> int:
    spec: BootSpec = json.loads(argv[1])
    status_fd = spec["status_fd"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Dies with the parent (strictly: the parent's thread that started us, which waits for us), and
    # init with us, and the pid namespace with init: a killed parent leaves nothing running.
    _c("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != spec["parent_pid"]:
        return 0
    try:
        for procs in spec["cgroup_procs"]:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        uid = spec["uid"]
        setup: dict[str, Any] = {"uid": uid, "net_namespace": False, "mount_namespace": False, "pid_namespace": False}
        if spec["namespaces"]:
            flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
            flags |= CLONE_NEWNET if spec["net_namespace"] else 0
            user_ns = os.geteuid() != 0  # not root: the other namespaces need a user namespace of our own
            outside = os.getuid(), os.getgid()  # inside, these read as overflow ids until mapped
            try:
                _c("unshare", flags | (CLONE_NEWUSER if user_ns else 0))
                if user_ns:
                    _map_own_ids(*outside)
            except OSError as exc:  # no CAP_SYS_ADMIN (an unprivileged container), no user namespaces
                setup["namespace_error"] = str(exc)
            else:
                setup["user_namespace"] = user_ns
                _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates to the host
                setup.update(mount_namespace=True, pid_namespace=True, net_namespace=spec["net_namespace"])
        if not setup["mount_namespace"] and uid is not None and not all(_reachable(p) for p in spec["expose"]):
            uid = spec["uid"] = None  # the interpreter is out of reach of any other uid: stay root
            setup.update(uid=None, uid_note="interpreter not reachable by the sandbox uid")
        if uid is None and os.geteuid() == 0 and not spec["pids_cgroup"]:
            # Linux ignores RLIMIT_NPROC for root: nothing would stop a fork bomb. Fail closed.
            raise PermissionError("no process limit: root without a sandbox uid or a pids cgroup")
        with open(os.path.join(spec["workdir"], PROGRAM), "rb") as f:
            code = f.read()
    except BaseException as exc:
        _emit(status_fd, event="error", stage="boot", error=f"{type(exc).__name__}: {exc}")
        return 0
    boot_pid = os.getpid()
    init = os.fork()
    if init == 0:
        _init(spec, status_fd, code, setup, boot_pid)
    _emit(status_fd, event="init", pid=init)
    _, status = os.waitpid(init, 0)
    if os.WIFSIGNALED(status):
        _emit(status_fd, event="init_died", signal=os.WTERMSIG(status))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
