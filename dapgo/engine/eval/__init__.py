"""Go expression evaluation for the debugger: `evaluate(expr, scope)` and `is_true`.

The parser (`syntax`) turns Go expression text into a tree; the interpreter (`interp`)
evaluates it over `Value`s read through a `ValueReader`. `FrameScope` resolves names from
a stopped frame's variables and the program's globals. The same entry points serve the
debug console, hovers and breakpoint conditions.
"""

from __future__ import annotations

from dapgo.engine.eval.calls import Callee, CallHost
from dapgo.engine.eval.interp import NO_CALLS, Const, Interpreter, Result, Scope, result_text
from dapgo.engine.eval.scope import FrameScope
from dapgo.engine.eval.syntax import EvalError, parse

__all__ = ["NO_CALLS", "CallHost", "Callee", "Const", "EvalError", "FrameScope", "Result",
           "Scope", "evaluate", "is_true", "result_text"]


def evaluate(expr: str, scope: FrameScope, calls: CallHost | None = None,
             no_calls: str = NO_CALLS) -> Result:
    """The value of Go expression `expr` in `scope` (EvalError when it has none). Calls
    into the program run through `calls`; without it they are an error saying `no_calls`."""
    node = parse(expr.strip(), scope.is_global)
    return Interpreter(scope.reader, scope, calls, no_calls).eval(node)


def is_true(expr: str, scope: FrameScope) -> bool:
    """A breakpoint condition: `expr` must evaluate to a boolean."""
    x = evaluate(expr, scope)
    if isinstance(x, Const) and x.kind == "bool":
        return bool(x.value)
    if not isinstance(x, Const) and x.type.kind == "bool":
        return bool(x.data[0])
    text, tname = result_text(scope.reader, x)
    raise EvalError(f"condition {expr!r} is not a boolean (it is {tname} {text})")
