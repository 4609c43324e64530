"""Tracing a process that someone else started, from the first instruction of the program
it is about to exec (a program started in the user's terminal by the editor).

The process (a small shell wrapper, see dapgo.engine.terminal) waits for a go-ahead before
it execs the program. Here: attach to it (PTRACE_ATTACH; its SIGSTOP is suppressed, so the
terminal's shell never sees a stopped job), ask for the exec event, give the go-ahead, and
wait until the exec has replaced the wrapper: the program is then stopped before its first
instruction, as a program dapgo forks itself is.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from ptrace.binding import func as pt

from dapgo.engine.ptrace import syscalls as sc

PTRACE_O_TRACEEXEC = 0x10
PTRACE_EVENT_EXEC = 4


class AdoptFailure(Exception):
    """The process could not be traced to its exec; the message says why."""


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, sc.WALL)[1]
        except InterruptedError:
            continue


def trace_to_exec(pid: int, go_ahead: Callable[[], None]) -> None:
    """Attach to `pid`, call `go_ahead` (which makes it exec), and return once the new
    program is stopped before its first instruction; traced with clone tracing and
    PTRACE_O_EXITKILL, as a launched program is."""
    try:
        pt.ptrace_attach(pid)
    except Exception as exc:
        raise AdoptFailure(f"cannot trace process {pid}: {exc}") from exc
    try:
        while True:  # its attach stop; a signal that arrives first is delivered later
            status = _wait(pid)
            if not os.WIFSTOPPED(status):
                raise AdoptFailure(f"process {pid} ended before it could be traced")
            if os.WSTOPSIG(status) == signal.SIGSTOP:
                break
            pt.ptrace_cont(pid, os.WSTOPSIG(status))
        pt.ptrace_setoptions(pid, PTRACE_O_TRACEEXEC | sc.PTRACE_O_TRACECLONE
                             | sc.PTRACE_O_EXITKILL)
        pt.ptrace_cont(pid, 0)  # suppress the SIGSTOP: no group stop, no "Stopped" job
        go_ahead()
        while True:
            status = _wait(pid)
            if not os.WIFSTOPPED(status):
                raise AdoptFailure(f"process {pid} ended before it started the program")
            if status >> 8 == signal.SIGTRAP | PTRACE_EVENT_EXEC << 8:
                break
            sig = os.WSTOPSIG(status)
            pt.ptrace_cont(pid, 0 if sig in (signal.SIGSTOP, signal.SIGTRAP) else sig)
        pt.ptrace_setoptions(pid, sc.PTRACE_O_TRACECLONE | sc.PTRACE_O_EXITKILL)
    except BaseException:
        try:
            pt.ptrace_detach(pid, 0)
        except Exception:
            pass
        raise
