"""The code sandbox against an attacker rather than a buggy program: no host Unix socket, no nested
namespaces or other dangerous syscalls (seccomp), and no pass without the tests running to their
end (the per-run pass marker), through the sandbox, the scoring API, the runner and the CLI."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agimeter.backends.fake import FakeBackend
from agimeter.records.options import RunOptions
from agimeter.runner.session import execute_run, prepare_tasks
from agimeter.scoring.code import build_program, judge_code
from agimeter.scoring.sandbox import SandboxLimits, _run, isolation, run_many, run_program
from agimeter.store.repository import Store
from agimeter.tasks.item import Item
from agimeter.tasks.registry import resolve_task

REPO = Path(__file__).resolve().parents[2]
UNFINISHED = "exited before the tests finished"
Cli = Callable[..., subprocess.CompletedProcess[str]]
Serve = Callable[[socket.socket], list[bytes]]  # the fixture of conftest.py

# -- host Unix sockets ----------------------------------------------------------------------------


def _socket_dirs() -> list[Path]:
    """Host dirs the sandbox can see by path (the repo, /run) where a listener fits sun_path."""
    dirs = [REPO, Path("/run")]
    return [d for d in dirs if os.access(d, os.W_OK) and len(str(d)) + len("/.sandbox-sock-12345678") < 108]


@pytest.fixture
def unix_listeners(serve: Serve) -> Iterator[tuple[list[str], list[list[bytes]]]]:
    """World-writable AF_UNIX listeners in host dirs; what each receives is recorded."""
    dirs = _socket_dirs()
    assert dirs, "no writable host dir for a Unix socket (the repo path is too long?)"
    tag = uuid.uuid4().hex[:8]
    paths = [str(d / f".sandbox-sock-{tag}") for d in dirs]
    received: list[list[bytes]] = []
    try:
        for path in paths:
            server = socket.socket(socket.AF_UNIX)
            server.bind(path)
            os.chmod(path, 0o777)
            server.listen()
            received.append(serve(server))
        yield paths, received
    finally:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def unix_connect_program(paths: list[str]) -> str:
    return (
        "import socket\nerrors = {}\n"
        f"for path in {paths!r}:\n"
        "    try:\n        s = socket.socket(socket.AF_UNIX)\n        s.connect(path)\n        s.sendall(b'x')\n"
        "        errors[path] = 'connected'\n"
        "    except OSError as e:\n        errors[path] = e.errno\n"
        "print(sorted(errors.values()))\n"
    )


def test_host_unix_socket_listener_receives_nothing(unix_listeners: tuple[list[str], list[list[bytes]]]) -> None:
    paths, received = unix_listeners
    result = run_program(unix_connect_program(paths))
    assert result.status == "passed", result
    assert result.stdout == f"{[errno.EAFNOSUPPORT] * len(paths)}\n", result.stdout
    time.sleep(0.2)  # anything sent would have arrived by now (the listeners poll every 0.1 s)
    assert received == [[b"from-parent"]] * len(paths)


def test_run_is_hidden_behind_a_private_tmpfs() -> None:
    """/run (host sockets, the parent's lock dir) is an empty private tmpfs in the sandbox."""
    if not isolation()["mount_namespace"]:
        pytest.skip("no mount namespace on this machine")
    assert os.listdir("/run"), "the host's /run is empty: nothing to hide"
    result = run_program("import os\nprint(os.listdir('/run'), os.listdir('/var/run'))\n")
    assert (result.status, result.stdout) == ("passed", "[] []\n"), result


# -- seccomp ----------------------------------------------------------------------------------------

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, SIGCHLD = 0x00020000, 0x10000000, 0x40000000, 17
# Raw syscall numbers for the syscalls glibc has no wrapper for.
RAW = {
    "x86_64": {"clone": 56, "clone3": 435, "io_uring_setup": 425, "bpf": 321, "userfaultfd": 323, "keyctl": 250},
    "aarch64": {"clone": 220, "clone3": 435, "io_uring_setup": 425, "bpf": 280, "userfaultfd": 282, "keyctl": 219},
}[platform.machine()]

SYSCALL_PROBE = f"""\
import ctypes, errno, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
raw = {RAW!r}
out = {{}}

def probe(name, call):
    ctypes.set_errno(0)
    r = call()
    out[name] = 0 if r != -1 else errno.errorcode[ctypes.get_errno()]
    if r == 0 and name.startswith("clone"):
        os._exit(0)  # the child of a clone that went through

probe("unshare(NEWUSER|NEWNS)", lambda: libc.unshare({CLONE_NEWUSER | CLONE_NEWNS}))
probe("unshare(NEWNET)", lambda: libc.unshare({CLONE_NEWNET}))
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
probe("setns", lambda: libc.setns(fd, 0))
probe("clone(NEWUSER)", lambda: libc.syscall(raw["clone"], {CLONE_NEWUSER | SIGCHLD}, 0, 0, 0, 0))
probe("clone3", lambda: libc.syscall(raw["clone3"], 0, 0))
probe("ptrace(TRACEME)", lambda: libc.ptrace(0, 0, 0, 0))
probe("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
probe("io_uring_setup", lambda: libc.syscall(raw["io_uring_setup"], 8, ctypes.create_string_buffer(120)))
probe("bpf", lambda: libc.syscall(raw["bpf"], 0, 0, 0))
probe("userfaultfd", lambda: libc.syscall(raw["userfaultfd"], 0))
probe("keyctl", lambda: libc.syscall(raw["keyctl"], 0, 0, 0))
for family in ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"):
    probe(f"socket({{family}})", lambda: libc.socket(getattr(socket, family), socket.SOCK_STREAM, 0))
pair = (ctypes.c_int * 2)()
probe("socketpair(AF_UNIX, SOCK_DGRAM)", lambda: libc.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM, 0, pair))
probe("socketpair(AF_UNIX, SOCK_STREAM)", lambda: libc.socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0, pair))
probe("socketpair(AF_INET, SOCK_STREAM)", lambda: libc.socketpair(socket.AF_INET, socket.SOCK_STREAM, 0, pair))
print(json.dumps(out))
"""


def test_nested_namespaces_and_dangerous_syscalls_are_refused() -> None:
    result = run_program(SYSCALL_PROBE)
    assert result.status == "passed", result
    seen = json.loads(result.stdout)
    refused = ["unshare(NEWUSER|NEWNS)", "unshare(NEWNET)", "setns", "clone(NEWUSER)", "ptrace(TRACEME)", "mount"]
    refused += ["io_uring_setup", "bpf", "userfaultfd", "keyctl"]
    assert seen == {
        **dict.fromkeys(refused, "EPERM"),
        "clone3": "ENOSYS",  # glibc then falls back to clone, whose flags seccomp can read
        **{f"socket({f})": "EAFNOSUPPORT" for f in ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET")},
        "socketpair(AF_UNIX, SOCK_DGRAM)": "EPERM",
        "socketpair(AF_UNIX, SOCK_STREAM)": 0,
        "socketpair(AF_INET, SOCK_STREAM)": "EPERM",
    }


RUNTIME = """\
import asyncio, atexit, bisect, collections, concurrent.futures, dataclasses, datetime, decimal, fractions
import functools, hashlib, heapq, itertools, json, math, multiprocessing, os, pickle, random, re, secrets
import shutil, signal, socket, statistics, string, subprocess, sys, tempfile, threading, time, uuid

assert math.isclose(math.sqrt(2) ** 2, 2) and statistics.median([3, 1, 2]) == 2
assert re.fullmatch(r"a+b", "aaab") and hashlib.sha256(b"x").hexdigest()[:4] == "2d71"
assert list(itertools.permutations(range(3)))[1] == (0, 2, 1) and fractions.Fraction(1, 3) * 3 == 1
assert random.Random(0).random() == random.Random(0).random() and len(secrets.token_hex(8)) == 16
assert str(decimal.Decimal("0.1") + decimal.Decimal("0.2")) == "0.3" and uuid.uuid4().version == 4
assert datetime.date(2024, 2, 29).isoformat() == "2024-02-29" and pickle.loads(pickle.dumps({1: [2]})) == {1: [2]}
start = time.monotonic(); time.sleep(0.01); assert time.monotonic() - start >= 0.01

def square(x):
    return x * x

with concurrent.futures.ThreadPoolExecutor(4) as pool:
    assert list(pool.map(square, range(8))) == [x * x for x in range(8)]
pid = os.fork()
if pid == 0:
    os._exit(7)
assert os.WEXITSTATUS(os.waitpid(pid, 0)[1]) == 7
with multiprocessing.get_context("fork").Pool(2) as mp:
    assert mp.map(square, range(6)) == [0, 1, 4, 9, 16, 25]
q = multiprocessing.get_context("fork").Queue()
p = multiprocessing.get_context("fork").Process(target=q.put, args=(42,))
p.start(); assert q.get(timeout=5) == 42; p.join()
r = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True, check=True)
assert r.stdout == "42\\n"

async def main():
    await asyncio.sleep(0.01)
    return await asyncio.gather(*(asyncio.sleep(0, i) for i in range(3)))

assert asyncio.run(main()) == [0, 1, 2]
a, b = socket.socketpair(); a.sendall(b"ok"); assert b.recv(2) == b"ok"
with tempfile.TemporaryDirectory() as d:
    open(os.path.join(d, "a"), "w").write("x")
    shutil.copy2(os.path.join(d, "a"), os.path.join(d, "b"))
    assert sorted(os.listdir(d)) == ["a", "b"]
signal.signal(signal.SIGALRM, lambda *a: None); signal.setitimer(signal.ITIMER_REAL, 0.01); time.sleep(0.05)
print("runtime ok", os.cpu_count() >= 1)
"""


def test_the_python_runtime_still_works_under_the_filter() -> None:
    """Threads, fork, multiprocessing (fork), a subprocess of the interpreter, asyncio, timers and
    the modules HumanEval and MBPP solutions use."""
    result = run_program(RUNTIME, SandboxLimits(wall_s=30, cpu_s=30))
    assert (result.status, result.stdout) == ("passed", "runtime ok True\n"), result


def test_isolation_reports_seccomp() -> None:
    iso = isolation()
    assert iso["seccomp"] is True, iso
    assert iso["seccomp_default"] == "EPERM (socket(): EAFNOSUPPORT, clone3: ENOSYS)"
    assert isinstance(iso["seccomp_syscalls"], int) and 100 < iso["seccomp_syscalls"] < 400
    assert "libseccomp" in str(iso["seccomp_note"])
    assert iso["pass_marker"] == "per-run token from init, written after the program's last statement"


def test_fails_closed_without_seccomp() -> None:
    """When libseccomp cannot be loaded (simulated with a library name that does not exist), the
    program must not run unfiltered."""
    result = _run("print('ran')", SandboxLimits(), disable=frozenset({"seccomp"}))
    assert result.status == "error" and result.stdout == "", result
    assert result.reason.startswith("sandbox setup failed (init): PermissionError: seccomp unavailable: cannot load")


# -- the pass marker --------------------------------------------------------------------------------

EXIT_TRICKS = {
    "sys.exit(0)": "import sys\nsys.exit(0)\n",
    "raise SystemExit": "raise SystemExit\n",
    "exit()": "exit()\n",
    "os._exit(0)": "import os\nos._exit(0)\n",
    "atexit": "import atexit, os\natexit.register(os._exit, 0)\n",
    "excepthook": "import os, sys\nsys.excepthook = lambda *a: os._exit(0)\n",
    "thread exit": "import os, threading, time\nthreading.Timer(0, os._exit, (0,)).start()\ntime.sleep(5)\n",
    "SIGTERM handler": "import os, signal\nsignal.signal(signal.SIGTERM, lambda *a: os._exit(0))\n"
    "os.kill(os.getpid(), signal.SIGTERM)\n",
    "fd spray": "import os\nfor fd in range(3, 1024):\n    try:\n        os.write(fd, b'0' * 64)\n"
    "    except OSError:\n        pass\nos._exit(0)\n",
    "guessed marker": "print('PASSED')\nprint('0' * 64)\nimport os\nos._exit(0)\n",
}


@pytest.mark.parametrize("trick", EXIT_TRICKS, ids=list(EXIT_TRICKS))
def test_exit_zero_before_the_tests_finish_is_a_failure(trick: str) -> None:
    result = run_program(EXIT_TRICKS[trick] + "assert False, 'the tests ran'\n")
    assert (result.status, result.returncode) == ("failed", 0), result
    assert UNFINISHED in result.reason, result.reason


@pytest.mark.parametrize(
    "code",
    ["raise KeyboardInterrupt\n", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n"],
    ids=["KeyboardInterrupt", "SIGTERM"],
)
def test_other_early_exits_are_not_passes(code: str) -> None:
    result = run_program(code + "assert False\n")
    assert result.status != "passed", result


def test_a_fork_that_finishes_the_tests_does_not_count() -> None:
    """The tests must finish in the program's own process, not in a fork of it that the main
    process abandoned."""
    code = "import os, sys, time\nif os.fork() != 0:\n    time.sleep(1)\n    sys.exit(0)\nprint('child done')\n"
    result = run_program(code)
    assert (result.status, result.returncode) == ("failed", 0), result
    assert UNFINISHED in result.reason


def test_the_marker_cannot_be_read_from_the_usual_places() -> None:
    """Not in the source, argv, the environment, /proc or a readable descriptor: a program that
    hunts there for a token of the marker's form (64 hex digits) finds none."""
    code = (
        "import glob, os, re, sys\n"
        "paths = ['main.py', *glob.glob('/proc/*/cmdline'), *glob.glob('/proc/*/environ')]\n"
        "blobs = [repr(os.environ).encode(), repr(sys.argv).encode(), repr(sys.orig_argv).encode()]\n"
        "for path in paths:\n    try:\n        blobs.append(open(path, 'rb').read())\n"
        "    except OSError:\n        pass\n"
        "readable = []\nfor fd in range(1024):\n    try:\n        os.set_blocking(fd, False)\n"
        "        blobs.append(os.read(fd, 4096))\n        readable.append(fd)\n    except OSError:\n        pass\n"
        "tokens = {t for b in blobs for t in re.findall(rb'[0-9a-f]{64}', b)}\n"
        "print(len(blobs) > 3, readable, len(tokens), flush=True)\n"
        "for t in tokens:\n    for fd in range(3, 1024):\n        try:\n            os.write(fd, t)\n"
        "        except OSError:\n            pass\n"
        "os._exit(0)\n"
    )
    result = run_program(code)
    assert result.stdout == "True [0] 0\n", result  # stdin (/dev/null) is the only readable descriptor
    assert (result.status, result.returncode) == ("failed", 0) and UNFINISHED in result.reason


# -- end to end: the scoring API, the runner and the CLI --------------------------------------------

ADD_TESTS = "\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
ADD_TESTS += "\n\ncheck(add)\n"
CORRECT = "    return a + b\n"
FORGERIES = {
    "sys.exit": "    return 0\nimport sys\nsys.exit(0)\n",
    "os._exit": "    return 0\nimport os\nos._exit(0)\n",
    "atexit": "    return 0\nimport atexit, os\natexit.register(os._exit, 0)\n",
}


def _add_item(doc_id: int = 0) -> Item:
    return Item(
        task="toy_code",
        doc_id=doc_id,
        kind="generate",
        context="def add(a, b):\n",
        target="",
        extra={"prefix": "def add(a, b):\n", "tests": ADD_TESTS},
    )


def test_forged_completions_score_zero_through_the_scoring_api() -> None:
    spec = resolve_task("humaneval")
    item = _add_item()
    completions = [CORRECT, *FORGERIES.values()]
    results = run_many([build_program(item, c) for c in completions])
    assert [r.status for r in results] == ["passed"] + ["failed"] * len(FORGERIES), results
    assert judge_code(spec, results[:1]).metrics == {"pass@1": 1.0}
    for forged in results[1:]:
        assert judge_code(spec, [forged]).metrics == {"pass@1": 0.0}
        assert UNFINISHED in forged.reason


TOY_CODE = """\
name: toy_code
version: "1"
dimension: coding
output_type: generate
source: {kind: file, path: toy/code.jsonl, format: jsonl}
prompt: {doc_to_text: "{{prefix}}", doc_to_target: "{{tests}}"}
generation: {stop: ["The"], max_tokens: 256}
scoring: {kind: code_exec, fields: {prefix: "{{prefix}}", tests: "{{tests}}"}, timeout_s: 10}
metrics: [pass@1]
"""


def _toy_code_task(tmp_path: Path, prefixes: list[str]) -> tuple[Path, Path]:
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    rows = [{"prefix": p, "tests": ADD_TESTS} for p in prefixes]
    (data / "toy" / "code.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "toy_code.yaml"
    spec.write_text(TOY_CODE)
    return spec, data


def test_forged_completions_score_zero_through_the_runner(tmp_path: Path) -> None:
    """``_commit_code`` end to end: the fake model answers each item with a crafted completion."""
    names = ["correct", *FORGERIES]
    spec, data = _toy_code_task(tmp_path, [f"# {name}\ndef add(a, b):\n" for name in names])
    completions = {f"# {name}\n": text for name, text in zip(names, [CORRECT, *FORGERIES.values()], strict=True)}
    backend = FakeBackend("forger", responses=completions)
    options = RunOptions(model="fake:forger", tasks=[str(spec)], data_dir=str(data))
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    run = execute_run(options, store, prepare_tasks(options), backend, 0.0)
    assert run.status == "finished"
    rows = sorted(store.run_items(run.id), key=lambda r: r.doc_id)
    assert [r.metrics for r in rows] == [{"pass@1": 1.0}] + [{"pass@1": 0.0}] * len(FORGERIES)
    for row in rows[1:]:
        assert row.details is not None and UNFINISHED in row.details["reason"][0]


def test_programs_that_exit_before_their_tests_score_zero_through_the_cli(tmp_path: Path, agimeter: Cli) -> None:
    """``agimeter run`` as a user runs it. The CLI's fake model cannot be scripted, so the exit
    tricks sit in the task's own prompt and the fake answer is cut to nothing by a stop string:
    the sandbox sees the same programs as above."""
    correct = "def add(a, b):\n    return a + b\n"
    prefixes = [correct, *(f"def add(a, b):\n{text}" for text in FORGERIES.values())]
    spec, data = _toy_code_task(tmp_path, prefixes)
    store = f"sqlite:///{tmp_path / 's.db'}"
    res = agimeter("run", "--model", "fake:m", "--data-dir", str(data), "--store", store, "--tasks", str(spec))
    assert res.returncode == 0, res.stderr
    (run,) = Store.open(store).list_runs()
    rows = sorted(Store.open(store).run_items(run.id), key=lambda r: r.doc_id)
    assert [r.metrics for r in rows] == [{"pass@1": 1.0}] + [{"pass@1": 0.0}] * len(FORGERIES)
