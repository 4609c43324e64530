"""Data breakpoints: hardware watchpoints on values, following a local when its goroutine's
stack moves and ending when its frame returns.

Owns the data breakpoints (dapgo.engine.watchpoints.DataBreakpoint), the debug register
allocation (dapgo.engine.hwbreak) and the internal breakpoints that keep stack watches
right: at a watched local's frame return, and at runtime.copystack.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from dapgo.engine.breakpoints import BreakpointTable
from dapgo.engine.dwarf import GoType, TypeRef
from dapgo.engine.errors import DebuggerError, ProcessError
from dapgo.engine.eval import Const, EvalError, evaluate
from dapgo.engine.eval.assign import find_child
from dapgo.engine.hwbreak import NUM_SLOTS, AccessType, DebugRegisterSet, WatchpointError, allocate
from dapgo.engine.inspector import Inspector, ScopeRef
from dapgo.engine.kernel_probes import KernelProbes
from dapgo.engine.model import (
    BreakpointChanged,
    BreakpointStatus,
    DataBreakpointInfo,
    DataBreakpointSpec,
    EngineEvent,
    Output,
)
from dapgo.engine.program import Program
from dapgo.engine.stopcontext import StopContext
from dapgo.engine.values import UnreadableError, ValueRef
from dapgo.engine.watch_events import PerfWatchSet
from dapgo.engine.watchpoints import DataBreakpoint, WatchTarget, decode_data_id


class DataBreakpoints:
    def __init__(self, program: Program, table: BreakpointTable, inspector: Inspector,
                 emit: Callable[[EngineEvent], None],
                 halted: Callable[[Callable[[], object]], object],
                 kernel: KernelProbes | None = None) -> None:
        """`halted(fn)` runs `fn` with every thread of the program stopped; an attached
        program's watches are perf events through `kernel` (dapgo.engine.watch_events)."""
        self.program = program
        self.halted = halted
        self.table = table
        self.inspector = inspector
        self.emit = emit
        proc = program.process
        self.registers: DebugRegisterSet | PerfWatchSet = DebugRegisterSet(
            proc.debug_register, proc.set_debug_register)
        if kernel is not None and program.attached:
            self.registers = PerfWatchSet(kernel)  # removed by the kernel if dapgo dies
        self.watches: list[DataBreakpoint] = []

    @property
    def active(self) -> bool:
        return self.registers.active

    # ----- what can be watched -----

    def info(self, ctx: StopContext, handle: object | None, name: str, thread_id: int | None,
             frame_index: int) -> DataBreakpointInfo:
        """Can `name` (a child of `handle`, or an expression in a frame) be watched?"""
        try:
            target = self._watch_target(ctx, handle, name, thread_id, frame_index)
        except (DebuggerError, UnreadableError) as exc:
            return DataBreakpointInfo(None, f"{name} cannot be watched: {exc}")
        except (KeyError, LookupError, OSError) as exc:
            return DataBreakpointInfo(None, f"{name} cannot be watched: {exc!r}")
        where = f"on the stack of goroutine {target.goid}" if target.goid else "in memory"
        return DataBreakpointInfo(
            target.encode(),
            f"{name} ({target.type_name}, {target.size} bytes {where}): the CPU traps "
            "writes (write) or any access (readWrite); x86 has no read-only trap",
            ("write", "readWrite"),
        )

    def _watch_target(self, ctx: StopContext, handle: object | None, name: str,
                      thread_id: int | None, frame_index: int) -> WatchTarget:
        values = self.program.values
        if isinstance(handle, ScopeRef):
            found = [fv for fv in self.inspector.frame_vars(ctx, handle) if fv.shown == name]
            if not found:
                raise DebuggerError(f"no variable {name} in this scope")
            fv = found[0]
            if isinstance(fv.value, str):
                raise DebuggerError(fv.value)
            if fv.escaped:  # on the heap: watch the value, not the frame's pointer to it
                return self._watch_on(ctx, name, fv.value.addr, fv.value.type)
            if fv.var.location is None:
                raise DebuggerError("optimized out")
            frame = ctx.frame(handle.thread_id, handle.frame_index)
            where = values.address_of(fv.var.location, frame.cfa, None)
            if not isinstance(where, int):
                raise DebuggerError("it lives in registers, not in memory")
            return self._watch_on(ctx, name, where, fv.value.type)
        if isinstance(handle, ValueRef):
            try:
                child = find_child(values, handle.value, name)
            except EvalError as exc:
                raise DebuggerError(str(exc)) from exc
            if not child.addr:
                raise DebuggerError("it is not in memory")
            return self._watch_on(ctx, name, child.addr, child.type)
        if handle is not None:
            raise DebuggerError("unknown variables reference")
        if thread_id is not None:  # a plain name in the frame: a local or an argument
            scope = ScopeRef(thread_id, frame_index)
            if any(fv.shown == name for fv in self.inspector.frame_vars(ctx, scope)):
                return self._watch_target(ctx, scope, name, None, 0)
        # any addressable Go expression: main.hits, p.count, s[3], *p, m.field.sub
        try:
            value = evaluate(name, self.inspector.eval_scope(ctx, thread_id, frame_index))
        except EvalError as exc:
            raise DebuggerError(str(exc)) from exc
        if isinstance(value, Const) or not value.addr:
            raise DebuggerError("it is not a value in memory (a constant or a computed value)")
        return self._watch_on(ctx, name, value.addr, value.type)

    def _watch_on(self, ctx: StopContext, name: str, addr: int, tref: TypeRef | GoType
                  ) -> WatchTarget:
        """A watch on [addr, addr+size); stack addresses are tied to their frame."""
        binary = self.program.binary
        t = tref if isinstance(tref, GoType) else binary.type_info(tref)
        if t.kind in ("ptr", "unsafe.Pointer", "map", "chan", "func") and t.size == 0:
            t = attrs.evolve(t, size=8)  # Go's DWARF gives pointer types no byte size
        if t.size == 0:
            raise DebuggerError("a zero-size value cannot be watched")
        if t.size > 8 * NUM_SLOTS:
            raise DebuggerError(f"it is {t.size} bytes; the debug registers cover at most "
                                f"{8 * NUM_SLOTS}")
        layout = binary.struct_layout("runtime.g")
        assert layout is not None
        for g in ctx.goroutine_set().goroutines:
            lo = self.program.target.u64(g.addr + layout.offset("stack.lo"))
            if lo <= addr < g.stack_hi:
                ret = depth = None
                frames = ctx.frames(g.id)
                # the frame owning the address: the innermost whose CFA is above it
                for i, f in enumerate(frames):
                    if f.cfa is not None and addr < f.cfa and i + 1 < len(frames):
                        ret, depth = frames[i + 1].pc, g.stack_hi - f.cfa
                        break
                return WatchTarget(name, addr, t.size, t.name, g.id, g.stack_hi - addr,
                                   ret, depth)
        return WatchTarget(name, addr, t.size, t.name)

    # ----- setting -----

    def set(self, specs: list[DataBreakpointSpec]) -> list[BreakpointStatus]:
        """Replace every data breakpoint (program stopped); those that do not fit in the
        four debug registers are answered unverified, saying why."""
        old = {w.data_id: w for w in self.watches}
        watches: list[DataBreakpoint] = []
        statuses: list[BreakpointStatus] = []
        for spec in specs:
            try:
                wt = decode_data_id(spec.data_id)
                if spec.access_type not in ("write", "readWrite"):
                    raise DebuggerError(
                        f"access type {spec.access_type!r} is not supported: x86 debug "
                        "registers trap writes or any access (use write or readWrite)")
                access: AccessType = "write" if spec.access_type == "write" else "readWrite"
                prev = old.get(spec.data_id)
                w = DataBreakpoint(
                    id=prev.id if prev else self.table.new_id(), data_id=spec.data_id,
                    name=wt.name, addr=wt.addr, size=wt.size, access=access,
                    condition=spec.condition, hit_condition=spec.hit_condition,
                    hits=prev.hits if prev else 0, goid=wt.goid,
                    stack_offset=wt.stack_offset, frame_return=wt.frame_return,
                    frame_depth=wt.frame_depth,
                )
                if prev is not None and prev.on_stack:
                    w.addr = prev.addr  # it may have moved with its stack meanwhile
                allocate([(x.id, x.addr, x.size, x.access) for x in [*watches, w]])
            except (DebuggerError, WatchpointError) as exc:
                statuses.append(BreakpointStatus(id=self.table.new_id(), verified=False,
                                                 message=str(exc)))
                continue
            watches.append(w)
            statuses.append(BreakpointStatus(id=w.id, verified=True))
        self.watches = watches
        self.apply()
        return statuses

    def apply(self) -> None:
        """Program every thread's debug registers, and the internal breakpoints that keep
        stack watches right; debug registers can only be written on stopped threads."""
        self.halted(self._apply)

    def _apply(self) -> None:
        proc = self.program.process
        self.registers.slots = allocate([(w.id, w.addr, w.size, w.access)
                                         for w in self.watches])
        if isinstance(self.registers, PerfWatchSet):
            self.registers.forget_threads(set(proc.thread_ids()))
        for tid in proc.thread_ids():
            try:
                self.registers.apply(tid)
            except OSError as exc:
                if not isinstance(self.registers, PerfWatchSet):
                    raise
                self._fall_back_to_registers(str(exc))
                return self._apply()
        proc.on_new_thread = self.registers.apply if self.registers.active else None
        proc.before_detach = self._clear_debug_registers
        for addr in self.table.internal_addresses(self._on_scope_end):
            self.table.drop_internal(addr)
        for w in self.watches:
            if w.frame_return is not None:
                self.table.set_internal(w.frame_return, self._on_scope_end)
        copy_fn = self.program.binary.function("runtime.copystack")
        if copy_fn is not None:
            if any(w.on_stack for w in self.watches):
                self.table.set_internal(copy_fn.entry, self._on_copystack)
            else:
                self.table.drop_internal(copy_fn.entry)
        self.table.sync(proc)

    def _fall_back_to_registers(self, why: str) -> None:
        """No perf events (no eBPF): debug registers through ptrace, which a killed dapgo
        leaves set (the program then dies at the next write to the watched variable)."""
        assert isinstance(self.registers, PerfWatchSet)
        slots = self.registers.slots
        self.registers.close()
        proc = self.program.process
        self.registers = DebugRegisterSet(proc.debug_register, proc.set_debug_register)
        self.registers.slots = slots
        self.emit(Output("console", "dapgo: data breakpoints use the debug registers: if "
                                    "dapgo is killed, the next write to the watched "
                                    f"variable kills the program ({why})\n"))

    def close(self) -> None:
        """Remove the perf events of an attached program's watches."""
        if isinstance(self.registers, PerfWatchSet):
            self.registers.close()

    def _clear_debug_registers(self, tid: int) -> None:
        """Before detaching: DR7 zero on the thread, read back to be sure."""
        self.registers.slots = [None] * NUM_SLOTS
        self.registers.apply(tid)
        if self.registers.dr7(tid) != 0:
            raise ProcessError(f"could not clear the debug registers of thread {tid}")

    # ----- what a trap means -----

    def fired(self, tid: int) -> list[DataBreakpoint] | None:
        """The data breakpoints whose debug register fired on `tid` (DR6, then cleared);
        empty when a register fired for a data breakpoint removed since; None when no
        debug register fired."""
        fired = self.registers.fired(tid)
        if fired is None:
            return None
        owners = {s.owner for s in fired}
        return [w for w in self.watches if w.id in owners]

    # ----- internal breakpoints -----

    def _on_scope_end(self, tid: int) -> None:
        """A watched local's frame returned on its goroutine: the watch ends."""
        program = self.program
        g = program.goroutines.of_thread(tid)
        if g is None:
            return
        regs = program.target.registers(tid)
        ended = [w for w in self.watches if w.frame_return == regs.pc and w.goid == g.id
                 and w.frame_depth == g.stack_hi - regs.sp]
        if not ended:
            return
        self.watches = [w for w in self.watches if w not in ended]
        self.apply()
        for w in ended:
            self.emit(Output("console", f"data breakpoint on {w.name} removed: the function "
                                        "owning it returned\n"))
            self.emit(BreakpointChanged(BreakpointStatus(
                id=w.id, verified=False, message=f"{w.name} went out of scope")))

    def _on_copystack(self, tid: int) -> None:
        """runtime.copystack(gp, newsize) entry: follow the watched stack when it moves."""
        program = self.program
        regs = program.target.registers(tid)
        gp = regs.values["rax"]  # first argument under Go's register ABI
        watched = [w for w in self.watches if w.on_stack]
        if not gp or not watched:
            return
        g = program.goroutines.read(gp)
        if not any(w.goid == g.id for w in watched):
            return
        ret = program.target.u64(regs.sp)

        def after_copy(t: int) -> None:
            moved = program.goroutines.read(gp)
            self.table.drop_internal(ret)
            if moved.stack_hi == g.stack_hi:
                self.halted(lambda: self.table.sync(program.process))
                return
            for w in self.watches:
                if w.goid == g.id and w.stack_offset is not None:
                    w.addr = moved.stack_hi - w.stack_offset
            self.apply()

        self.table.set_internal(ret, after_copy)
        self.halted(lambda: self.table.sync(program.process))
