"""What a goroutine that is dying says: its panic or fatal error, read from its frames.

Used at an exception breakpoint (the goroutine stopped at runtime.fatalpanic or
runtime.throw) and for a core file (the goroutine died somewhere below them). The message
is the argument of the innermost runtime.fatalpanic (`msgs.arg`) or runtime.throw /
runtime.fatal (`s`) frame; where an optimized runtime left that argument unreadable, a
panic's value is read from the goroutine's `g._panic` instead (a fatal error's message has
no such second copy: it is then said to be unreadable).
"""

from __future__ import annotations

from dapgo.engine.errors import DebuggerError
from dapgo.engine.eval import EvalError, evaluate
from dapgo.engine.inspector import Inspector
from dapgo.engine.model import ExceptionInfo
from dapgo.engine.panics import error_text, panic_value_text
from dapgo.engine.stack import Frame
from dapgo.engine.stopcontext import StopContext
from dapgo.engine.values import Value

PANIC_FUNCTIONS = ("runtime.fatalpanic",)
FATAL_FUNCTIONS = ("runtime.throw", "runtime.fatal")
_ERRORS = (EvalError, DebuggerError, LookupError, OSError)


def frames_text(frames: list[Frame]) -> str:
    """A stack as exceptionInfo shows it: "function()\\n\\tfile:line" per frame."""
    lines = []
    for f in frames:
        name = f.function.name if f.function else f"?{f.pc:#x}"
        lines.append(f"{name}()\n\t{f.file}:{f.line}")
    return "\n".join(lines)


def read_exception(inspector: Inspector, ctx: StopContext, thread_id: int,
                   exception_id: str | None = None) -> ExceptionInfo | None:
    """The panic or fatal error goroutine `thread_id` is dying of (its innermost one), or
    None when no frame of it is in runtime.fatalpanic, runtime.throw or runtime.fatal.
    `exception_id` ("panic" or "fatal error") looks only for that kind."""
    frames = ctx.frames(thread_id)
    values = ctx.program.values
    found: ExceptionInfo | None = None
    for i, f in enumerate(frames):
        name = f.function.name if f.function else ""
        if name in PANIC_FUNCTIONS and exception_id in (None, "panic"):
            kind = "panic"
        elif name in FATAL_FUNCTIONS and exception_id in (None, "fatal error"):
            kind = "fatal error"
        else:
            continue
        type_name, message = "", ""
        try:
            if kind == "panic":
                arg = evaluate("msgs.arg", inspector.eval_scope(ctx, thread_id, i))
                if isinstance(arg, Value):
                    type_name, message = panic_value_text(values, arg)
            else:
                s = evaluate("s", inspector.eval_scope(ctx, thread_id, i))
                if isinstance(s, Value):
                    message = error_text(values, s)
        except _ERRORS as exc:
            got = _panic_of_goroutine(ctx, thread_id) if kind == "panic" else None
            if got is None:
                found = found or ExceptionInfo(
                    exception_id=kind, description=f"(the message could not be read: {exc})",
                    stack=frames_text(frames))
                continue
            type_name, message = got
        return ExceptionInfo(exception_id=kind, description=message, type_name=type_name,
                             stack=frames_text(frames))
    return found


def _panic_of_goroutine(ctx: StopContext, thread_id: int) -> tuple[str, str] | None:
    """(type, message) of the value in the goroutine's g._panic, if it can be read."""
    values = ctx.program.values
    try:
        g = ctx.goroutine_set().by_id.get(thread_id)
        tref = ctx.program.binary.find_type("runtime.g")
        if g is None or tref is None:
            return None
        p = values.field_value(values.value_at(tref, g.addr), "_panic")
        if not p.word():
            return None
        return panic_value_text(values, values.field_value(values.deref(p), "arg"))
    except _ERRORS:
        return None
