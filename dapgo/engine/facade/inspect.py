"""Inspecting a stopped program: goroutines as threads, stacks, scopes, variables,
Go expressions (evaluate, setVariable)."""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

from dapgo.engine.dwarf import AddrLoc, VarInfo
from dapgo.engine.errors import DebuggerError
from dapgo.engine.eval import Const, EvalError, FrameScope, evaluate, result_text
from dapgo.engine.eval.assign import assign, find_child
from dapgo.engine.facade.state import (
    OS_THREAD_ID_BASE,
    FacadeState,
    GlobalsRef,
    RegistersRef,
    ScopeRef,
    package_of,
)
from dapgo.engine.goroutines import (
    COMMAND_HELP,
    Goroutine,
    GoroutineCommand,
    GoroutineSet,
    GoroutineView,
    parse_command,
)
from dapgo.engine.model import (
    FrameInfo,
    ScopeInfo,
    ThreadInfo,
    VariableInfo,
)
from dapgo.engine.stack import MAX_FRAMES, Frame, unwind
from dapgo.engine.target import Registers
from dapgo.engine.values import (
    UnreadableError,
    Value,
    ValueRef,
)

if TYPE_CHECKING:  # the eBPF backend is imported on first use: bcc is slow to import
    pass


log = logging.getLogger(__name__)


class Inspection(FacadeState):
    """Threads (goroutines), stacks, scopes, variables, and Go expressions."""

    def _goroutine_map(self) -> dict[int, Goroutine]:
        return self._goroutine_set().by_id

    def _thread_id_for_tid(self, tid: int) -> int:
        """The DAP thread id for an OS thread: its goroutine's id, else a pseudo id."""
        assert self._goroutines is not None
        try:
            g = self._goroutines.of_thread(tid)
        except (OSError, DebuggerError, KeyError):
            g = None
        if g is not None and g.id:
            return g.id
        return OS_THREAD_ID_BASE + tid

    def threads(self) -> list[ThreadInfo]:
        """Goroutines as threads, filtered and capped as `set_goroutine_options` says (how
        many were left out: `last_threads_omitted`). While the program runs: the last
        answer, or the program is halted briefly. Never raises."""
        with self._lock:
            view = self._goroutine_view()
            try:
                if self._state == "running":
                    if view.last is not None:
                        return list(view.last)
                    out = self._while_halted(self._list_threads)
                    self._g_by_id = None  # read during a brief halt: not this stop's
                    return out
                if self._state != "stopped":
                    return list(self._threads_cache)
                if not self._threads_cache:
                    self._threads_cache = self._ex().call(self._list_threads)
                return list(self._threads_cache)
            except Exception:
                log.exception("listing goroutines failed")
                return list(view.last or [])

    def _list_threads(self) -> list[ThreadInfo]:
        assert self._target is not None
        gs = self._goroutine_set()
        view = self._goroutine_view()
        if not gs.goroutines:  # the runtime has not started: show the OS threads themselves
            view.matched = view.omitted = 0
            out = [ThreadInfo(id=OS_THREAD_ID_BASE + tid, name=f"[Thread {tid}]")
                   for tid in self._target.thread_ids()]
        else:
            selected = self._selected_goroutine()
            out = [ThreadInfo(id=g.id, name=view.thread_name(gs, g, g.id == selected))
                   for g in view.choose(gs, selected)]
        view.last = out
        return out

    def _goroutine_view(self) -> GoroutineView:
        """The goroutine display settings (created on first use)."""
        view: GoroutineView | None = getattr(self, "_gview", None)
        if view is None:
            view = self._gview = GoroutineView()
        return view

    def _goroutine_set(self) -> GoroutineSet:
        """Every goroutine of this stop, read once (batched) until the program runs again."""
        assert self._goroutines is not None
        gs = self._goroutines.current
        if self._g_by_id is None or gs is None or gs.by_id is not self._g_by_id:
            gs = self._goroutines.snapshot()
            self._g_by_id = gs.by_id
        return gs

    def _selected_goroutine(self) -> int | None:
        """The goroutine of the last stop (the one marked `*`)."""
        if self._current_tid is None:
            return None
        gid = self._thread_id_for_tid(self._current_tid)
        return gid if gid < OS_THREAD_ID_BASE else None

    def set_goroutine_options(
        self, show_labels: list[str], hide_system: bool, filters: str, max_goroutines: int
    ) -> None:
        """`showPprofLabels` (keys, or ["*"]), `hideSystemGoroutines`, `goroutineFilters`
        (Delve syntax) and `maxGoroutines`. Raises DebuggerError (FilterError) on a filter
        that does not parse or a bad maximum, keeping the previous settings."""
        with self._lock:
            self._goroutine_view().set(show_labels, hide_system, filters, max_goroutines)
            self._goroutine_view().last = None
            self._threads_cache = []

    @property
    def last_threads_omitted(self) -> int:
        """Goroutines that matched the filters but were left out of the last `threads`
        answer by maxGoroutines (0: none)."""
        return self._goroutine_view().omitted

    def threads_omitted_message(self) -> str:
        """Console text for the last `threads` answer when goroutines were left out."""
        return self._goroutine_view().omitted_message()

    @property
    def goroutine_view_changed(self) -> bool:
        """True when the last `goroutine_command` changed what `threads` shows (send an
        `invalidated` event with areas ["threads"])."""
        return self._goroutine_view().changed

    def goroutine_command(self, args: str) -> str:
        """The `dapgo goroutines ...` REPL command (`args`: the text after `dapgo
        goroutines`); returns the text to print. Raises DebuggerError on bad arguments."""
        with self._lock:
            view = self._goroutine_view()
            view.changed = False
            cmd = parse_command(args)
            if cmd.help:
                return COMMAND_HELP
            if cmd.sets_view:
                view.apply_command(cmd)
                view.last = None
                self._threads_cache = []
            if self._state not in ("stopped", "running"):
                return view.describe() + "\n(no program is stopped: nothing to count)\n"
            if self._state == "running":
                return self._while_halted(lambda: self._goroutine_report(cmd))
            return self._ex().call(self._goroutine_report, cmd)

    def _goroutine_report(self, cmd: GoroutineCommand) -> str:
        gs = self._goroutine_set()
        view = self._goroutine_view()
        text = ""
        if cmd.sets_view:
            text = "goroutine view changed: " + view.describe() + "\n"
        return text + view.report(gs, cmd, self._selected_goroutine())

    def _user_function(self, g: Goroutine) -> str:
        """Name of the innermost non-runtime function of a goroutine (its user location)."""
        return self._goroutine_set().user_location(g).function or "?"

    def _frames_for(self, thread_id: int, limit: int = MAX_FRAMES) -> list[Frame]:
        cached = self._frames_cache.get(thread_id)
        if cached is not None:
            return cached
        target = self._require_target()
        pc, sp = self._registers_for(thread_id)
        frames = unwind(target, pc, sp, limit)
        if limit >= MAX_FRAMES:
            self._frames_cache[thread_id] = frames
        return frames

    def _registers_for(self, thread_id: int) -> tuple[int, int]:
        target = self._require_target()
        if thread_id >= OS_THREAD_ID_BASE:
            tid = thread_id - OS_THREAD_ID_BASE
            if tid not in target.proc.threads:
                raise DebuggerError(f"unknown thread {thread_id}")
            regs = target.registers(tid)
            return regs.pc, regs.sp
        g = self._goroutine_map().get(thread_id)
        if g is None:
            raise DebuggerError(f"unknown goroutine {thread_id}")
        assert self._goroutines is not None
        for tid in target.thread_ids():
            running = self._goroutines.of_thread(tid)
            if running is not None and running.id == g.id:
                regs = target.registers(tid)
                if target.g_of_thread(tid) == g.addr:  # not on the system stack
                    return regs.pc, regs.sp
        return g.pc, g.sp

    def stack_trace(self, thread_id: int, start: int, levels: int) -> tuple[list[FrameInfo], int]:
        with self._lock:
            self._require_stopped()
            frames = self._ex().call(self._frames_for, thread_id)
            end = len(frames) if levels <= 0 else min(len(frames), start + levels)
            out = [
                FrameInfo(
                    function=f.function.name if f.function else f"?{f.pc:#x}",
                    path=f.file, line=f.line, pc=f.pc,
                )
                for f in frames[start:end]
            ]
            return out, len(frames)

    def scopes(
        self, thread_id: int, frame_index: int, show_globals: bool = False
    ) -> list[ScopeInfo]:
        """Arguments and Locals; the frame's package variables when `show_globals`
        (showGlobalVariables); Registers, marked expensive."""
        with self._lock:
            self._require_stopped()
            frames = self._ex().call(self._frames_for, thread_id)
            if not 0 <= frame_index < len(frames):
                raise DebuggerError(f"no frame {frame_index} on goroutine {thread_id}")
            out = [
                ScopeInfo("Arguments", ScopeRef(thread_id, frame_index, True),
                          presentation_hint="arguments"),
                ScopeInfo("Locals", ScopeRef(thread_id, frame_index, False),
                          presentation_hint="locals"),
            ]
            fn = frames[frame_index].function
            if show_globals and fn is not None:
                pkg = package_of(fn.name)
                out.append(ScopeInfo(f"Globals ({pkg})", GlobalsRef(pkg), expensive=True))
            out.append(ScopeInfo("Registers", RegistersRef(thread_id, frame_index),
                                 expensive=True, presentation_hint="registers"))
            return out

    def variables(
        self, handle: object, start: int | None = None, count: int | None = None
    ) -> list[VariableInfo]:
        with self._lock:
            self._require_stopped()
            values = self._values
            assert values is not None
            if isinstance(handle, ScopeRef):
                return self._ex().call(self._scope_variables, handle)
            if isinstance(handle, GlobalsRef):
                return self._ex().call(self._global_variables, handle.package)
            if isinstance(handle, RegistersRef):
                return self._ex().call(self._register_variables, handle)
            if isinstance(handle, ValueRef):
                return self._ex().call(values.children, handle, start, count)
            raise DebuggerError("unknown variables reference")

    def _global_variables(self, package: str) -> list[VariableInfo]:
        assert self._binary is not None and self._values is not None
        out = []
        for v in self._binary.package_variables(package):
            assert isinstance(v.location, AddrLoc)
            short = v.name[len(package) + 1 :]
            try:
                out.append(self._values.variable(short, v.type, v.location.addr))
            except OSError:
                out.append(self._values.unreadable(short, v.type, "unreadable memory"))
        return out

    def _register_variables(self, ref: RegistersRef) -> list[VariableInfo]:
        """Frame 0 of a goroutine on a thread: every register; otherwise what unwinding
        knows (pc, sp, and the frame's CFA)."""
        frame = self._frames_for(ref.thread_id)[ref.frame_index]
        regs = self._frame0_registers(ref.thread_id) if ref.frame_index == 0 else None
        if regs is not None:
            return [VariableInfo(name, f"{value:#x}", "uint64")
                    for name, value in regs.values.items()]
        known = {"pc": frame.pc, "sp": frame.sp}
        if frame.cfa is not None:
            known["cfa"] = frame.cfa
        return [VariableInfo(name, f"{value:#x}", "uint64") for name, value in known.items()]

    def _scope_variables(self, ref: ScopeRef) -> list[VariableInfo]:
        assert self._values is not None
        return [
            self._values.unreadable(shown, v.type, value) if isinstance(value, str)
            else self._values.info(shown, value)
            for shown, v, value in self._scope_values(ref)
        ]

    def _frame_vars(self, ref: ScopeRef) -> list[tuple[str, VarInfo]]:
        """The scope's variables in scope at the frame's pc, with display names that tell
        shadowed variables apart as Delve does: the visible (innermost) one is `x`, the
        ones it hides are `(x)`, `((x))`... DWARF lists outer blocks before inner ones."""
        assert self._binary is not None
        frame = self._frames_for(ref.thread_id)[ref.frame_index]
        if frame.function is None:
            return []
        pc = frame.pc if ref.frame_index == 0 else frame.pc - 1
        found = [
            v for v in self._binary.frame_variables(frame.function, pc)
            if v.is_arg == ref.args
            # declared further down: not in scope yet (as Delve does)
            and (v.is_arg or not v.decl_line or not frame.line or v.decl_line <= frame.line)
        ]
        total = Counter(v.name for v in found)
        seen: Counter[str] = Counter()
        out = []
        for v in found:
            seen[v.name] += 1
            hidden_by = total[v.name] - seen[v.name]  # inner declarations after this one
            out.append(("(" * hidden_by + v.name + ")" * hidden_by, v))
        return out

    def _frame0_registers(self, thread_id: int) -> Registers | None:
        """Registers of the thread running goroutine `thread_id` (None when parked)."""
        target = self._require_target()
        if thread_id >= OS_THREAD_ID_BASE:
            return target.registers(thread_id - OS_THREAD_ID_BASE)
        if thread_id in self._tid_of_goroutine:
            return target.registers(self._tid_of_goroutine[thread_id])
        assert self._goroutines is not None
        for tid in target.thread_ids():
            g = self._goroutines.of_thread(tid)
            if g is not None and g.id == thread_id:
                return target.registers(tid)
        return None

    # ----- expressions and values (issue 3: Go values, expressions) -----

    def set_value_limits(self, max_string_len: int | None, max_array_values: int | None) -> None:
        """How much of a string to read and how many children to list per page."""
        with self._lock:
            s, a = self._value_limits
            self._value_limits = (max_string_len or s, max_array_values or a)
            if self._values is not None:
                self._values.max_string_len, self._values.max_array_values = \
                    self._value_limits

    def evaluate(
        self, expression: str, thread_id: int | None, frame_index: int, context: str
    ) -> VariableInfo:
        """Evaluate a Go expression in a frame; without one, in the innermost frame of the
        goroutine that stopped (as Delve does), or over globals only when there is none.
        `context` is DAP's (watch, repl, hover, clipboard); all evaluate alike."""
        with self._lock:
            self._require_stopped()
            if thread_id is None:
                thread_id = self._ex().call(self._selected_goroutine)
                frame_index = 0
            try:
                return self._ex().call(self._evaluate, expression, thread_id, frame_index)
            except EvalError as exc:
                raise DebuggerError(str(exc)) from exc

    def _evaluate(self, expression: str, thread_id: int | None, frame_index: int
                  ) -> VariableInfo:
        assert self._values is not None
        result = evaluate(expression, self._eval_scope(thread_id, frame_index))
        if isinstance(result, Const):
            text, tname = result_text(self._values, result)
            return VariableInfo(name=expression, value=text, type=tname)
        return self._values.info(expression, result)

    def _eval_scope(self, thread_id: int | None, frame_index: int) -> FrameScope:
        """Names visible in a frame: its arguments and locals (as Values, or why they
        cannot be read), then package globals."""
        assert self._values is not None
        if thread_id is None:
            return FrameScope(self._values, [], None)
        frames = self._frames_for(thread_id)
        if not 0 <= frame_index < len(frames):
            raise EvalError(f"no frame {frame_index} on goroutine {thread_id}")
        frame = frames[frame_index]
        found: list[tuple[str, Value | str]] = [
            (v.name, value)
            for args in (True, False)
            for _shown, v, value in self._scope_values(ScopeRef(thread_id, frame_index, args))
        ]
        fn = frame.function.name if frame.function else None
        return FrameScope(self._values, found, fn)

    def set_variable(self, handle: object, name: str, value: str) -> VariableInfo:
        """Assign `value` (a Go expression) to the child `name` of a scope or value:
        numbers, bools, strings no longer than the current one (rewritten in place), and
        nil for pointers, slices, maps, channels, funcs and interfaces."""
        with self._lock:
            self._require_stopped()
            try:
                return self._ex().call(self._set_variable, handle, name, value)
            except EvalError as exc:
                raise DebuggerError(str(exc)) from exc

    def _set_variable(self, handle: object, name: str, value: str) -> VariableInfo:
        assert self._values is not None
        target: Value | str | None
        if isinstance(handle, ScopeRef):
            scope = self._eval_scope(handle.thread_id, handle.frame_index)
            target = {shown: value for shown, _v, value in self._scope_values(handle)}.get(name)
            if target is None:
                raise EvalError(f"no variable {name} in this scope")
        elif isinstance(handle, Value):
            scope = FrameScope(self._values, [], None)
            target = find_child(self._values, handle, name)
        else:
            raise EvalError("unknown variables reference")
        if isinstance(target, str):
            raise EvalError(f"{name} is not available: {target}")
        assign(self._values, target, evaluate(value, scope))
        return self._values.info(name, self._values.load(target.type, target.addr))

    def _scope_values(self, ref: ScopeRef) -> list[tuple[str, VarInfo, Value | str]]:
        """The scope's variables: display name, DWARF variable, and its value or why it
        cannot be read (optimized out, unreadable memory...)."""
        assert self._values is not None
        frame = self._frames_for(ref.thread_id)[ref.frame_index]
        if frame.function is None:
            return []
        regs = self._frame0_registers(ref.thread_id) if ref.frame_index == 0 else None
        out: list[tuple[str, VarInfo, Value | str]] = []
        for shown, v in self._frame_vars(ref):
            if v.location is None:
                out.append((shown, v, "optimized out"))
                continue
            try:
                where = self._values.address_of(v.location, frame.cfa, regs)
                out.append((shown, v, self._values.value_at(v.type, where)))
            except (UnreadableError, OSError) as exc:
                out.append((shown, v, str(exc) or "unreadable memory"))
        return out

