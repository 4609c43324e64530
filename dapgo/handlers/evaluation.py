"""Expression requests: evaluate (repl, watch, hover, clipboard) and setVariable.

Expressions are Go, evaluated by the engine in the frame `frameId` names (or over package
variables only, without a frame). The result's children get a variablesReference like any
variable's. Function calls in an expression run in the program; the engine decides from
`context` whether they may (never on hover; `call f(x)` always).
"""

from __future__ import annotations

from dapgo.handlers import console
from dapgo.handlers.base import Body, Call, Handler
from dapgo.handlers.inspection import variable_ref

CONTEXTS = ("watch", "repl", "hover", "clipboard", "variables")


async def evaluate(call: Call) -> Body:
    session, args = call.session, call.args
    expression = args.req_str("expression")
    frame_id = args.opt_int("frameId")
    context = args.opt_str("context") or "repl"
    if context not in CONTEXTS:
        raise args.bad("context", f"is {context!r}; use one of {CONTEXTS}")
    thread_id: int | None = None
    frame_index = 0
    if frame_id is not None:
        location = session.frames.get(frame_id, "frameId")
        assert isinstance(location, tuple)
        thread_id, frame_index = location
    if context == "repl" and (expression.strip() + " ").startswith(console.PREFIX):
        frame = (thread_id, frame_index) if thread_id is not None else None
        return await _dapgo_command(call, expression.strip()[len(console.PREFIX):], frame)
    debugger = session.require_debugger()
    var = await session.engine(debugger.evaluate(expression, thread_id, frame_index,
                                                 context))
    body: Body = {"result": var.value, "type": var.type,
                  "variablesReference": variable_ref(call, var.handle, var)}
    if var.named_children is not None:
        body["namedVariables"] = var.named_children
    if var.indexed_children is not None:
        body["indexedVariables"] = var.indexed_children
    if var.memory_reference is not None:
        body["memoryReference"] = f"0x{var.memory_reference:x}"
    return body


async def _dapgo_command(call: Call, text: str, frame: tuple[int, int] | None) -> Body:
    """`dapgo ...` typed in the debug console (dapgo.handlers.console); the threads view is
    told to refresh when what it shows changed."""
    out, threads_changed = await console.run(call, text, frame)
    if threads_changed:
        session = call.session
        call.then(lambda: session.send_event("invalidated", {"areas": ["threads"]}))
    return {"result": out, "variablesReference": 0}


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
    if var.memory_reference is not None:
        body["memoryReference"] = f"0x{var.memory_reference:x}"
    call.then(lambda: session.send_event("invalidated", {"areas": ["variables"]}))
    return body


HANDLERS: dict[str, Handler] = {"evaluate": evaluate, "setVariable": set_variable}
