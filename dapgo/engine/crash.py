"""What a goroutine that is dying says: its panic or fatal error, read from its frames.

Used at an exception breakpoint (the goroutine stopped at runtime.fatalpanic or
runtime.throw) and for a core file (the goroutine died somewhere below them; `core_stop`
words the whole death: the panic or fatal error, and the signal, with the one the runtime's
handler was handling when that is not the one the kernel recorded). The message
is the argument of the innermost runtime.fatalpanic (`msgs.arg`) or runtime.throw /
runtime.fatal (`s`) frame; where an optimized runtime left that argument unreadable, a
panic's value is read from the goroutine's `g._panic` instead (a fatal error's message has
no such second copy: it is then said to be unreadable).
"""

from __future__ import annotations

import contextlib
import logging
import signal

from dapgo.engine.backend import signal_name
from dapgo.engine.errors import DebuggerError
from dapgo.engine.eval import EvalError, evaluate
from dapgo.engine.inspector import Inspector
from dapgo.engine.model import ExceptionInfo
from dapgo.engine.panics import error_text, panic_value_text
from dapgo.engine.stack import Frame, signal_number
from dapgo.engine.stopcontext import OS_THREAD_ID_BASE, StopContext
from dapgo.engine.values import Value

PANIC_FUNCTIONS = ("runtime.fatalpanic",)
FATAL_FUNCTIONS = ("runtime.throw", "runtime.fatal")
_ERRORS = (EvalError, DebuggerError, LookupError, OSError)
log = logging.getLogger(__name__)


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


def signal_handled(ctx: StopContext, thread_id: int) -> int | None:
    """The first signal the Go runtime's handler was handling on this goroutine or thread
    (that of its outermost signal frame), if any: a program killed by SIGQUIT under
    GOTRACEBACK=crash dies of the SIGABRT the runtime raises while handling it."""
    try:
        frames = ctx.frames(thread_id)
    except (DebuggerError, OSError):
        return None
    for f in reversed(frames):
        signo = signal_number(ctx.program.target, f)
        if signo is not None:
            return signo
    return None


def core_stop(inspector: Inspector, ctx: StopContext, thread_id: int, death: str | None
              ) -> tuple[str, ExceptionInfo | None]:
    """What a core file's program died of, on the DAP thread of the thread that caused
    the dump: (the stop's description, exceptionInfo's answer; None when it did not die,
    e.g. a core written by `dapgo dump`)."""
    info = None
    if thread_id < OS_THREAD_ID_BASE:
        try:
            info = read_exception(inspector, ctx, thread_id)
        except Exception:
            log.exception("reading the crash of goroutine %d failed", thread_id)
    if death is not None:
        first = signal_handled(ctx, thread_id)
        if first is not None and first != _signo(death):
            death = f"{signal_name(first)}, then {death} from the Go runtime"
    if info is not None:
        text = f"{info.exception_id}: {info.description}"
        return (f"{text} ({death})" if death else text), info
    if death is None:
        return "core file of a program that was stopped, not killed (written by a " \
            "debugger)", None
    description = f"the program was killed by {death}"
    stack = ""
    with contextlib.suppress(Exception):
        stack = frames_text(ctx.frames(thread_id))
    return description, ExceptionInfo(exception_id=death.split()[0].rstrip(","),
                                      description=description, stack=stack)


def _signo(name: str) -> int | None:
    try:
        return int(signal.Signals[name.split()[0]])
    except KeyError:
        return None


def _panic_of_goroutine(ctx: StopContext, thread_id: int) -> tuple[str, str] | None:
    """(type, message) of the value in the goroutine's g._panic, if it can be read."""
    values = ctx.program.values
    try:
        g = ctx.goroutine_set().get(thread_id)
        tref = ctx.program.binary.find_type("runtime.g")
        if g is None or tref is None:
            return None
        p = values.field_value(values.value_at(tref, g.addr), "_panic")
        if not p.word():
            return None
        return panic_value_text(values, values.field_value(values.deref(p), "arg"))
    except _ERRORS:
        return None
