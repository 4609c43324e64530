"""The process interface: what the engine core needs from a program, live or not.

A backend gives the core a program's threads, their registers, its memory, its memory map
and auxiliary vector, and, for a live program, control: resume, single step, stop, software
breakpoints, debug registers, detach and kill. The live ptrace backend
(dapgo.engine.ptrace.process.TracedProcess) is one; a read-only backend (a core file)
derives from `ReadOnlyProcess`, which refuses every execution request with a clear error.
Nothing above this interface knows which backend it has; only the facade chooses.

Every call is made on the engine's owner thread (dapgo.engine.owner), or on a thread that
borrows it to read a stopped program; a live backend raises `TracerThreadOnly` when such a
borrower asks for what only the tracing thread can do.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import attrs

from dapgo.engine.errors import DebuggerError

# What the program did while it ran: a thread at one of our breakpoints, a SIGTRAP that is
# not a breakpoint of ours (debug registers, in-kernel conditions), an exit, or "wake": not
# the program at all, but a request for the owner thread (see dapgo.engine.owner).
StopKind = Literal["breakpoint", "trap", "exited", "wake"]


class TracerThreadOnly(BaseException):
    """Only the thread that traces the program may do this (Linux ties a tracee to that
    thread), and another thread asked: a job borrowed by another thread (see
    dapgo.engine.owner.Owner.borrow) then runs again on the owner thread. A BaseException,
    as asyncio's CancelledError is, so that no `except Exception` that degrades a value
    gracefully can take it for a failure of the program."""


class ReadOnlyError(DebuggerError):
    """The program cannot run (e.g. it is a core file): the message says why."""


@attrs.frozen
class StopEvent:
    kind: StopKind
    tid: int = 0
    exit_code: int | None = None
    breakpoint_tids: tuple[int, ...] = ()  # threads sitting on one of our breakpoints
    trap_tids: tuple[int, ...] = ()  # threads stopped by a foreign SIGTRAP (e.g. hardware)


_NO_SYSTEM_CALL = (1 << 64) - 1  # orig_rax of a thread not stopped in a system call


@attrs.frozen
class Registers:
    """A thread's registers by name (a snapshot), with the ones the core reads most."""

    pc: int
    sp: int
    bp: int
    fs_base: int
    values: dict[str, int]

    @property
    def in_system_call(self) -> bool:
        """Stopped inside a system call (orig_rax holds its number, else all ones):
        resuming the thread finishes or restarts that call, which may block."""
        return self.values.get("orig_rax", _NO_SYSTEM_CALL) < 1 << 63


@attrs.frozen
class MemoryRegion:
    """One mapping of the program's address space (as /proc/PID/maps or NT_FILE say)."""

    start: int
    end: int
    perms: str  # "r-xp"
    offset: int
    path: str  # "" for anonymous memory


def signal_name(signo: int) -> str:
    """SIGQUIT for 3; "signal 99" for a number Python does not name."""
    try:
        return signal.Signals(signo).name
    except ValueError:
        return f"signal {signo}"


def parse_auxv(data: bytes) -> dict[int, int]:
    """An auxiliary vector as the kernel writes it (/proc/PID/auxv, a core file's NT_AUXV):
    pairs of 64-bit words, type then value, up to AT_NULL."""
    words = memoryview(data[: len(data) // 8 * 8]).cast("Q")
    out: dict[int, int] = {}
    for i in range(0, len(words) - 1, 2):
        if words[i] == 0:
            break
        out[int(words[i])] = int(words[i + 1])
    return out


class Process(Protocol):
    """A program under debug, as the engine core sees it."""

    @property
    def pid(self) -> int: ...

    @property
    def read_only(self) -> bool:
        """True when the program cannot run (execution requests raise ReadOnlyError)."""
        ...

    @property
    def exit_code(self) -> int | None:
        """The program's exit code once it has exited, else None."""
        ...

    # Per-thread state (debug registers): called with the thread stopped, for each new
    # thread at its first stop, and for each thread before detaching.
    on_new_thread: Callable[[int], None] | None
    before_detach: Callable[[int], None] | None
    # While True, a new thread stays stopped at its first stop (`resume` lets it go).
    hold_new_threads: bool

    # ----- threads and registers -----
    def thread_ids(self) -> list[int]: ...
    def has_thread(self, tid: int) -> bool: ...
    def registers(self, tid: int) -> Registers: ...
    def pc(self, tid: int) -> int:
        """The thread's pc (a stopped thread's is read once per stop). ProcessLookupError
        when the thread was killed under us (another thread ended the program)."""
        ...
    def set_pc(self, tid: int, pc: int) -> None:
        """Move a stopped thread to `pc`."""
        ...
    def set_registers(self, tid: int, values: dict[str, int]) -> None:
        """Write the named general registers of a stopped thread (`Registers.values`
        names)."""
        ...
    def fp_state(self, tid: int) -> bytes:
        """The x87/SSE state of a stopped thread (FXSAVE layout: XMMn at 160 + 16n)."""
        ...
    def set_fp_state(self, tid: int, data: bytes) -> None: ...
    def debug_register(self, tid: int, index: int) -> int:
        """x86 debug register DR`index` of a stopped thread."""
        ...
    def set_debug_register(self, tid: int, index: int, value: int) -> None: ...

    # ----- memory -----
    def read_memory(self, addr: int, size: int) -> bytes:
        """Memory as the program sees it (our breakpoint bytes hidden); OSError if unmapped."""
        ...
    def raw_reader(self) -> RawRead:
        """A direct reader of memory for bulk reads (breakpoint bytes not hidden)."""
        ...
    def vector_reader(self) -> VectorRead | None:
        """A reader of many ranges in one go (breakpoint bytes not hidden), or None when
        the backend has none (then `raw_reader` serves, one range at a time)."""
        ...
    def write_memory(self, addr: int, data: bytes) -> None: ...
    def memory_map(self) -> list[MemoryRegion]: ...
    def auxv(self) -> dict[int, int]: ...

    # ----- execution (a read-only backend raises ReadOnlyError) -----
    def wake(self) -> None:
        """From any thread: make a blocked `wait_event` return a "wake" event."""
        ...
    def wait_event(self) -> StopEvent:
        """Wait until a thread stops for a reason worth a look (only that thread is
        stopped), the program exits, or the owner thread is woken ("wake")."""
        ...
    def event_pending(self) -> bool:
        """Would `wait_event` find something waiting (a thread's stop, an exit, the
        doorbell)? Collects nothing."""
        ...
    def stop_others(self, ev: StopEvent) -> StopEvent:
        """Stop every thread and list those at breakpoints or traps, `ev.tid` first."""
        ...
    def stop_all(self) -> list[int]:
        """Stop every thread; returns the threads that were running."""
        ...
    def stopped_at_events(self) -> StopEvent | None:
        """With every thread stopped: the threads at breakpoints or traps, if any."""
        ...
    def resume(self, tids: list[int] | None = None) -> None:
        """Resume these stopped threads (all when None), each stepped over a breakpoint of
        ours first."""
        ...
    def step_instruction(self, tid: int) -> bool:
        """Execute one instruction of `tid`, the others stopped; False if it ended."""
        ...
    def thread_sleeping(self, tid: int) -> bool:
        """Whether running thread `tid` is asleep in the kernel (waiting, not computing)."""
        ...
    def trap_signal(self, tid: int) -> int:
        """The signal of a thread's trap stop: SIGTRAP, or the uprobes' stop signal of an
        attached program (also the Go runtime's own preemption signal)."""
        ...
    def park(self) -> None:
        """Every thread stopped: leave none in a stop that would deliver a deadly signal if
        dapgo died (an attached program; nothing to do for a launched one)."""
        ...
    @property
    def breakpoints(self) -> frozenset[int]:
        """Addresses that carry one of our int3 bytes."""
        ...
    def insert_breakpoint(self, addr: int) -> None: ...
    def remove_breakpoint(self, addr: int) -> None: ...
    def detach(self) -> None:
        """Leave the program running untraced: breakpoints removed, no stop pending."""
        ...
    def kill(self) -> int:
        """Kill the program; its exit code."""
        ...


class RawRead(Protocol):
    def __call__(self, addr: int, size: int) -> bytes: ...


class VectorRead(Protocol):
    def __call__(self, ranges: Sequence[tuple[int, int]], into: bytearray) -> None:
        """Each (address, size), in order, back to back into `into`; OSError unless
        every byte was read."""
        ...


class ReadOnlyProcess:
    """Base of backends whose program cannot run: every execution request fails, saying
    why (`why_read_only`)."""

    why_read_only = "this program cannot run"
    read_only = True
    on_new_thread: Callable[[int], None] | None = None
    before_detach: Callable[[int], None] | None = None
    hold_new_threads = False

    def _refuse(self) -> ReadOnlyError:
        return ReadOnlyError(self.why_read_only)

    def write_memory(self, addr: int, data: bytes) -> None:
        raise self._refuse()

    def set_pc(self, tid: int, pc: int) -> None:
        raise self._refuse()

    def set_debug_register(self, tid: int, index: int, value: int) -> None:
        raise self._refuse()

    def set_registers(self, tid: int, values: dict[str, int]) -> None:
        raise self._refuse()

    def fp_state(self, tid: int) -> bytes:
        raise self._refuse()

    def set_fp_state(self, tid: int, data: bytes) -> None:
        raise self._refuse()

    def wake(self) -> None:
        pass  # nothing ever waits for it

    def wait_event(self) -> StopEvent:
        raise self._refuse()

    def event_pending(self) -> bool:
        return False  # nothing runs

    def stop_others(self, ev: StopEvent) -> StopEvent:
        raise self._refuse()

    def stop_all(self) -> list[int]:
        return []  # nothing runs

    def stopped_at_events(self) -> StopEvent | None:
        return None

    def resume(self, tids: list[int] | None = None) -> None:
        raise self._refuse()

    def step_instruction(self, tid: int) -> bool:
        raise self._refuse()

    def thread_sleeping(self, tid: int) -> bool:
        return False

    def trap_signal(self, tid: int) -> int:
        return 5  # SIGTRAP: nothing ever stops

    def park(self) -> None:
        pass  # nothing runs

    @property
    def breakpoints(self) -> frozenset[int]:
        return frozenset()

    def insert_breakpoint(self, addr: int) -> None:
        raise self._refuse()

    def remove_breakpoint(self, addr: int) -> None:
        raise self._refuse()

    def detach(self) -> None:
        pass

    def kill(self) -> int:
        return 0
