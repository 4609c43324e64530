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
from dapgo.engine.goroutines import G_RUNNING, Goroutine, GoroutineSet, thread_running
from dapgo.engine.program import Program
from dapgo.engine.stack import MAX_FRAMES, SIGNAL_TRAMPOLINE, Frame, unwind
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
        """The OS thread running DAP thread `thread_id` on its own stack (None: parked, or
        on the system stack, where the thread's registers are not the goroutine's). In a
        one-thread context, the thread stopped alone (its code is what is being looked at,
        system stack or not)."""
        target = self.program.target
        if self._only is not None and self.thread_id_of(self._only) == thread_id:
            return self._only  # the thread stopped alone is where that code runs, even on g0
        if thread_id >= OS_THREAD_ID_BASE:
            tid = thread_id - OS_THREAD_ID_BASE
            return tid if tid in self.thread_ids() and target.has_thread(tid) else None
        for tid in self.thread_ids():
            g = self.goroutine_of_thread(tid)
            if g is not None and g.id == thread_id:
                return thread_running(target, g)
        return None

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
        """Registers of the thread running `thread_id` (None when parked)."""
        tid = self.tid_running(thread_id)
        return self.program.target.registers(tid) if tid is not None else None

    def _pc_sp(self, thread_id: int) -> tuple[int, int]:
        regs = self.frame0_registers(thread_id)
        if regs is not None:
            return regs.pc, regs.sp
        if thread_id >= OS_THREAD_ID_BASE or not self.whole:
            raise DebuggerError(f"unknown thread {thread_id}")
        g = self.goroutine_set().by_id.get(thread_id)
        if g is None:
            raise DebuggerError(f"unknown goroutine {thread_id}")
        return g.pc, g.sp

    def frames(self, thread_id: int, limit: int = MAX_FRAMES) -> list[Frame]:
        """The goroutine's frames, innermost first (cached for the whole stack)."""
        cached = self._frames.get(thread_id)
        if cached is not None:
            return cached[:limit]
        frames = self._in_signal_handler(thread_id)
        if frames is None:
            pc, sp = self._pc_sp(thread_id)
            frames = unwind(self.program.target, pc, sp, limit)
        else:
            frames = frames[:limit]
        if limit >= MAX_FRAMES:
            self._frames[thread_id] = frames
        return frames

    def _in_signal_handler(self, thread_id: int) -> list[Frame] | None:
        """A running goroutine whose thread is in a signal handler (on its gsignal stack:
        a core written as the runtime crashed on a signal) has stale saved registers: its
        frames are the thread's, through the handler to the code the signal interrupted.
        None for any other goroutine."""
        if thread_id >= OS_THREAD_ID_BASE or not self.whole:
            return None
        g = self.goroutine_set().by_id.get(thread_id)
        if g is None or g.status != G_RUNNING or g.thread_id is None \
                or g.thread_id not in self.thread_ids() \
                or self.tid_running(thread_id) is not None:
            return None
        try:
            regs = self.program.target.registers(g.thread_id)
        except OSError:
            return None
        frames = unwind(self.program.target, regs.pc, regs.sp)
        names = [f.function.name if f.function else "" for f in frames]
        if SIGNAL_TRAMPOLINE not in names:
            return None
        # after the outermost signal frame: the code the first signal interrupted
        after = frames[len(names) - names[::-1].index(SIGNAL_TRAMPOLINE):]
        try:  # g.stack is {lo, hi}: the interrupted code must run on the goroutine's stack
            lo = self.program.target.u64(g.addr + self.program.goroutines.layout.stack_hi - 8)
        except OSError:
            return None
        return frames if after and lo <= after[0].sp < g.stack_hi else None

    def frame(self, thread_id: int, index: int) -> Frame:
        frames = self.frames(thread_id) if index else self.frames(thread_id, 1)
        if not 0 <= index < len(frames):
            raise DebuggerError(f"no frame {index} on goroutine {thread_id}")
        return frames[index]
