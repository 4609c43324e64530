"""Thin wrappers for what python-ptrace lacks: tgkill, PTRACE_O_EXITKILL, TRACEME and exec
in a fresh child, raw process memory, the debug registers' place in `struct user`.

Process memory goes through /proc/PID/mem with pread/pwrite: one system call for any size,
where PEEKDATA costs one per word. Bulk reads of many ranges (100,000s of goroutines) use
process_vm_readv: up to 1024 ranges per system call, copied straight into one buffer (a
/proc/PID/mem read goes through a bounce page and costs several times more per byte).
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Sequence

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.ptrace.argtypes = (ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_libc.ptrace.restype = ctypes.c_long
_libc.process_vm_readv.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                                   ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong)
_libc.process_vm_readv.restype = ctypes.c_ssize_t
_libc.execve.argtypes = (ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                         ctypes.POINTER(ctypes.c_char_p))

SYS_TGKILL = 234
PTRACE_TRACEME = 0
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_EVENT_STOP = 128  # a PTRACE_INTERRUPT, or the first stop of a seized clone
WALL = 0x40000000  # __WALL: wait for every thread, cloned or not
# __WNOTHREAD: only this thread's own children and tracees. Several sessions in one dapgo
# (--listen) each trace from their own thread; without it one session's waitpid(-1) would
# take another's events.
WNOTHREAD = 0x20000000
DEBUGREG_OFFSET = 848  # offsetof(struct user, u_debugreg) on x86-64

# siginfo.si_code values of a SIGTRAP stop
SI_KERNEL = 0x80  # int3
TRAP_BRKPT = 1
TRAP_TRACE = 2  # single step
TRAP_HWBKPT = 4  # debug register


def tgkill(pid: int, tid: int, sig: int) -> bool:
    """Send `sig` to one thread; False when the thread no longer exists."""
    if _libc.syscall(SYS_TGKILL, pid, tid, sig) == 0:
        return True
    err = ctypes.get_errno()
    if err == 3:  # ESRCH
        return False
    raise OSError(err, os.strerror(err))


class PreparedExec:
    """An execve call built in the parent: after fork, the child only makes system calls
    (no Python objects decoded or built between fork and exec)."""

    def __init__(self, path: str, argv: list[str], env: dict[str, str]) -> None:
        self.path = os.fsencode(path)
        self._argv = [os.fsencode(a) for a in argv]
        self._env = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
        self.argv = (ctypes.c_char_p * (len(self._argv) + 1))(*self._argv, None)
        self.envp = (ctypes.c_char_p * (len(self._env) + 1))(*self._env, None)

    def exec(self) -> None:
        """In the child: replace the process; returns only if execve failed."""
        _libc.execve(self.path, self.argv, self.envp)


def child_prepare_for_trace() -> None:
    """In a freshly forked child: ask to be traced (async-signal-safe).

    No PR_SET_PDEATHSIG: it fires when the forking *thread* ends, which would kill a
    launched program that the user detaches from (terminateDebuggee false). A traced
    program dies with dapgo through PTRACE_O_EXITKILL, set at its first stop."""
    _libc.ptrace(PTRACE_TRACEME, 0, 0, 0)


IOV_MAX = 1024  # remote ranges per process_vm_readv call (the kernel's UIO_MAXIOV)


def read_vectored(pid: int, ranges: Sequence[tuple[int, int]], into: bytearray) -> None:
    """Read each (address, size) of process `pid`, in order, back to back into `into`
    (which must hold their sum); OSError unless every byte was read."""
    total = sum(n for _, n in ranges)
    if total > len(into):
        raise ValueError(f"{total} bytes do not fit a buffer of {len(into)}")
    dest = (ctypes.c_char * len(into)).from_buffer(into)
    base = ctypes.addressof(dest)
    pos = 0
    for i in range(0, len(ranges), IOV_MAX):
        chunk = ranges[i:i + IOV_MAX]
        want = sum(n for _, n in chunk)
        local = struct.pack("<QQ", base + pos, want)
        remote = struct.pack(f"<{2 * len(chunk)}Q", *(x for r in chunk for x in r))
        got = _libc.process_vm_readv(pid, local, 1, remote, len(chunk), 0)
        if got != want:
            err = ctypes.get_errno() if got < 0 else 5  # EIO: a range partly unmapped
            raise OSError(err, f"process_vm_readv of {len(chunk)} ranges at {chunk[0][0]:#x}: "
                          f"{os.strerror(err)}")
        pos += want
    del dest


class ProcMem:
    """Read and write a traced process's memory through /proc/PID/mem."""

    def __init__(self, pid: int) -> None:
        self._fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)

    def read(self, addr: int, size: int) -> bytes:
        data = os.pread(self._fd, size, addr)
        if len(data) != size:
            raise OSError(5, f"short read of {size} bytes at {addr:#x}")
        return data

    def write(self, addr: int, data: bytes) -> None:
        if os.pwrite(self._fd, data, addr) != len(data):
            raise OSError(5, f"short write of {len(data)} bytes at {addr:#x}")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
