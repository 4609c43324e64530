"""What inspection may look at in one stop: which threads, the goroutines, their frames.

A `StopContext` is made for every stop the user sees (every thread stopped) and dropped when
the program runs again; everything it reads is cached for that time. A one-thread context
(`StopContext.one_thread`) looks only at a thread stopped alone, its siblings still running:
a breakpoint condition, a ptrace logpoint, a panic's message. Inspection code takes the
context as an argument; there are no caches to fake.

Goroutines are DAP threads: the DAP id of a goroutine is its goid; an OS thread with no
goroutine (before the runtime starts) is OS_THREAD_ID_BASE + tid.
"""

from __future__ import annotations

from dapgo.engine.errors import DebuggerError
from dapgo.engine.goroutines import (
    G_SYSCALL,
    Goroutine,
    GoroutineSet,
    thread_running,
)
from dapgo.engine.program import Program
from dapgo.engine.stack import (
    MAX_FRAMES,
    Frame,
    GoroutineStack,
    goroutine_stack,
    unwind,
)
from dapgo.engine.target import Registers

OS_THREAD_ID_BASE = 1 << 30


class StopContext:
    def __init__(self, program: Program, current_tid: int | None,
                 only_tid: int | None = None, selected: int | None = None) -> None:
        self.program = program
        program.memory.forget()  # a new stop: the program may have changed anything
        self.current_tid = current_tid  # the thread the stop is reported on
        self._only = only_tid
        self._selected = selected  # the goroutine of the stop, when not current_tid's
        self._gset: GoroutineSet | None = None
        self._g_of_tid: dict[int, Goroutine | None] = {}
        self._frames: dict[int, list[Frame]] = {}

    @classmethod
    def one_thread(cls, program: Program, tid: int) -> StopContext:
        """Only `tid` is stopped: never look at another thread or at all goroutines."""
        return cls(program, tid, only_tid=tid)

    @property
    def whole(self) -> bool:
        """Every thread is stopped: all goroutines may be read."""
        return self._only is None

    def thread_ids(self) -> list[int]:
        return [self._only] if self._only is not None else self.program.target.thread_ids()

    # ----- goroutines and threads -----

    def goroutine_set(self) -> GoroutineSet:
        """Every goroutine, read once (batched) for this stop."""
        if not self.whole:
            raise DebuggerError("only one thread is stopped here")
        if self._gset is None:
            self._gset = self.program.goroutines.snapshot()
        return self._gset

    def goroutine_of_thread(self, tid: int) -> Goroutine | None:
        """The user goroutine on OS thread `tid` (following m.curg from g0), if any."""
        if tid not in self._g_of_tid:
            try:
                g = self.program.goroutines.of_thread(tid)
            except (OSError, DebuggerError, KeyError):
                g = None
            self._g_of_tid[tid] = g
        return self._g_of_tid[tid]

    def thread_id_of(self, tid: int) -> int:
        """The DAP thread id for an OS thread: its goroutine's id, else a pseudo id."""
        g = self.goroutine_of_thread(tid)
        return g.id if g is not None and g.id else OS_THREAD_ID_BASE + tid

    def tid_running(self, thread_id: int) -> int | None:
        """The OS thread running DAP thread `thread_id` on its own stack, or in C code of a
        cgo call (None: parked, or on the system stack in the runtime, where the thread's
        registers are not the goroutine's). In a
        one-thread context, the thread stopped alone (its code is what is being looked at,
        system stack or not)."""
        target = self.program.target
        if self._only is not None and self.thread_id_of(self._only) == thread_id:
            return self._only  # the thread stopped alone is where that code runs, even on g0
        if thread_id >= OS_THREAD_ID_BASE:
            tid = thread_id - OS_THREAD_ID_BASE
            return tid if tid in self.thread_ids() and target.has_thread(tid) else None
        found = self._thread_of(thread_id)
        if found is None:
            return None
        tid, g = found
        running = thread_running(target, g)
        return tid if running is None and self._in_c(tid, g) else running

    def _thread_of(self, thread_id: int) -> tuple[int, Goroutine] | None:
        """The OS thread whose user goroutine (m.curg) is `thread_id`, and that goroutine."""
        for tid in self.thread_ids():
            g = self.goroutine_of_thread(tid)
            if g is not None and g.id == thread_id:
                return tid, g
        return None

    def _in_c(self, tid: int, g: Goroutine) -> bool:
        """Is goroutine g in a cgo call, its thread running C code (on the system stack)?
        Then that thread's registers are where g is: its frames start in C."""
        binary = self.program.binary
        if not binary.has_cgo or g.status != G_SYSCALL:
            return False
        try:
            return binary.function_for_pc(self.program.target.registers(tid).pc) is None
        except OSError:
            return False

    def selected_goroutine(self) -> int | None:
        """The goroutine of the stop (the one marked `*`)."""
        if self._selected is not None:
            return self._selected
        if self.current_tid is None:
            return None
        gid = self.thread_id_of(self.current_tid)
        return gid if gid < OS_THREAD_ID_BASE else None

    # ----- registers and frames -----

    def frame0_registers(self, thread_id: int) -> Registers | None:
        """Registers of the thread running `thread_id`'s innermost frame, on the
        goroutine's stack or on the system stack for it (None when parked)."""
        tid, _ = self.frame0_thread(thread_id)
        return self.program.target.registers(tid) if tid is not None else None

    def frame0_thread(self, thread_id: int) -> tuple[int | None, bool]:
        """The thread running `thread_id`'s innermost frame, and whether that frame is on
        the system stack."""
        tid = self.tid_running(thread_id)
        if tid is not None or thread_id >= OS_THREAD_ID_BASE:
            return tid, False
        # not on its own stack, yet some thread's m.curg: that thread runs the runtime
        # for it on g0 (runtime.systemstack, mcall), or on gsignal in a signal handler
        found = self._thread_of(thread_id)
        if found is None or not self.program.target.has_thread(found[0]):
            return None, False
        return found[0], True

    def _goroutine(self, thread_id: int) -> Goroutine | None:
        if thread_id >= OS_THREAD_ID_BASE:
            return None
        found = self._thread_of(thread_id)
        if found is not None:
            return found[1]
        return self.goroutine_set().get(thread_id) if self.whole else None

    def frames(self, thread_id: int, limit: int = MAX_FRAMES) -> list[Frame]:
        """The goroutine's frames, innermost first (cached for the whole stack). A goroutine
        on a thread starts from that thread's registers: in C code (cgo), or in the runtime
        on the system stack, whose frames lead back to the goroutine's own (stack.unwind);
        a parked one from where the scheduler saved it."""
        cached = self._frames.get(thread_id)
        if cached is not None:
            return cached[:limit]
        tid, system = self.frame0_thread(thread_id)
        g = self._goroutine(thread_id)
        # the goroutine's stack is needed for cgo's stack switches and for the way back
        # from the system stack
        stack = self._stack_of(g) if system or self.program.binary.has_cgo else None
        if tid is not None:
            regs = self.program.target.registers(tid)
            frames = unwind(self.program.target, regs.pc, regs.sp, limit, bp=regs.bp,
                            g=stack)
        elif thread_id >= OS_THREAD_ID_BASE or not self.whole:
            raise DebuggerError(f"unknown thread {thread_id}")
        elif g is None:
            raise DebuggerError(f"unknown goroutine {thread_id}")
        else:
            frames = unwind(self.program.target, g.pc, g.sp, limit, g=stack)
        if limit >= MAX_FRAMES:
            self._frames[thread_id] = frames
        return frames

    def _stack_of(self, g: Goroutine | None) -> GoroutineStack | None:
        """The goroutine's stack bounds and saved pc/sp, for unwinding across stacks."""
        if g is None:
            return None
        return goroutine_stack(self.program.target, g.addr, g.pc, g.sp)

    def frame(self, thread_id: int, index: int) -> Frame:
        frames = self.frames(thread_id) if index else self.frames(thread_id, 1)
        if not 0 <= index < len(frames):
            raise DebuggerError(f"no frame {index} on goroutine {thread_id}")
        return frames[index]
