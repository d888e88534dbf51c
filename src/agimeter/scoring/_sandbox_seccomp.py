"""The code sandbox's seccomp filter: an allow-list of the syscalls CPython and its standard library
need, built with libseccomp's C API through ctypes (the boot script runs as ``python -I -S``: no
site-packages, so no binding package; libseccomp itself is part of every Debian, Ubuntu and
Fedora base system, as apt and systemd depend on it).

Anything not listed fails with EPERM. Argument filters and other answers:

* ``socket()``: EAFNOSUPPORT for every family. No socket can be created, so nothing can
  ``connect()`` to a Unix socket of the host by path, nor reach the network, with or without a
  network namespace. (EAFNOSUPPORT rather than EPERM: library code that probes for a family,
  such as libuuid's uuidd or glibc's nscd client, takes it as "not available" and falls back.)
* ``socketpair()``: only ``AF_UNIX`` with ``SOCK_STREAM`` (asyncio's self-pipe, multiprocessing's
  duplex ``Pipe``). A datagram pair could ``sendto`` a host path such as /dev/log.
  ``connect``, ``bind``, ``listen`` and ``accept`` are not listed.
* ``clone()``: only without ``CLONE_NEW*`` flags (threads, fork). ``clone3()``: ENOSYS, since its
  flags live in a struct seccomp cannot read; glibc then falls back to ``clone()``.
* Not listed, so EPERM: ``unshare``, ``setns``, ``mount`` and the new mount API, ``chroot``,
  ``pivot_root``, ``ptrace``, ``process_vm_readv/writev``, ``pidfd_getfd``, ``kcmp``, ``bpf``,
  ``perf_event_open``, ``userfaultfd``, ``io_uring_*``, ``keyctl``/``add_key``/``request_key``,
  ``personality``, the setuid family, ``mknod``, ``open_by_handle_at``, SysV IPC, ``sync``,
  module loading, ``reboot``, ``kexec_*``, ``swapon``, ``acct``, clock setting.

The filter is built for the native architecture; a syscall made through another ABI (e.g. the
32-bit ``int 0x80`` entry on x86_64) kills the process (libseccomp's default for a foreign arch).
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

LIBSECCOMP = "libseccomp.so.2"

# Allowed whatever their arguments: what CPython 3.11 and glibc were seen to call running every
# HumanEval and MBPP reference solution, threads, fork, multiprocessing, subprocess and asyncio
# (strace), plus their siblings (the *at, v and 64 variants, newer glibc's syscalls) and harmless
# reads of the process's own state. Names that this libseccomp does not know or this arch does
# not have (``open`` on aarch64, ``arch_prctl`` off x86) are skipped.
ALLOWED: tuple[str, ...] = (
    # files and descriptors
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "lseek", "open", "openat", "openat2", "creat", "close", "close_range", "stat", "fstat",
    "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "readlink", "readlinkat",
    "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename",
    "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod",
    "fchmodat", "fchmodat2", "truncate", "ftruncate", "fallocate", "fsync", "fdatasync", "utime",
    "utimes", "utimensat", "futimesat", "statfs", "fstatfs", "getxattr", "lgetxattr",
    "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "getcwd", "chdir", "fchdir", "umask", "ioctl",
    "fcntl", "flock", "dup", "dup2", "dup3", "pipe", "pipe2", "sendfile", "copy_file_range",
    "fadvise64", "memfd_create",
    # waiting on descriptors
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    # memory
    "mmap", "munmap", "mremap", "mprotect", "brk", "madvise", "msync", "mseal",
    "map_shadow_stack",  # glibc >= 2.39 with x86 shadow stacks, for every new thread
    # processes and threads (clone and clone3: below)
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
    "set_tid_address", "set_robust_list", "rseq", "futex", "futex_waitv", "futex_wait", "futex_wake",
    "futex_requeue", "arch_prctl", "prctl",
    "gettid", "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
    "getresgid", "getgroups", "getpgid", "getpgrp", "setpgid", "getsid", "setsid", "kill",
    "tkill", "tgkill", "pidfd_open", "pidfd_send_signal",
    # signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
    "rt_sigtimedwait", "sigaltstack", "signalfd", "signalfd4", "pause", "restart_syscall",
    # time
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
    "timer_getoverrun", "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    "times",
    # scheduling, limits, system information
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "getcpu", "getpriority", "setpriority", "getrlimit", "setrlimit",
    "prlimit64", "getrusage", "sysinfo", "uname", "getrandom",
    # existing sockets only (a socketpair): nothing here creates or connects one
    "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "getsockname", "getpeername",
    "getsockopt", "setsockopt",
)  # fmt: skip

AF_UNIX, SOCK_STREAM, SOCK_TYPE_MASK = 1, 1, 0xF
CLONE_NEW_FLAGS = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE3_NR = 435  # the same on every arch with the unified syscall table; for libseccomp < 2.5
DEFAULT = "EPERM (socket(): EAFNOSUPPORT, clone3: ENOSYS)"

_ACT_ALLOW = 0x7FFF0000
_CMP_EQ, _CMP_MASKED_EQ = 4, 7
_ATTR_CTL_OPTIMIZE = 8  # libseccomp >= 2.5: a binary tree of syscalls instead of a list


def _act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):  # struct scmp_arg_cmp
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


# The part of libseccomp's C API we call (seccomp.h).
_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "seccomp_version": ([], ctypes.POINTER(_Version)),
    "seccomp_init": ([ctypes.c_uint32], ctypes.c_void_p),
    "seccomp_attr_set": ([ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32], ctypes.c_int),
    "seccomp_syscall_resolve_name": ([ctypes.c_char_p], ctypes.c_int),
    "seccomp_rule_add_array": (
        [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)],
        ctypes.c_int,
    ),
    "seccomp_load": ([ctypes.c_void_p], ctypes.c_int),
}


class SeccompUnavailable(OSError):
    """libseccomp cannot be loaded, or the filter cannot be built."""


class Filter:
    """A built, not yet loaded filter (a libseccomp context): ``load`` it in the process to confine.
    (A plain class: dataclasses imports inspect, 10 ms more for every sandbox run.)"""

    def __init__(self, lib: Any, ctx: int, syscalls: int, version: str) -> None:
        self.lib, self.ctx, self.version = lib, ctx, version
        self.syscalls = syscalls  # syscalls with an allow rule (unconditional or with argument filters)

    def summary(self) -> dict[str, Any]:
        return {"syscalls": self.syscalls, "default": DEFAULT, "libseccomp": self.version}

    def load(self) -> None:
        """Install the filter in the calling process; it is inherited by every child and exec."""
        rc = self.lib.seccomp_load(self.ctx)
        if rc != 0:
            raise OSError(-rc, f"seccomp_load: {errno.errorcode.get(-rc, rc)}")


def _open(library: str) -> Any:
    try:
        lib = ctypes.CDLL(library)
    except OSError as exc:
        raise SeccompUnavailable(f"cannot load {library} ({exc}); install libseccomp (Debian: libseccomp2)") from exc
    for name, (argtypes, restype) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    return lib


def build(library: str = LIBSECCOMP) -> Filter:
    """The sandbox's filter for this machine's architecture; SeccompUnavailable when it cannot be."""
    lib = _open(library)
    v = lib.seccomp_version().contents
    ctx = lib.seccomp_init(_act_errno(errno.EPERM))
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    lib.seccomp_attr_set(ctx, _ATTR_CTL_OPTIMIZE, 2)  # best effort: older versions refuse it

    def rule(name: str, action: int, *cmps: tuple[int, int, int, int], nr: int | None = None) -> bool:
        if nr is None:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # unknown to this libseccomp, or not a syscall of this arch
            return False
        args = (_ArgCmp * max(1, len(cmps)))(*(_ArgCmp(*c) for c in cmps))
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), args)
        if rc != 0:
            raise SeccompUnavailable(f"seccomp_rule_add({name}): {errno.errorcode.get(-rc, rc)}")
        return True

    allowed = sum(rule(name, _ACT_ALLOW) for name in ALLOWED)
    # clone's flags are its first argument, except on s390 (stack first).
    flags_arg = 1 if os.uname().machine.startswith("s390") else 0
    allowed += rule("clone", _ACT_ALLOW, (flags_arg, _CMP_MASKED_EQ, CLONE_NEW_FLAGS, 0))
    unix_stream = (0, _CMP_EQ, AF_UNIX, 0), (1, _CMP_MASKED_EQ, SOCK_TYPE_MASK, SOCK_STREAM)
    allowed += rule("socketpair", _ACT_ALLOW, *unix_stream)
    rule("socket", _act_errno(errno.EAFNOSUPPORT))
    if not rule("clone3", _act_errno(errno.ENOSYS)):
        rule("clone3", _act_errno(errno.ENOSYS), nr=CLONE3_NR)
    return Filter(lib, ctx, allowed, f"{v.major}.{v.minor}.{v.micro}")
