"""Go's debugger call protocol (runtime.debugCallV2, amd64): running one function call on a
stopped goroutine's thread, only that thread running.

The protocol (documented in the runtime's asm_amd64.s): the debugger saves every
register, pushes the goroutine's pc, writes the argument frame size below it, and sets the
pc to runtime.debugCallV2. The runtime then stops with int3s, saying what it wants in R12:

* 8: it refuses (runtime.debugCallCheck: not at a safe point, in the runtime, on the system
  stack...): the reason is a string at SP;
* 0: a frame of the chosen size is ready (in debugCall32..debugCall65536, on a new
  goroutine locked to this thread): write the arguments (registers and stack, ABIInternal),
  push the trapping pc, set the pc to the function (RDX: its closure);
* 1: the function returned: its results are in registers and at SP;
* 2: it panicked: the panic value (an `interface {}`) is at SP;
* 16: the call is over: restore every register but RIP and RSP, and step out.

`Injector.call` drives this with the program's other threads stopped. A breakpoint or a
data breakpoint hit inside the call (decided by the ordinary hit rules) ends it early: the
call is left in progress and finishes, in the background, when the program runs again
(`Injector.on_trap` answers its protocol stops then). So does a call that does not return
within its timeout.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from dapgo.engine.hits import Hit

from dapgo.engine.abi import INT_REGS, FrameLayout, Placement
from dapgo.engine.alarm import Alarm
from dapgo.engine.backend import StopEvent
from dapgo.engine.dwarf.model import Function, GoType
from dapgo.engine.errors import DebuggerError
from dapgo.engine.program import Program
from dapgo.engine.stopcontext import StopContext
from dapgo.engine.values import Value

log = logging.getLogger(__name__)

MIN_STACK = 256  # bytes the runtime needs free below SP
MAX_FRAME = 65536
G_RUNNING = 2
G_SYSCALL = 3
STATUS_SCAN = 0x1000
XMM_OFFSET = 160  # XMM0 in the FXSAVE area
MAX_STEP_OUT = 64  # instructions from debugCallV2's last int3 to its RET
SOLO_CHECK = 0.05  # seconds between looks at whether the calling thread sleeps
SLEEPS_BEFORE_ALL = 2  # looks that find it asleep before every thread runs

READY, RETURNED, PANICKED, REFUSED, RESTORE = 0, 1, 2, 8, 16

Decide = Callable[[StopEvent], list["Hit"]]  # HitRules.of: what a stop means (empty: nothing)


def busy(goroutine: int) -> str:
    return (f"goroutine {goroutine} is still running an earlier call (it did not return, "
            "or stopped at a breakpoint): continue to let it finish")


class CallError(DebuggerError):
    """A call that could not be made or did not complete; the message says why."""


class CallInterrupted(CallError):
    """The call stopped before returning (a breakpoint inside it, or the timeout): it goes
    on when the program runs again. `hits` are the stops to report (none for a timeout)."""

    def __init__(self, message: str, hits: list[Hit]) -> None:
        super().__init__(message)
        self.hits = hits


@attrs.frozen
class CallPlan:
    """What to call and how its values travel (dapgo.engine.abi)."""

    fn: Function
    closure: int
    args: tuple[tuple[GoType, bytes], ...]  # receiver first, already of the formal types
    results: tuple[tuple[str, GoType], ...]
    layout: FrameLayout


@attrs.frozen
class Outcome:
    results: tuple[tuple[str, Value], ...] = ()
    panic: Value | None = None
    panic_stack: tuple[str, ...] = ()
    everyone: bool = False  # the other goroutines ran too (the call waited on them)


@attrs.define
class _Call:
    tid: int
    goroutine: int
    plan: CallPlan
    regs: dict[str, int]
    fp: bytes
    started: bool = False  # the arguments are written and the function runs
    results: tuple[tuple[str, Value], ...] = ()
    panic: Value | None = None
    panic_stack: tuple[str, ...] = ()
    refused: str | None = None
    done: bool = False
    everyone: bool = False  # every thread runs (the call waited on another goroutine)


class Injector:
    """Function calls into one program."""

    def __init__(self, program: Program, decide: Decide,
                 on_finished: Callable[[CallPlan, Outcome], None] | None = None) -> None:
        """`decide` says what a stop that is not the protocol's means (the hit rules);
        `on_finished` hears of calls that finish in the background."""
        self.program = program
        self.decide = decide
        self.on_finished = on_finished
        self._v2: Function | None = None
        # by thread: calls left running, the innermost (a call made from a call stopped at
        # a breakpoint) last
        self._abandoned: dict[int, list[_Call]] = {}
        self._alarm = Alarm()

    # ----- checks -----

    def entry(self) -> Function:
        """runtime.debugCallV2, or why calls cannot be made in this program."""
        if self._v2 is None:
            fn = self.program.binary.function("runtime.debugCallV2")
            if fn is None:
                raise CallError(
                    "this program cannot run function calls: it has no runtime.debugCallV2 "
                    "(Go 1.21 or later on amd64 is needed, and the symbol must not be "
                    "stripped)")
            self._v2 = fn
        return self._v2

    def check_goroutine(self, tid: int, goroutine: int) -> None:
        """Calls run on a goroutine running user code on its own thread."""
        program = self.program
        if program.process.read_only:
            raise CallError("function calls need a live program")
        if self.waiting(goroutine):
            raise CallError(busy(goroutine))
        g = program.goroutines.of_thread(tid)
        if g is None or g.id != goroutine or program.target.g_of_thread(tid) != g.addr:
            raise CallError(f"goroutine {goroutine} is on the system stack: no call can "
                            "start here")
        status = g.status & ~STATUS_SCAN
        if status == G_SYSCALL:
            raise CallError(f"goroutine {goroutine} is in a system call (or in C code "
                            "through cgo): no call can start there")
        if status != G_RUNNING:
            raise CallError(f"goroutine {goroutine} is not running (status {status})")

    def close(self) -> None:
        self._alarm.close()

    @property
    def left_running(self) -> int:
        """How many calls are left running (they need dapgo to end)."""
        return sum(len(calls) for calls in self._abandoned.values())

    def waiting(self, goroutine: int) -> bool:
        """Whether `goroutine` waits for a call left running (it did not return in time,
        or stopped at a breakpoint)."""
        return any(c.goroutine == goroutine for calls in self._abandoned.values()
                   for c in calls)

    # ----- one call -----

    def call(self, tid: int, goroutine: int, plan: CallPlan, timeout: float) -> Outcome:
        """Run `plan` on thread `tid` (every thread stopped; only `tid` runs). Returns the
        results or the panic; raises CallError when the runtime refuses, CallInterrupted
        when a breakpoint inside it stops or `timeout` seconds pass."""
        v2 = self.entry()
        if plan.layout.size > MAX_FRAME:
            raise CallError(f"the arguments and results of {plan.fn.name} need "
                            f"{plan.layout.size} bytes: more than the runtime allows")
        proc = self.program.process
        regs = proc.registers(tid)
        lo = self._stack_lo(tid)
        if lo is not None and regs.sp - MIN_STACK <= lo:
            raise CallError("not enough stack space on this goroutine to start a call")
        call = _Call(tid, goroutine, plan, dict(regs.values), proc.fp_state(tid))
        sp = regs.sp - 8
        target = self.program.target
        target.write(sp, struct.pack("<Q", regs.pc))
        target.write(sp - 16, struct.pack("<Q", plan.layout.size))
        proc.set_registers(tid, {"rsp": sp, "rip": v2.entry, "orig_rax": -1})
        deadline = time.monotonic() + timeout
        self._alarm.arm(min(deadline, time.monotonic() + SOLO_CHECK), proc.wake)
        proc.hold_new_threads = True  # threads the runtime starts meanwhile wait too
        try:
            self._drive(call, deadline, timeout)
        finally:
            proc.hold_new_threads = False
            self._alarm.disarm()
            proc.stop_all()  # threads made while the call ran
        if call.refused is not None:
            raise CallError(f"the Go runtime refused the call: {call.refused}")
        return Outcome(call.results, call.panic, call.panic_stack, call.everyone)

    def _drive(self, call: _Call, deadline: float, timeout: float) -> None:
        """Answer the protocol's stops until the call is over. Only the calling thread runs
        while it can; when it sleeps in the kernel (the call waits for another goroutine,
        a lock, the garbage collector's workers), every thread runs: then a breakpoint hit
        on another goroutine stops the program too, as in Delve."""
        proc = self.program.process
        tid = call.tid
        proc.resume([tid])
        asleep = 0
        while not call.done:
            ev = proc.wait_event()
            if ev.kind == "exited":
                raise CallError(f"the program exited during the call (status {ev.exit_code})")
            if ev.kind == "wake":
                now = time.monotonic()
                if now >= deadline:
                    proc.stop_all()
                    self._leave(call)
                    raise CallInterrupted(
                        f"the call did not return within {timeout:g} s; it goes on when "
                        "the program runs again (continue), and may never end", [])
                if not call.everyone:
                    asleep = asleep + 1 if proc.thread_sleeping(tid) else 0
                    if asleep >= SLEEPS_BEFORE_ALL:
                        call.everyone = True
                        proc.hold_new_threads = False
                        self._resume_others(tid)
                self._alarm.arm(min(deadline, now + SOLO_CHECK), proc.wake)
                continue
            if ev.tid != tid:
                if call.everyone:
                    self._other_stop(call, ev)
                continue  # a thread made during the call stopped on its own: keep it
            if ev.kind == "trap" and self._protocol_stop(tid):
                self._step(call, alone=not call.everyone)
                if not call.done:
                    self._go_on(tid)
                continue
            hits = self._decide(ev)
            if hits:
                proc.stop_all()
                self._leave(call)
                raise CallInterrupted(f"the call of {call.plan.fn.name} stopped at a "
                                      "breakpoint; continue to let it finish", hits)
            self._go_on(tid)

    def _resume_others(self, tid: int) -> None:
        """Every thread runs, but those sitting at a breakpoint or trap of their own (a
        stop not yet reported, as simultaneous hits): they keep it."""
        proc = self.program.process
        found = proc.stopped_at_events()
        keep = set(found.breakpoint_tids + found.trap_tids) if found is not None else set()
        proc.resume([t for t in proc.thread_ids() if t != tid and t not in keep])

    def _leave(self, call: _Call) -> None:
        """`call` goes on when the program runs; its protocol stops come to `on_trap`."""
        self._abandoned.setdefault(call.tid, []).append(call)

    def _decide(self, ev: StopEvent) -> list[Hit]:
        return self.decide(StopEvent(
            ev.kind, tid=ev.tid,
            breakpoint_tids=(ev.tid,) if ev.kind == "breakpoint" else (),
            trap_tids=(ev.tid,) if ev.kind == "trap" else ()))

    def _go_on(self, tid: int) -> None:
        proc = self.program.process
        if proc.pc(tid) in proc.breakpoints:  # stepping over it: the others stop a moment
            was_running = proc.stop_all()
            proc.step_instruction(tid)
            proc.resume([t for t in was_running if t != tid] + [tid])
        else:
            proc.resume([tid])

    def _other_stop(self, call: _Call, ev: StopEvent) -> None:
        """Another thread stopped while every thread runs for the call: a stop the user
        must see interrupts the call; anything else goes on."""
        hits = self._decide(ev)
        if hits:
            self.program.process.stop_all()
            self._leave(call)
            raise CallInterrupted(f"a breakpoint stopped the program during the call of "
                                  f"{call.plan.fn.name}; continue to let it finish", hits)
        self._go_on(ev.tid)

    def _protocol_stop(self, tid: int) -> bool:
        """Whether `tid` stopped on one of the protocol's int3s."""
        pc = self.program.process.pc(tid)
        fn = self.program.binary.function_for_pc(pc - 1)
        if fn is None or not (fn.name.startswith("runtime.debugCall")
                              or fn.name.startswith("debugCall")):
            return False
        return self.program.target.read(pc - 1, 1) == b"\xcc"

    def _step(self, call: _Call, alone: bool = True) -> None:
        """Answer one protocol stop of `call` (`alone`: only its thread runs)."""
        proc = self.program.process
        tid = call.tid
        regs = proc.registers(tid)
        status = regs.values["r12"]
        target = self.program.target
        if status == REFUSED:
            ptr, n = struct.unpack("<Qq", target.read(regs.sp, 16))
            call.refused = target.read(ptr, n).decode("utf-8", "replace") if n > 0 else "?"
        elif status == READY:
            if call.started:  # an abandoned call that never got its arguments: skip it
                return
            self._write_args(call, regs.sp, regs.pc)
            call.started = True
        elif status == RETURNED:
            call.results = self._read_results(call, regs.sp, regs.values)
        elif status == PANICKED:
            t = self.program.values.basic("interface {}")
            call.panic = Value(t, 0, target.read(regs.sp, 16))
            call.panic_stack = self._stack_text(tid)
        elif status == RESTORE:
            self._restore(call, alone)
            call.done = True
        else:
            log.warning("unknown debug call protocol status %#x", status)

    def _write_args(self, call: _Call, sp: int, pc: int) -> None:
        proc = self.program.process
        target = self.program.target
        plan = call.plan
        gp: dict[str, int] = {}
        fp = bytearray(proc.fp_state(call.tid))
        for (_t, data), place in zip(plan.args, plan.layout.args, strict=True):
            if place.stack is not None:
                if data:
                    target.write(sp + place.stack, data)
                continue
            for part in place.parts:
                chunk = data[part.offset:part.offset + part.size].ljust(8, b"\0")
                if part.reg in INT_REGS:
                    gp[part.reg] = int.from_bytes(chunk, "little")
                else:
                    at = XMM_OFFSET + 16 * int(part.reg[1:])
                    fp[at:at + 16] = chunk + bytes(8)
        fp[XMM_OFFSET + 16 * 15:XMM_OFFSET + 16 * 16] = bytes(16)  # X15: zero (ABIInternal)
        proc.set_fp_state(call.tid, bytes(fp))
        target.write(sp - 8, struct.pack("<Q", pc))  # return to the protocol's next int3
        gp.update(rsp=sp - 8, rip=plan.fn.entry, rdx=plan.closure,
                  r14=self.program.target.g_of_thread(call.tid), orig_rax=-1)
        proc.set_registers(call.tid, gp)

    def _read_results(self, call: _Call, sp: int, regs: dict[str, int]
                      ) -> tuple[tuple[str, Value], ...]:
        fp = self.program.process.fp_state(call.tid)
        out = []
        for (name, t), place in zip(call.plan.results, call.plan.layout.results,
                                    strict=True):
            out.append((name, Value(t, 0, self._gather(t, place, sp, regs, fp))))
        return tuple(out)

    def _gather(self, t: GoType, place: Placement, sp: int, regs: dict[str, int],
                fp: bytes) -> bytes:
        if place.stack is not None:
            return self.program.target.read(sp + place.stack, t.size)
        data = bytearray(t.size)
        for part in place.parts:
            if part.reg in INT_REGS:
                chunk = (regs[part.reg] & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
            else:
                at = XMM_OFFSET + 16 * int(part.reg[1:])
                chunk = fp[at:at + 8]
            data[part.offset:part.offset + part.size] = chunk[:part.size]
        return bytes(data)

    def _restore(self, call: _Call, alone: bool) -> None:
        """Every register back but RIP and RSP; then out of debugCallV2 (its tail reloads
        the pointer registers the runtime may have moved, and returns), then RFLAGS."""
        proc = self.program.process
        tid = call.tid
        keep = proc.registers(tid)
        saved = {k: v for k, v in call.regs.items()
                 if k not in ("rip", "rsp", "orig_rax", "fs_base", "gs_base")}
        proc.set_registers(tid, {**saved, "rip": keep.pc, "rsp": keep.sp, "orig_rax": -1})
        proc.set_fp_state(tid, call.fp)
        self._step_out(tid, call.regs["rip"], alone)
        proc.set_registers(tid, {"eflags": call.regs["eflags"]})

    def _step_out(self, tid: int, back: int, alone: bool) -> None:
        """Let the thread run debugCallV2's tail up to its return to `back` (the pc the
        call started from): to a temporary breakpoint there when only this thread runs,
        else (or if anything else stops it) one instruction at a time."""
        proc = self.program.process
        v2 = self.entry()
        if alone:
            temporary = back not in proc.breakpoints
            if temporary:
                proc.insert_breakpoint(back)
            try:
                proc.resume([tid])
                while True:
                    ev = proc.wait_event()
                    if ev.kind == "exited":
                        raise CallError("the program ended while finishing the call")
                    if ev.kind != "wake" and ev.tid == tid:
                        break
            finally:
                if temporary and proc.exit_code is None:
                    proc.remove_breakpoint(back)
        for _ in range(MAX_STEP_OUT):
            if not v2.entry <= proc.pc(tid) < v2.end:
                break
            if not proc.step_instruction(tid):
                raise CallError("the program ended while finishing the call")

    def _stack_text(self, tid: int) -> tuple[str, ...]:
        """The panicking goroutine's stack, from the function that panicked down."""
        try:
            ctx = StopContext.one_thread(self.program, tid)
            frames = ctx.frames(ctx.thread_id_of(tid))
        except Exception:
            log.exception("reading the stack of a panicking call failed")
            return ()
        lines: list[str] = []
        for f in frames:
            name = f.function.name if f.function else f"?{f.pc:#x}"
            if name.startswith(("runtime.debugCall", "debugCall")) and lines:
                break  # the protocol's frames below the called function
            if name.startswith(("runtime.", "debugCall")) and not lines:
                continue  # the runtime's recovery and panic machinery above the user code
            lines.append(f"{name}()\n\t{f.file}:{f.line}")
        return tuple(lines)

    def _stack_lo(self, tid: int) -> int | None:
        lay = self.program.binary.struct_layout("runtime.g")
        g = self.program.target.g_of_thread(tid)
        if lay is None or not g:
            return None
        try:
            return self.program.target.u64(g + lay.offset("stack.lo"))
        except (KeyError, OSError):
            return None

    # ----- calls left running -----

    def on_trap(self, tid: int) -> bool:
        """While the program runs: a protocol stop of a call left running (after a
        breakpoint inside it, or its timeout) is answered here (True): the thread may go
        on. A call that finishes is reported through `on_finished`."""
        calls = self._abandoned.get(tid)
        if not calls or not self._protocol_stop(tid):
            return False
        call = calls[-1]
        self._step(call, alone=False)
        if call.done:
            calls.pop()
            if not calls:
                del self._abandoned[tid]
            if self.on_finished is not None:
                self.on_finished(call.plan, Outcome(call.results, call.panic,
                                                    call.panic_stack))
        return True
