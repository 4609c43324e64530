"""Expression requests: evaluate (repl, watch, hover, clipboard) and setVariable.

Expressions are Go, evaluated by the engine in the frame `frameId` names (or over package
variables only, without a frame). The result's children get a variablesReference like any
variable's.
"""

from __future__ import annotations

from dapgo.handlers.base import Body, Call, Handler, RequestError
from dapgo.handlers.inspection import variable_ref
from dapgo.protocol.errors import ErrorId

CONTEXTS = ("watch", "repl", "hover", "clipboard", "variables")
REPL_PREFIX = "dapgo "


async def evaluate(call: Call) -> Body:
    session, args = call.session, call.args
    expression = args.req_str("expression")
    frame_id = args.opt_int("frameId")
    context = args.opt_str("context") or "repl"
    if context not in CONTEXTS:
        raise args.bad("context", f"is {context!r}; use one of {CONTEXTS}")
    if context == "repl" and expression.strip().startswith(REPL_PREFIX):
        return await _dapgo_command(call, expression.strip()[len(REPL_PREFIX):])
    thread_id: int | None = None
    frame_index = 0
    if frame_id is not None:
        location = session.frames.get(frame_id, "frameId")
        assert isinstance(location, tuple)
        thread_id, frame_index = location
    debugger = session.require_debugger()
    var = await session.engine(debugger.evaluate(expression, thread_id, frame_index,
                                                 context))
    body: Body = {"result": var.value, "type": var.type,
                  "variablesReference": variable_ref(call, var.handle, var)}
    if var.named_children is not None:
        body["namedVariables"] = var.named_children
    if var.indexed_children is not None:
        body["indexedVariables"] = var.indexed_children
    return body


async def _dapgo_command(call: Call, text: str) -> Body:
    """`dapgo goroutines ...` typed in the debug console: change the goroutine view or
    count goroutines; the threads view is told to refresh when what it shows changed.
    `dapgo metrics ...`: the metric points' figures."""
    session = call.session
    words = text.split(None, 1)
    if not words or words[0] not in ("goroutines", "metrics"):
        raise RequestError(ErrorId.INVALID_ARGUMENTS, "dapgo console commands: "
                           "'dapgo goroutines [-with|-without FILTER ...] [-group label KEY] "
                           "[-labels KEYS] [-clear] [-help]', "
                           "'dapgo metrics [-hist] [-help]'")
    debugger = session.require_debugger()
    rest = words[1] if len(words) > 1 else ""
    if words[0] == "metrics":
        answer = await session.engine(debugger.metrics_command(rest))
    else:
        answer = await session.engine(debugger.goroutine_command(rest))
    if answer.threads_changed:
        call.then(lambda: session.send_event("invalidated", {"areas": ["threads"]}))
    return {"result": answer.text, "variablesReference": 0}


async def set_variable(call: Call) -> Body:
    session, args = call.session, call.args
    ref = args.req_int("variablesReference", minimum=1)
    name = args.req_str("name")
    value = args.req_str("value")
    entry = session.variables.get(ref, "variablesReference")
    debugger = session.require_debugger()
    var = await session.engine(debugger.set_variable(getattr(entry, "handle", None),
                                                     name, value))
    body: Body = {"value": var.value, "type": var.type,
                  "variablesReference": variable_ref(call, var.handle, var)}
    return body


HANDLERS: dict[str, Handler] = {"evaluate": evaluate, "setVariable": set_variable}
