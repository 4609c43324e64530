"""What a stopped thread means: which stops the user must see.

A thread at an int3 runs the internal breakpoints there (a watched local's frame returning,
a stack moving), then counts the user breakpoints there and applies their conditions, hit
conditions and log messages (a logpoint prints and never stops); an exception breakpoint
reads the panic or fatal error. A thread stopped by a foreign SIGTRAP is an in-kernel
condition that held (the kernel names it) or a data breakpoint (DR6). Conditions and log
messages are evaluated in a one-thread stop context: the thread's siblings may still run.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import attrs

from dapgo.engine.backend import StopEvent
from dapgo.engine.breakpoints import BreakpointTable, UserBreakpoint
from dapgo.engine.crash import frames_text, read_exception
from dapgo.engine.data_breakpoints import DataBreakpoints
from dapgo.engine.errors import DebuggerError
from dapgo.engine.exception_filters import EXCEPTION_FILTERS
from dapgo.engine.fncall import Injector
from dapgo.engine.hitcount import parse_hit_condition
from dapgo.engine.inspector import Inspector
from dapgo.engine.kernel_probes import KernelProbes
from dapgo.engine.logmessage import format_log_message, parse_log_message
from dapgo.engine.model import EngineEvent, ExceptionInfo, Output, StopReason
from dapgo.engine.program import Program
from dapgo.engine.stopcontext import OS_THREAD_ID_BASE, StopContext
from dapgo.engine.watchpoints import DataBreakpoint


@attrs.frozen
class Hit:
    """A stopped thread to report: why, and which breakpoints."""

    tid: int
    reason: StopReason
    bp_ids: tuple[int, ...] = ()
    description: str | None = None
    text: str | None = None
    exception: ExceptionInfo | None = None  # for reason "exception"


class HitRules:
    def __init__(self, program: Program, table: BreakpointTable, kernel: KernelProbes,
                 watches: DataBreakpoints, inspector: Inspector,
                 emit: Callable[[EngineEvent], None]) -> None:
        self.program = program
        self.table = table
        self.kernel = kernel
        self.watches = watches
        self.inspector = inspector
        self.emit = emit
        self.calls: Injector | None = None  # function calls left running finish here

    def of(self, ev: StopEvent) -> list[Hit]:
        """The hits among the threads `ev` names (at int3s, or trapped)."""
        hits: list[Hit] = []
        for tid in ev.breakpoint_tids:
            hits.extend(self._at_breakpoint(tid))
        for tid in ev.trap_tids:
            trap = self._trap(tid)
            hits.extend(trap if trap is not None
                        else [Hit(tid, "breakpoint", (), "hardcoded breakpoint")])
        return hits

    def during_step(self, tid: int) -> list[Hit]:
        """A single step's SIGTRAP is also the one of a data breakpoint or an in-kernel
        condition on the same instruction (the kernel merges them): look for those."""
        if not self.watches.active and not self.kernel.in_use:
            return []
        return self._trap(tid) or []

    def _at_breakpoint(self, tid: int) -> list[Hit]:
        pc = self.program.process.pc(tid)
        handler = self.table.internal(pc)
        if handler is not None:
            handler(tid)
        bps = [bp for bp in self.table.at(pc) if self._should_stop(bp, tid)]
        exc = [bp for bp in bps if bp.kind == "exception"]
        if exc:
            info = self._read_exception(tid, exc[0].key)
            return [Hit(tid, "exception", tuple(b.id for b in bps), info.exception_id,
                        info.description, exception=info)]
        if not bps:
            return []
        return [Hit(tid, _reason(bps), tuple(b.id for b in bps))]

    def _trap(self, tid: int) -> list[Hit] | None:
        """What a SIGTRAP on `tid` stands for: an in-kernel condition that held, or data
        breakpoints (DR6) whose conditions hold (none: empty); None when it is neither.
        A function call left running that reaches its end is answered here (empty)."""
        if self.calls is not None and self.calls.on_trap(tid):
            return []
        kernel_bps = self.kernel.signalled(tid)
        if kernel_bps is not None:  # an in-kernel condition held: its uprobe stopped it
            if not kernel_bps:
                return []
            ids = tuple(b.id for b in kernel_bps)
            exc = [bp for bp in kernel_bps if bp.kind == "exception"]
            if exc:  # an attached program's exception breakpoints are uprobes too
                info = self._read_exception(tid, exc[0].key)
                return [Hit(tid, "exception", ids, info.exception_id, info.description,
                            exception=info)]
            return [Hit(tid, _reason(kernel_bps), ids)]
        fired = self.watches.fired(tid)
        if fired is None:
            if self.program.process.trap_signal(tid) == signal.SIGURG:
                return []  # the Go runtime's preemption signal, or a probe's stale stop
            return None
        ws = [w for w in fired if self._should_stop(w, tid)]
        if not ws:
            return []
        return [Hit(tid, "data breakpoint", tuple(w.id for w in ws),
                    f"{ws[0].name} changed" if ws[0].access == "write"
                    else f"{ws[0].name} accessed")]

    # ----- conditions, hit counts, logpoints -----

    def _should_stop(self, bp: UserBreakpoint | DataBreakpoint, tid: int) -> bool:
        """Count the hit and apply the breakpoint's condition and hit condition."""
        if bp.condition:
            try:
                holds = self._condition_holds(bp.condition, tid)
            except DebuggerError as exc:
                self.emit(Output("console", f"breakpoint {bp.id}: condition {bp.condition!r} "
                                            f"could not be evaluated, stopping: {exc}\n"))
                return True
            if not holds:
                return False
        bp.hits += 1
        if bp.hit_condition:
            try:
                if not parse_hit_condition(bp.hit_condition).matches(bp.hits):
                    return False
            except DebuggerError as exc:
                self.emit(Output("console", f"breakpoint {bp.id}: {exc}\n"))
                return True
        if isinstance(bp, UserBreakpoint) and bp.log_message is not None:
            self._log(bp, tid)
            return False  # a logpoint prints and never stops the program
        return True

    def _condition_holds(self, condition: str, tid: int) -> bool:
        ctx = StopContext.one_thread(self.program, tid)
        return self.inspector.condition_holds(ctx, condition, ctx.thread_id_of(tid))

    def _log(self, bp: UserBreakpoint, tid: int) -> None:
        """A logpoint hit on the ptrace path: evaluate its expressions in the hitting
        thread's innermost frame and print `[Go N] message` on the console."""
        assert bp.log_message is not None
        ctx = StopContext.one_thread(self.program, tid)
        thread_id = ctx.thread_id_of(tid)

        def value_of(expr: str) -> str:
            return self.inspector.evaluate(ctx, expr, thread_id, 0).value

        text = format_log_message(parse_log_message(bp.log_message), value_of)
        who = f"[Go {thread_id}]" if thread_id < OS_THREAD_ID_BASE else f"[Thread {tid}]"
        self.emit(Output("console", f"{who} {text}\n", path=bp.path, line=bp.line))

    # ----- exceptions -----

    def _read_exception(self, tid: int, filter_id: str) -> ExceptionInfo:
        """At runtime.fatalpanic / runtime.throw (this thread alone stopped): the message
        and the goroutine's stack."""
        ctx = StopContext.one_thread(self.program, tid)
        thread_id = ctx.thread_id_of(tid)
        exception_id = EXCEPTION_FILTERS[filter_id][1]
        info = read_exception(self.inspector, ctx, thread_id, exception_id)
        if info is None:
            return ExceptionInfo(exception_id=exception_id, description="",
                                 stack=frames_text(ctx.frames(thread_id)))
        return info


def _reason(bps: list[UserBreakpoint]) -> StopReason:
    if all(b.kind == "function" for b in bps):
        return "function breakpoint"
    if all(b.kind == "instruction" for b in bps):
        return "instruction breakpoint"
    if any(b.kind == "exception" for b in bps):
        return "exception"
    return "breakpoint"
