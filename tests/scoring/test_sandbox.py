"""The code sandbox, against real attacks: no mocks of the isolation. Each containment test also
checks that the machine is fine afterwards (no process of the run's uid, no cgroup, no work dir)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.scoring import _sandbox_host as host
from agimeter.scoring._sandbox_cgroup import cgroup_roots
from agimeter.scoring.sandbox import ExecResult, SandboxLimits, _run, isolation, run_many, run_program

REPO = Path(__file__).resolve().parents[2]
Serve = Callable[[socket.socket], list[bytes]]  # the fixture of conftest.py
ISO = isolation()
FAST = SandboxLimits(wall_s=2.0, cpu_s=2.0)


def needs(*keys: str) -> pytest.MarkDecorator:
    missing = [k for k in keys if not ISO[k]]
    return pytest.mark.skipif(bool(missing), reason=f"not available on this machine: {missing}; isolation()={ISO}")


def sandbox_uid(result: ExecResult) -> int:
    """The uid a program printed on its first stdout line (``print(os.getuid(), flush=True)``)."""
    return int(result.stdout.split()[0])


def assert_clean(uid: int | None = None, workdir: str | None = None) -> None:
    """Nothing of the run is left: processes of its uid, its cgroups, its work dir."""
    if uid is not None:
        assert host.pids_of_uids(uid, uid) == [], f"processes of sandbox uid {uid} survived"
    roots = cgroup_roots()
    for root in (roots.pids, roots.memory) if roots else ():
        assert root is None or list(root.glob(f"agimeter-sandbox-{os.getpid()}-*")) == []
    if workdir is not None:
        assert not os.path.exists(workdir)
    assert run_program("print('still fine')").status == "passed"


def test_isolation_reports_every_mechanism() -> None:
    assert ISO["probe"] == "ok"
    for key in ("net_namespace", "pid_namespace", "mount_namespace", "uid_drop", "cgroup_pids", "rlimits"):
        assert isinstance(ISO[key], bool)
    assert ISO["network"] == ("network namespace (no interfaces)" if ISO["net_namespace"] else ISO["network"])
    if os.geteuid() == 0:  # as root, the uid drop works on any Linux
        assert ISO["uid_drop"] is True and ISO["rlimit_nproc"] is True
    assert isolation() is ISO  # cached


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs without RLIMIT_NPROC")
def test_fails_closed_when_nothing_would_limit_processes() -> None:
    """As root with the sandbox uid, the cgroup and the namespaces forced off, a fork bomb could
    not be stopped: the run must refuse to start."""
    result = _run("print('ran')", SandboxLimits(), disable=frozenset({"namespaces", "cgroup", "uid"}))
    assert result.status == "error" and result.stdout == ""
    assert result.reason.startswith("sandbox setup failed (boot): PermissionError: no process limit")


def test_correct_solution_passes_wrong_one_fails() -> None:
    prompt = "def add(a, b):\n"
    tests = "\ndef check(f):\n    assert f(2, 3) == 5\n    assert f(-1, 1) == 0\n\ncheck(add)\n"
    good = run_program(prompt + "    return a + b\n" + tests)
    bad = run_program(prompt + "    return a - b\n" + tests)
    syntax = run_program(prompt + "    return a +\n" + tests)
    assert (good.status, good.returncode, good.reason) == ("passed", 0, "exit 0")
    assert (bad.status, bad.returncode, bad.reason) == ("failed", 1, "exit 1: AssertionError")
    assert "assert f(2, 3) == 5" in bad.stderr
    assert (syntax.status, syntax.reason) == ("failed", "exit 1: SyntaxError")
    exit3 = run_program("import sys\nsys.exit(3)")
    assert (exit3.status, exit3.returncode, exit3.reason) == ("failed", 3, "exit 3")


def test_program_sees_a_private_writable_workdir_and_python() -> None:
    code = (
        "import os, subprocess, sys, tempfile\n"
        "print(os.getuid(), os.getcwd(), os.environ['HOME'], flush=True)\n"
        "open('out.txt', 'w').write('hello')\n"
        "assert open('out.txt').read() == 'hello'\n"
        "with tempfile.NamedTemporaryFile() as f: f.write(b'x')\n"
        "r = subprocess.run([sys.executable, '-I', '-c', 'print(6 * 7)'], capture_output=True, text=True)\n"
        "assert r.stdout == '42\\n', r\n"
        "assert sys.stdin.read() == ''\n"
    )
    result = run_program(code)
    assert result.status == "passed", result
    uid, cwd, home = result.stdout.split()[:3]
    assert cwd == home and os.path.basename(cwd).startswith("agimeter-sandbox-")
    if ISO["uid_drop"]:
        assert int(uid) != os.geteuid()
    assert_clean(int(uid), workdir=cwd)


@needs("uid_drop", "rlimit_nproc")
@pytest.mark.timing  # elapsed-time bounds: retried once on a busy machine, both attempts reported
def test_fork_bomb_is_contained_quickly() -> None:
    start = time.monotonic()
    result = run_program("import os\nprint(os.getuid(), flush=True)\nwhile True:\n    os.fork()\n")
    took = time.monotonic() - start
    assert result.status == "error", result
    assert result.reason.endswith("(process limit 64)"), result.reason
    assert took < 5, took
    assert_clean(sandbox_uid(result))


@needs("uid_drop")
@pytest.mark.timing
def test_fork_bomb_that_ignores_errors_and_escapes_the_session_is_killed() -> None:
    code = (
        "import os, time\nprint(os.getuid(), flush=True)\n"
        "while True:\n    try:\n        if os.fork() == 0:\n            os.setsid()\n"
        "    except OSError:\n        time.sleep(0.001)\n"
    )
    start = time.monotonic()
    result = run_program(code, SandboxLimits(wall_s=1.5))
    assert result.status == "timeout" and result.reason == "wall-time limit 1.5 s", result
    assert time.monotonic() - start < 6
    assert_clean(sandbox_uid(result))


def test_memory_bomb_is_stopped() -> None:
    code = "import os\nprint(os.getuid(), flush=True)\nchunks = []\nfor _ in range(10):\n"
    code += "    chunks.append(bytearray(1024**3))  # 10 GB in all\n"
    result = run_program(code)
    assert result.status == "error", result
    assert result.reason == "exit 1: MemoryError (memory limit 1024 MB)"
    assert_clean(sandbox_uid(result))


@needs("cgroup_memory")
def test_memory_bomb_across_processes_hits_the_cgroup_limit() -> None:
    """4 processes x 700 MB, each under the per-process address-space limit: only the cgroup
    total (1 GB) stops them, by the OOM killer."""
    code = (
        "import os, time\nprint(os.getuid(), flush=True)\npids = []\n"
        "for _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
        "        data = b'x' * (700 * 2**20)\n        time.sleep(1)\n        os._exit(0)\n    pids.append(pid)\n"
        "killed = [os.WTERMSIG(s) == 9 for s in (os.waitpid(p, 0)[1] for p in pids) if os.WIFSIGNALED(s)]\n"
        "print('oom-killed', sum(killed))\n"
    )
    result = run_program(code)
    assert result.status == "passed", result
    assert int(result.stdout.split("oom-killed")[1]) >= 1, result.stdout
    assert_clean(sandbox_uid(result))


@pytest.mark.timing
def test_infinite_loop_times_out_on_the_wall_clock() -> None:
    start = time.monotonic()
    result = run_program("import os\nprint(os.getuid(), flush=True)\nwhile True:\n    pass\n", FAST)
    assert (result.status, result.returncode, result.reason) == ("timeout", None, "wall-time limit 2 s")
    assert 2 <= result.wall_s < 3 and time.monotonic() - start < 6
    assert_clean(sandbox_uid(result))
    sleeper = run_program("import time\ntime.sleep(60)", SandboxLimits(wall_s=0.5))
    assert sleeper.status == "timeout" and sleeper.wall_s < 1.5


@pytest.mark.timing
def test_cpu_time_limit() -> None:
    result = run_program("while True:\n    pass\n", SandboxLimits(wall_s=10, cpu_s=1))
    assert (result.status, result.reason) == ("timeout", "cpu-time limit 1 s"), result
    assert result.returncode == -signal.SIGXCPU
    assert result.wall_s < 8


@pytest.mark.timing
def test_output_is_capped_and_the_parent_never_hangs() -> None:
    limits = SandboxLimits(wall_s=1.5, max_output_bytes=1000)
    flood = run_program("import sys\nwhile True:\n    sys.stdout.write('x' * 4096 + 'END')\n", limits)
    assert flood.status == "timeout" and len(flood.stdout) <= 1000
    tail = run_program("for i in range(100000):\n    print(i)\n", limits)
    assert tail.status == "passed" and tail.stdout.endswith("99999\n") and len(tail.stdout) == 1000
    # A background child keeping stdout open does not keep the parent waiting.
    daemon = run_program("import os, time\nif os.fork() == 0:\n    time.sleep(60)\nprint('bye')\n")
    assert daemon.status == "passed" and daemon.wall_s < 2


def test_file_size_limit() -> None:
    result = run_program("open('big', 'wb').write(b'x' * 50 * 2**20)", SandboxLimits(max_file_mb=4))
    assert result.status == "error" and result.reason.endswith("(file-size limit 4 MB)"), result


@pytest.fixture
def local_server(serve: Serve) -> tuple[int, list[bytes]]:
    """A TCP server on 127.0.0.1 that records what it receives."""
    server = socket.create_server(("127.0.0.1", 0))
    return server.getsockname()[1], serve(server)


def connect_program(port: int) -> str:
    return (
        "import socket\nerrors = []\n"
        f"for addr in [('127.0.0.1', {port}), ('8.8.8.8', 53)]:\n"
        "    try:\n        s = socket.create_connection(addr, timeout=2)\n        s.sendall(b'from-sandbox')\n"
        "    except OSError as e:\n        errors.append(type(e).__name__)\n"
        "print(errors)\nassert len(errors) == 2\n"
        "try:\n    socket.getaddrinfo('example.com', 80)\nexcept OSError:\n    pass\nelse:\n    raise SystemExit(9)\n"
    )


@needs("net_namespace")
def test_network_is_unreachable(local_server: tuple[int, list[bytes]]) -> None:
    port, received = local_server
    result = run_program(connect_program(port))
    assert result.status == "passed", result
    # EAFNOSUPPORT: seccomp refuses socket() before the empty network namespace is even reached.
    assert result.stdout == "['OSError', 'OSError']\n"
    assert received == [b"from-parent"]


def test_network_fallback_audit_hook_blocks_sockets(local_server: tuple[int, list[bytes]]) -> None:
    """Without a network namespace (forced off here), the audit hook refuses internet sockets."""
    port, received = local_server
    result = _run(connect_program(port), SandboxLimits(), disable=frozenset({"net_namespace"}))
    assert result.status == "passed", result
    assert result.stdout == "['PermissionError', 'PermissionError']\n"
    assert received == [b"from-parent"]
    unix_code = "import socket\na, b = socket.socketpair()\na.send(b'ok')\nprint(b.recv(2))"
    unix = _run(unix_code, SandboxLimits(), disable=frozenset({"net_namespace"}))
    assert unix.stdout == "b'ok'\n"


def test_writing_outside_the_workdir_fails(tmp_path: Path) -> None:
    """Files of the parent, even world-writable ones in a world-writable dir, the repo and /tmp.
    Every target is this test's own file: a broken sandbox must not damage real ones."""
    tag = uuid.uuid4().hex
    tmp_path.chmod(0o777)
    existing = [tmp_path / "target.txt", REPO / f".sandbox-target-{tag}.txt"]
    created = [REPO / f".sandbox-escape-{tag}.txt", Path("/tmp") / f"sandbox-escape-{tag}.txt"]
    for path in existing:
        path.write_text("original")
        path.chmod(0o666)
    targets = [str(p) for p in existing + created]
    code = (
        f"import os\nprint(os.getuid(), flush=True)\nwritten = []\nfor path in {targets!r}:\n"
        "    try:\n        with open(path, 'a') as f:\n            f.write('pwned')\n        written.append(path)\n"
        "    except OSError:\n        pass\n"
        "print('written:', written)\n"
    )
    try:
        result = run_program(code)
        assert result.status == "passed", result
        assert [path.read_text() for path in existing] == ["original", "original"]
        assert not created[0].exists()
        if ISO["mount_namespace"]:  # /tmp is a private tmpfs: the write lands there and vanishes
            assert not created[1].exists()
            assert f"written: ['{created[1]}']" in result.stdout
        assert_clean(sandbox_uid(result))
    finally:
        for path in existing + created:
            path.unlink(missing_ok=True)


def test_parent_environment_is_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGIMETER_SECRET_TEST", "s3cret")
    paths = f"['/proc/{os.getpid()}/environ', f'/proc/{{os.getppid()}}/environ', *glob.glob('/proc/*/environ')]"
    code = (
        "import glob, os\nleaks = [k for k, v in os.environ.items() if 's3cret' in v or 'AGIMETER' in k]\n"
        f"for path in {paths}:\n"
        "    try:\n        if b's3cret' in open(path, 'rb').read():\n            leaks.append(path)\n"
        "    except OSError:\n        pass\n"
        "print(sorted(os.environ))\nassert not leaks, leaks\n"
    )
    result = run_program(code)
    assert result.status == "passed", result
    assert "AGIMETER_SECRET_TEST" not in result.stdout and "PYTHONHASHSEED" in result.stdout


@pytest.mark.timing
def test_run_many_is_parallel_and_keeps_order() -> None:
    programs = [f"import time\ntime.sleep(1)\nprint({i})" for i in range(4)]
    start = time.monotonic()
    run_many(programs[:1], workers=1)
    one = time.monotonic() - start  # the baseline: one program, start-up and teardown included
    seen: list[int] = []
    start = time.monotonic()
    results = run_many(programs, workers=2, on_result=lambda i, r: seen.append(i))
    took = time.monotonic() - start
    assert [r.stdout for r in results] == ["0\n", "1\n", "2\n", "3\n"]
    assert all(r.status == "passed" for r in results)
    assert sorted(seen) == [0, 1, 2, 3]
    # 4 programs on 2 workers take 2 programs' time; one at a time they would take 4.
    assert 2 <= took < 3 * one, (took, one)
    assert run_many([]) == []


@pytest.mark.timing
def test_a_stray_fork_of_the_parent_holding_the_status_pipe_does_not_stall_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another part of the parent process forking (a data loader, a pool) while a run starts
    inherits the status pipe; the run still ends when the program does."""
    real_pipe, strays = os.pipe, []

    def leaky_pipe() -> tuple[int, int]:
        r, w = real_pipe()
        if not strays:  # the first pipe of a run is its status pipe
            pid = os.fork()
            if pid == 0:
                time.sleep(10)
                os._exit(0)
            strays.append(pid)
        return r, w

    monkeypatch.setattr(os, "pipe", leaky_pipe)
    try:
        result = run_program("print('done')")
    finally:
        monkeypatch.undo()
        for pid in strays:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    assert result.status == "passed" and result.stdout == "done\n"
    assert result.wall_s < 2


def test_killing_the_parent_leaves_nothing_running() -> None:
    """The wall-time kill lives in the parent: when the parent is SIGKILLed mid-run, death signals
    must still take the program down."""
    marker = f"agimeter-orphan-{uuid.uuid4().hex}"
    code = (
        f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", f"from agimeter.scoring.sandbox import run_program\nrun_program({code!r})"]
    )

    def running() -> list[int]:
        found = []
        for entry in os.scandir("/proc"):
            try:
                if (
                    entry.name.isdigit()
                    and entry.name != str(parent.pid)
                    and marker.encode() in Path(entry.path, "cmdline").read_bytes()
                ):
                    found.append(int(entry.name))
            except OSError:
                pass
        return found

    # Start-up is a second when the machine is quiet; one fresh-clone CI run did not see it within
    # 10 s (cause not found; it passes alone and in four other full runs), so wait longer before
    # judging the kill.
    deadline = time.monotonic() + 30
    while not running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(), "the program never started"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 3
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = running()
    for pid in left:  # leave the machine clean even when this fails
        os.kill(pid, 9)
    assert left == []
    # The killed parent could not remove its cgroups and work dir; the next process sweeps them.
    subprocess.run(
        [sys.executable, "-c", "from agimeter.scoring.sandbox import run_program\nrun_program('')"], check=True
    )
    roots = cgroup_roots()
    for root in [Path(tempfile.gettempdir()), *((roots.pids, roots.memory) if roots else ())]:
        assert root is None or list(root.glob(f"agimeter-sandbox-{parent.pid}-*")) == []
