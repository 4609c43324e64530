"""Data breakpoints: hardware watchpoints on values, following a local when its
goroutine's stack moves and ending when its frame returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from dapgo.engine.dwarf import GoType, TypeRef
from dapgo.engine.errors import DebuggerError, ProcessError
from dapgo.engine.eval import Const, EvalError, evaluate
from dapgo.engine.eval.assign import find_child
from dapgo.engine.goroutines import (
    Goroutine,
)
from dapgo.engine.hwbreak import (
    NUM_SLOTS,
    AccessType,
    WatchpointError,
    allocate,
)
from dapgo.engine.model import (
    BreakpointChanged,
    BreakpointStatus,
    DataBreakpointInfo,
    DataBreakpointSpec,
    Output,
)
from dapgo.engine.values import (
    UnreadableError,
    ValueRef,
)
from dapgo.engine.watchpoints import DataBreakpoint, WatchTarget, decode_data_id

if TYPE_CHECKING:  # the eBPF backend is imported on first use: bcc is slow to import
    pass

from dapgo.engine.facade.inspect import Inspection
from dapgo.engine.facade.state import (
    ScopeRef,
)


class DataBreakpoints(Inspection):
    """Data breakpoints on the x86 debug registers, following stack variables."""

    # ----- data breakpoints (hardware watchpoints) -----

    def data_breakpoint_info(
        self, handle: object | None, name: str, thread_id: int | None, frame_index: int
    ) -> DataBreakpointInfo:
        """Can `name` (a child of `handle`, or an expression in a frame) be watched?"""
        with self._lock:
            self._require_stopped()
            try:
                target = self._ex().call(self._watch_target, handle, name, thread_id,
                                         frame_index)
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

    def _watch_target(
        self, handle: object | None, name: str, thread_id: int | None, frame_index: int
    ) -> WatchTarget:
        assert self._binary is not None and self._values is not None
        if isinstance(handle, ScopeRef):
            thread_id, frame_index = handle.thread_id, handle.frame_index
            found = [v for shown, v in self._frame_vars(handle) if shown == name]
            if not found:
                raise DebuggerError(f"no variable {name} in this scope")
            var = found[0]
            if var.location is None:
                raise DebuggerError("optimized out")
            frame = self._frames_for(thread_id)[frame_index]
            where = self._values.address_of(var.location, frame.cfa, None)
            if not isinstance(where, int):
                raise DebuggerError("it lives in registers, not in memory")
            return self._watch_on(name, where, var.type, thread_id, frame_index)
        if isinstance(handle, ValueRef):
            try:
                child = find_child(self._values, handle, name)
            except EvalError as exc:
                raise DebuggerError(str(exc)) from exc
            if not child.addr:
                raise DebuggerError("it is not in memory")
            return self._watch_on(name, child.addr, child.type, None, 0)
        if handle is not None:
            raise DebuggerError("unknown variables reference")
        if thread_id is not None:  # a plain name in the frame: a local or an argument
            for args in (False, True):
                scope = ScopeRef(thread_id, frame_index, args)
                if any(shown == name for shown, _ in self._frame_vars(scope)):
                    return self._watch_target(scope, name, None, 0)
        # any addressable Go expression: main.hits, p.count, s[3], *p, m.field.sub
        try:
            value = evaluate(name, self._eval_scope(thread_id, frame_index))
        except EvalError as exc:
            raise DebuggerError(str(exc)) from exc
        if isinstance(value, Const) or not value.addr:
            raise DebuggerError("it is not a value in memory (a constant or a computed value)")
        return self._watch_on(name, value.addr, value.type, thread_id, frame_index)

    def _watch_on(
        self, name: str, addr: int, tref: TypeRef | GoType, thread_id: int | None,
        frame_index: int,
    ) -> WatchTarget:
        """A watch on [addr, addr+size); stack addresses are tied to their frame."""
        assert self._binary is not None
        t = tref if isinstance(tref, GoType) else self._binary.type_info(tref)
        if t.kind in ("ptr", "unsafe.Pointer", "map", "chan", "func") and t.size == 0:
            t = attrs.evolve(t, size=8)  # Go's DWARF gives pointer types no byte size
        if t.size == 0:
            raise DebuggerError("a zero-size value cannot be watched")
        if t.size > 8 * NUM_SLOTS:
            raise DebuggerError(f"it is {t.size} bytes; the debug registers cover at most "
                                f"{8 * NUM_SLOTS}")
        for g in self._goroutine_map().values():
            lo = self._stack_lo(g)
            if lo <= addr < g.stack_hi:
                ret = depth = None
                frames = self._frames_for(g.id)
                # the frame owning the address: the innermost whose CFA is above it
                for i, f in enumerate(frames):
                    if f.cfa is not None and addr < f.cfa and i + 1 < len(frames):
                        ret, depth = frames[i + 1].pc, g.stack_hi - f.cfa
                        break
                return WatchTarget(name, addr, t.size, t.name, g.id, g.stack_hi - addr,
                                   ret, depth)
        return WatchTarget(name, addr, t.size, t.name)

    def _stack_lo(self, g: Goroutine) -> int:
        assert self._binary is not None and self._target is not None
        layout = self._binary.struct_layout("runtime.g")
        assert layout is not None
        return self._target.u64(g.addr + layout.offset("stack.lo"))

    def set_data_breakpoints(self, specs: list[DataBreakpointSpec]) -> list[BreakpointStatus]:
        """Replace every data breakpoint; those that do not fit in the four debug registers
        are answered unverified, saying why."""
        with self._lock:
            self._require_target()
            old = {w.data_id: w for w in self._watches}
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
                        id=prev.id if prev else self._bps.new_id(), data_id=spec.data_id,
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
                    statuses.append(BreakpointStatus(id=self._bps.new_id(), verified=False,
                                                     message=str(exc)))
                    continue
                watches.append(w)
                statuses.append(BreakpointStatus(id=w.id, verified=True))
            self._watches = watches
            self._while_halted(self._program_watches)
            return statuses

    def _program_watches(self) -> None:
        """On the ptrace thread, program stopped: debug registers and scope breakpoints."""
        proc = self._proc
        assert proc is not None
        proc.stop_all()  # debug registers can only be written on stopped threads
        self._watch.slots = allocate([(w.id, w.addr, w.size, w.access) for w in self._watches])
        for tid in list(proc.threads):
            self._watch.apply(tid)
        proc.on_new_thread = self._watch.apply if self._watch.active else None
        proc.before_detach = self._clear_debug_registers
        # internal breakpoints: where stack watches end, and where stacks move
        for addr in [a for a, h in self._internal_bps.items() if h == self._on_scope_end]:
            self._remove_internal_bp(addr)
        for w in self._watches:
            if w.frame_return is not None:
                self._add_internal_bp(w.frame_return, self._on_scope_end)
        copy_fn = self._binary.function("runtime.copystack") if self._binary else None
        if copy_fn is not None:
            if any(w.on_stack for w in self._watches):
                self._add_internal_bp(copy_fn.entry, self._on_copystack)
            else:
                self._remove_internal_bp(copy_fn.entry)

    def _add_internal_bp(self, addr: int, handler: Callable[[int], None]) -> None:
        assert self._proc is not None
        self._internal_bps[addr] = handler
        self._proc.insert_breakpoint(addr)

    def _remove_internal_bp(self, addr: int) -> None:
        assert self._proc is not None
        self._internal_bps.pop(addr, None)
        if addr not in self._bps.wanted_addresses():
            self._proc.remove_breakpoint(addr)

    def _clear_debug_registers(self, tid: int) -> None:
        """Before detaching: DR7 zero on the thread, read back to be sure."""
        self._watch.slots = [None] * NUM_SLOTS
        self._watch.apply(tid)
        if self._watch.dr7(tid) != 0:
            raise ProcessError(f"could not clear the debug registers of thread {tid}")

    def _on_scope_end(self, tid: int) -> None:
        """A watched local's frame returned on its goroutine: the watch ends."""
        assert self._proc is not None and self._goroutines is not None
        pc = self._proc.get_pc(tid)
        g = self._goroutines.of_thread(tid)
        if g is None:
            return
        sp = self._proc.get_regs(tid).rsp
        ended = [w for w in self._watches if w.frame_return == pc and w.goid == g.id
                 and w.frame_depth == g.stack_hi - sp]
        if not ended:
            return
        self._watches = [w for w in self._watches if w not in ended]
        self._program_watches()
        for w in ended:
            self._emit(Output("console", f"data breakpoint on {w.name} removed: the function "
                                         "owning it returned\n"))
            self._emit(BreakpointChanged(BreakpointStatus(
                id=w.id, verified=False, message=f"{w.name} went out of scope")))

    def _on_copystack(self, tid: int) -> None:
        """runtime.copystack(gp, newsize) entry: follow the watched stack when it moves."""
        assert self._proc is not None and self._goroutines is not None
        regs = self._proc.get_regs(tid)
        gp = int(regs.rax)  # first argument under Go's register ABI
        watched = [w for w in self._watches if w.on_stack]
        if not gp or not watched:
            return
        g = self._goroutines.read(gp)
        if not any(w.goid == g.id for w in watched):
            return
        ret = self._target.u64(int(regs.rsp)) if self._target else 0

        def after_copy(t: int) -> None:
            moved = self._goroutines.read(gp) if self._goroutines else None
            self._remove_internal_bp(ret)
            if moved is None or moved.stack_hi == g.stack_hi:
                return
            for w in self._watches:
                if w.goid == g.id and w.stack_offset is not None:
                    w.addr = moved.stack_hi - w.stack_offset
            self._program_watches()

        self._add_internal_bp(ret, after_copy)

