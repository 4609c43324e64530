"""Inspecting a stopped program: goroutines as threads, stacks, scopes, variables, Go
expressions (evaluate, setVariable), in the stop context the caller gives.

`Inspector` owns the variable handles' types and the goroutine display settings
(`GoroutineView`); everything about the stop itself comes in a `StopContext`.
"""

from __future__ import annotations

from collections import Counter

import attrs

from dapgo.engine.dwarf import AddrLoc, VarInfo
from dapgo.engine.errors import DebuggerError
from dapgo.engine.eval import Const, EvalError, FrameScope, evaluate, is_true, result_text
from dapgo.engine.eval.assign import assign, find_child
from dapgo.engine.goroutines import GoroutineCommand, GoroutineView
from dapgo.engine.model import FrameInfo, ScopeInfo, ThreadInfo, VariableInfo
from dapgo.engine.stack import Frame
from dapgo.engine.stopcontext import OS_THREAD_ID_BASE, StopContext
from dapgo.engine.values import UnreadableError, Value, ValueReader, ValueRef


@attrs.frozen
class ScopeRef:
    thread_id: int
    frame_index: int
    args: bool


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
        if not gs.goroutines:
            view.matched = view.omitted = 0
            out = [ThreadInfo(id=OS_THREAD_ID_BASE + tid, name=f"[Thread {tid}]")
                   for tid in ctx.thread_ids()]
        else:
            selected = ctx.selected_goroutine()
            out = [ThreadInfo(id=g.id, name=view.thread_name(gs, g, g.id == selected))
                   for g in view.choose(gs, selected)]
        view.last = out
        return out

    def goroutine_report(self, ctx: StopContext, cmd: GoroutineCommand) -> str:
        view = self.view
        text = "goroutine view changed: " + view.describe() + "\n" if cmd.sets_view else ""
        return text + view.report(ctx.goroutine_set(), cmd, ctx.selected_goroutine())

    # ----- stacks and scopes -----

    def stack_trace(self, ctx: StopContext, thread_id: int, start: int, levels: int
                    ) -> tuple[list[FrameInfo], int]:
        frames = ctx.frames(thread_id)
        end = len(frames) if levels <= 0 else min(len(frames), start + levels)
        out = [FrameInfo(function=f.function.name if f.function else f"?{f.pc:#x}",
                         path=f.file, line=f.line, pc=f.pc)
               for f in frames[start:end]]
        return out, len(frames)

    def scopes(self, ctx: StopContext, thread_id: int, frame_index: int, show_globals: bool
               ) -> list[ScopeInfo]:
        """Arguments and Locals; the frame's package variables when `show_globals`
        (showGlobalVariables); Registers, marked expensive."""
        frame = ctx.frame(thread_id, frame_index)
        # Delve's warning: an optimized function's values may be missing or wrong
        warn = (" (warning: optimized function)"
                if frame.code is not None and ctx.program.binary.optimized(frame.code) else "")
        out = [
            ScopeInfo("Arguments" + warn, ScopeRef(thread_id, frame_index, True),
                      presentation_hint="arguments"),
            ScopeInfo("Locals" + warn, ScopeRef(thread_id, frame_index, False),
                      presentation_hint="locals"),
        ]
        if show_globals and frame.function is not None:
            pkg = package_of(frame.function.name)
            out.append(ScopeInfo(f"Globals ({pkg})", GlobalsRef(pkg), expensive=True))
        out.append(ScopeInfo("Registers", RegistersRef(thread_id, frame_index),
                             expensive=True, presentation_hint="registers"))
        return out

    def variables(self, ctx: StopContext, handle: object, start: int | None,
                  count: int | None) -> list[VariableInfo]:
        values = ctx.program.values
        if isinstance(handle, ScopeRef):
            return [values.unreadable(shown, v.type, value) if isinstance(value, str)
                    else values.info(shown, value)
                    for shown, v, value in self.scope_values(ctx, handle)]
        if isinstance(handle, GlobalsRef):
            return self._global_variables(ctx, handle.package)
        if isinstance(handle, RegistersRef):
            return self._register_variables(ctx, handle)
        if isinstance(handle, ValueRef):
            return values.children(handle, start, count)
        raise DebuggerError("unknown variables reference")

    def _global_variables(self, ctx: StopContext, package: str) -> list[VariableInfo]:
        values = ctx.program.values
        out = []
        for v in ctx.program.binary.package_variables(package):
            assert isinstance(v.location, AddrLoc)
            short = v.name[len(package) + 1:]
            try:
                out.append(values.variable(short, v.type, v.location.addr))
            except OSError:
                out.append(values.unreadable(short, v.type, "unreadable memory"))
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

    def frame_vars(self, ctx: StopContext, ref: ScopeRef) -> list[tuple[str, VarInfo]]:
        """The scope's variables in scope at the frame's pc, with display names that tell
        shadowed variables apart as Delve does: the visible (innermost) one is `x`, the
        ones it hides are `(x)`, `((x))`... DWARF lists outer blocks before inner ones."""
        frame = ctx.frame(ref.thread_id, ref.frame_index)
        code = frame.code
        if code is None or not code.go:  # C frames: no Go variables
            return []
        pc = frame.pc if _innermost(ctx, ref.thread_id, frame) else frame.pc - 1
        found = [
            v for v in ctx.program.binary.frame_variables(code, pc, frame.inlined_scope)
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

    def scope_values(self, ctx: StopContext, ref: ScopeRef
                     ) -> list[tuple[str, VarInfo, Value | str]]:
        """The scope's variables: display name, DWARF variable, and its value or why it
        cannot be read (optimized out, unreadable memory...)."""
        values = ctx.program.values
        frame = ctx.frame(ref.thread_id, ref.frame_index)
        if frame.code is None or not frame.code.go:
            return []
        regs = (ctx.frame0_registers(ref.thread_id) if _innermost(ctx, ref.thread_id, frame)
                else None)
        out: list[tuple[str, VarInfo, Value | str]] = []
        for shown, v in self.frame_vars(ctx, ref):
            if v.location is None:
                out.append((shown, v, "optimized out"))
                continue
            try:
                where = values.address_of(v.location, frame.cfa, regs)
                out.append((shown, v, values.value_at(v.type, where)))
            except (UnreadableError, OSError) as exc:
                out.append((shown, v, str(exc) or "unreadable memory"))
        return out

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
        found: list[tuple[str, Value | str]] = [
            (v.name, value)
            for args in (True, False)
            for _shown, v, value in self.scope_values(ctx, ScopeRef(thread_id, frame_index,
                                                                    args))
        ]
        return FrameScope(values, found, frame.function.name if frame.function else None)

    def evaluate(self, ctx: StopContext, expression: str, thread_id: int | None,
                 frame_index: int) -> VariableInfo:
        """A Go expression's value in a frame (globals only without one)."""
        values = ctx.program.values
        try:
            result = evaluate(expression, self.eval_scope(ctx, thread_id, frame_index))
        except EvalError as exc:
            raise _eval_error(exc) from exc
        if isinstance(result, Const):
            text, tname = result_text(values, result)
            return VariableInfo(name=expression, value=text, type=tname)
        return values.info(expression, result)

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
                target = {shown: v for shown, _v, v in self.scope_values(ctx, handle)}.get(name)
                if target is None:
                    raise EvalError(f"no variable {name} in this scope")
            elif isinstance(handle, Value):
                scope = FrameScope(values, [], None)
                target = find_child(values, handle, name)
            else:
                raise EvalError("unknown variables reference")
            if isinstance(target, str):
                raise EvalError(f"{name} is not available: {target}")
            assign(values, target, evaluate(value, scope))
        except EvalError as exc:
            raise _eval_error(exc) from exc
        return values.info(name, values.load(target.type, target.addr))
