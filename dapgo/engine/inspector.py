"""Inspecting a stopped program: goroutines as threads, stacks, scopes, variables, Go
expressions (evaluate, setVariable), in the stop context the caller gives.

`Inspector` owns the variable handles' types and the goroutine display settings
(`GoroutineView`); everything about the stop itself comes in a `StopContext`.
"""

from __future__ import annotations

import attrs

from dapgo.engine.chanwait import waiting_on
from dapgo.engine.dwarf import AddrLoc
from dapgo.engine.errors import DebuggerError
from dapgo.engine.eval import (
    NO_CALLS,
    CallHost,
    Const,
    EvalError,
    FrameScope,
    evaluate,
    is_true,
    result_text,
)
from dapgo.engine.eval.assign import assign, find_child
from dapgo.engine.eval.calls import is_tuple
from dapgo.engine.evalnames import ChildNamer, child_namer, variable
from dapgo.engine.framevars import FrameVar, read_frame_vars
from dapgo.engine.goroutine_view import GoroutineCommand, GoroutineView
from dapgo.engine.model import FrameInfo, ScopeInfo, ThreadInfo, VariableInfo
from dapgo.engine.stack import Frame
from dapgo.engine.stopcontext import OS_THREAD_ID_BASE, StopContext
from dapgo.engine.values import Value, ValueReader, ValueRef

REPL_MAX_STRING_LEN = 1 << 20  # a string evaluated in the debug console, shown whole
WHOLE_STRING_CONTEXTS = ("repl", "clipboard")


@attrs.frozen
class ScopeRef:
    """A frame's arguments and locals (one scope, arguments first, as Delve)."""

    thread_id: int
    frame_index: int


@attrs.frozen
class GlobalsRef:
    package: str


@attrs.frozen
class RegistersRef:
    thread_id: int
    frame_index: int


def package_of(function: str) -> str:
    """The package path of a Go function name: "net/http.(*Client).Do" -> "net/http"."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    return function[:dot] if dot > 0 else function


def _expression(fv: FrameVar) -> str | None:
    """A frame variable's Go expression: its name, unless an inner one shadows it."""
    return variable(fv.name) if fv.shown == fv.name else None


def _namer(values: ValueReader, ref: ValueRef) -> ChildNamer | None:
    return child_namer(values, ref.value, ref.expr) if ref.expr is not None else None


def _innermost(ctx: StopContext, thread_id: int, frame: Frame) -> bool:
    """Is `frame` the innermost machine frame (frame 0, or a call inlined into it)? Its pc
    is where the thread is, not a return address, and the thread's registers are its."""
    top = ctx.frame(thread_id, 0)
    return frame.pc == top.pc and frame.sp == top.sp


def _eval_error(exc: EvalError) -> DebuggerError:
    return DebuggerError(str(exc))


class Inspector:
    def __init__(self) -> None:
        self.view = GoroutineView()

    # ----- threads -----

    def list_threads(self, ctx: StopContext) -> list[ThreadInfo]:
        """Goroutines as threads, filtered and capped as the view says (every thread
        stopped); OS threads before the runtime has goroutines."""
        gs = ctx.goroutine_set()
        view = self.view
        if not len(gs):
            view.matched = view.omitted = 0
            out = [ThreadInfo(id=OS_THREAD_ID_BASE + tid, name=f"[Thread {tid}]")
                   for tid in ctx.thread_ids()]
        else:
            selected = ctx.selected_goroutine()
            out = [ThreadInfo(id=g.id, name=view.thread_name(gs, g, g.id == selected))
                   for g in view.choose(gs, selected)]
        view.last = out
        return out

    def goroutine_report(self, ctx: StopContext, cmd: GoroutineCommand,
                         frame: tuple[int, int] | None = None) -> tuple[str, list[int]]:
        """The text of a `dapgo goroutines` command, and the goroutines it lists (for
        -exec); `frame` (goroutine, index) is where -chan's expression is evaluated."""
        view = self.view
        text = "goroutine view changed: " + view.describe() + "\n" if cmd.sets_view else ""
        gs = ctx.goroutine_set()
        only: frozenset[int] | None = None
        if cmd.chan is not None:
            only = frozenset(g.id for g in waiting_on(
                ctx.program.target, gs.goroutines, self._channel(ctx, cmd.chan, frame)))
        listed = [g.id for g in view.listed(gs, cmd, only)] if cmd.list_count else []
        return text + view.report(gs, cmd, ctx.selected_goroutine(), only), listed

    def _channel(self, ctx: StopContext, expression: str, frame: tuple[int, int] | None
                 ) -> int:
        """The hchan address of a channel expression."""
        thread_id, index = frame if frame is not None else (ctx.selected_goroutine(), 0)
        try:
            value = evaluate(expression, self.eval_scope(ctx, thread_id, index))
        except EvalError as exc:
            raise _eval_error(exc) from exc
        if isinstance(value, Const) or value.type.kind != "chan":
            raise DebuggerError(f"-chan: {expression} is not a channel")
        return value.word()

    # ----- stacks and scopes -----

    def stack_trace(self, ctx: StopContext, thread_id: int, start: int, levels: int
                    ) -> tuple[list[FrameInfo], int]:
        frames = ctx.frames(thread_id)
        end = len(frames) if levels <= 0 else min(len(frames), start + levels)
        out = [FrameInfo(function=f.function.name if f.function else f"?{f.pc:#x}",
                         path=f.file, line=f.line, pc=f.pc)
               for f in frames[start:end]]
        return out, len(frames)

    def scopes(self, ctx: StopContext, thread_id: int, frame_index: int, show_globals: bool,
               show_registers: bool = True) -> list[ScopeInfo]:
        """One "Locals" scope, arguments first (Delve's layout: editors expand the first
        scope at once), named "Locals (warning: optimized function)" when the frame's
        code was compiled with optimizations (Delve's warning); the frame's package
        variables when `show_globals` (showGlobalVariables); Registers last, marked
        expensive, unless `show_registers` is false (showRegisters)."""
        frame = ctx.frame(thread_id, frame_index)
        # Delve's warning: an optimized function's values may be missing or wrong
        warn = (" (warning: optimized function)"
                if frame.code is not None and ctx.program.binary.optimized(frame.code) else "")
        out = [ScopeInfo("Locals" + warn, ScopeRef(thread_id, frame_index),
                         presentation_hint="locals")]
        if show_globals and frame.function is not None:
            pkg = package_of(frame.function.name)
            out.append(ScopeInfo(f"Globals ({pkg})", GlobalsRef(pkg), expensive=True))
        if show_registers:
            out.append(ScopeInfo("Registers", RegistersRef(thread_id, frame_index),
                                 expensive=True, presentation_hint="registers"))
        return out

    def variables(self, ctx: StopContext, handle: object, start: int | None,
                  count: int | None) -> list[VariableInfo]:
        values = ctx.program.values
        if isinstance(handle, ScopeRef):
            return [values.unreadable(fv.shown, fv.var.type, fv.value)
                    if isinstance(fv.value, str) else values.info(fv.shown, fv.value,
                                                                  _expression(fv))
                    for fv in self.frame_vars(ctx, handle)]
        if isinstance(handle, GlobalsRef):
            return self._global_variables(ctx, handle.package)
        if isinstance(handle, RegistersRef):
            return self._register_variables(ctx, handle)
        if isinstance(handle, ValueRef):
            return values.children(handle.value, start, count, _namer(values, handle))
        raise DebuggerError("unknown variables reference")

    def _global_variables(self, ctx: StopContext, package: str) -> list[VariableInfo]:
        values = ctx.program.values
        out = []
        for v in ctx.program.binary.package_variables(package):
            assert isinstance(v.location, AddrLoc)
            short = v.name[len(package) + 1:]
            try:
                out.append(values.variable(short, v.type, v.location.addr, v.name))
            except OSError:
                out.append(values.unreadable(short, v.type, "cannot read memory"))
        return out

    def _register_variables(self, ctx: StopContext, ref: RegistersRef) -> list[VariableInfo]:
        """Frame 0 of a goroutine on a thread: every register; otherwise what unwinding
        knows (pc, sp, and the frame's CFA)."""
        frame = ctx.frame(ref.thread_id, ref.frame_index)
        regs = ctx.frame0_registers(ref.thread_id) if ref.frame_index == 0 else None
        if regs is not None:
            return [VariableInfo(name, f"{value:#x}", "uint64")
                    for name, value in regs.values.items()]
        known = {"pc": frame.pc, "sp": frame.sp}
        if frame.cfa is not None:
            known["cfa"] = frame.cfa
        return [VariableInfo(name, f"{value:#x}", "uint64") for name, value in known.items()]

    def frame_vars(self, ctx: StopContext, ref: ScopeRef) -> list[FrameVar]:
        """The frame's visible arguments then locals with display names and values
        (framevars)."""
        frame = ctx.frame(ref.thread_id, ref.frame_index)
        code = frame.code
        if code is None or not code.go:  # C frames: no Go variables
            return []
        innermost = _innermost(ctx, ref.thread_id, frame)
        pc = frame.pc if innermost else frame.pc - 1
        regs = ctx.frame0_registers(ref.thread_id) if innermost else None
        return read_frame_vars(ctx.program.values, frame, pc, regs)

    # ----- expressions -----

    def eval_scope(self, ctx: StopContext, thread_id: int | None, frame_index: int
                   ) -> FrameScope:
        """Names visible in a frame: its arguments and locals (as Values, or why they
        cannot be read), then package globals; only globals without a frame."""
        values = ctx.program.values
        if thread_id is None:
            return FrameScope(values, [], None)
        try:
            frame = ctx.frame(thread_id, frame_index)
        except DebuggerError as exc:
            raise EvalError(str(exc)) from exc
        # outer before inner: the innermost of a name is the last, and wins
        found: list[tuple[str, Value | str]] = [
            (fv.name, fv.value)
            for fv in self.frame_vars(ctx, ScopeRef(thread_id, frame_index))]
        return FrameScope(values, found, frame.function.name if frame.function else None)

    def evaluate(self, ctx: StopContext, expression: str, thread_id: int | None,
                 frame_index: int, context: str = "watch", calls: CallHost | None = None,
                 no_calls: str = NO_CALLS) -> VariableInfo:
        """A Go expression's value in a frame (globals only without one); in the debug
        console (repl) or for the clipboard, a string is shown whole up to 1 MiB; calls
        into the program run through `calls` (none: an error saying `no_calls`)."""
        values = ctx.program.values
        try:
            result = evaluate(expression, self.eval_scope(ctx, thread_id, frame_index),
                              calls, no_calls)
        except EvalError as exc:
            raise _eval_error(exc) from exc
        if isinstance(result, Const):
            text, tname = result_text(values, result)
            return VariableInfo(name=expression, value=text, type=tname)
        if result.type.kind == "void":  # a call without results
            return VariableInfo(name=expression, value="", type="")
        if is_tuple(result.type):  # a call's several results
            parts = [values.format(v) for _name, v in values.child_values(result)]
            return VariableInfo(name=expression, value=", ".join(parts),
                                type=result.type.name, handle=ValueRef(result),
                                named_children=len(parts))
        if context in WHOLE_STRING_CONTEXTS and result.type.kind == "string":
            cap = values.max_string_len
            values.max_string_len = max(cap, REPL_MAX_STRING_LEN)
            try:
                return values.info(expression, result, expression)
            finally:
                values.max_string_len = cap
        return values.info(expression, result, expression)

    def condition_holds(self, ctx: StopContext, condition: str, thread_id: int) -> bool:
        """A breakpoint condition, in the innermost frame of `thread_id`."""
        try:
            return is_true(condition, self.eval_scope(ctx, thread_id, 0))
        except EvalError as exc:
            raise _eval_error(exc) from exc

    def set_variable(self, ctx: StopContext, handle: object, name: str, value: str
                     ) -> VariableInfo:
        """Assign `value` (a Go expression) to the child `name` of a scope or value:
        numbers, bools, strings no longer than the current one (rewritten in place), and
        nil for pointers, slices, maps, channels, funcs and interfaces."""
        values: ValueReader = ctx.program.values
        target: Value | str | None
        try:
            if isinstance(handle, ScopeRef):
                scope = self.eval_scope(ctx, handle.thread_id, handle.frame_index)
                found = {fv.shown: fv for fv in self.frame_vars(ctx, handle)}.get(name)
                if found is None:
                    raise EvalError(f"no variable {name} in this scope")
                target, expr = found.value, _expression(found)
            elif isinstance(handle, ValueRef):
                scope = FrameScope(values, [], None)
                target = find_child(values, handle.value, name)
                namer = _namer(values, handle)
                expr = namer(name) if namer else None
            else:
                raise EvalError("unknown variables reference")
            if isinstance(target, str):
                raise EvalError(f"{name} is not available: {target}")
            assign(values, target, evaluate(value, scope))
        except EvalError as exc:
            raise _eval_error(exc) from exc
        return values.info(name, values.load(target.type, target.addr), expr)
