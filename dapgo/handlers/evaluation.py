"""Expression requests: evaluate (repl, watch, hover, clipboard) and setVariable.

Expressions are Go, evaluated by the engine in the frame `frameId` names (or over package
variables only, without a frame). The result's children get a variablesReference like any
variable's. Function calls in an expression run in the program; the engine decides from
`context` whether they may (never on hover; `call f(x)` always).
"""

from __future__ import annotations

import shlex

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


CONSOLE_HELP = ("dapgo console commands: "
                "'dapgo goroutines [-with|-without FILTER ...] [-group label KEY] "
                "[-labels KEYS] [-clear] [-help]', 'dapgo metrics [-hist] [-help]', "
                "'dapgo config substitutePath [FROM [TO]]'")


async def _dapgo_command(call: Call, text: str) -> Body:
    """`dapgo goroutines ...` typed in the debug console: change the goroutine view or
    count goroutines; the threads view is told to refresh when what it shows changed.
    `dapgo metrics ...`: the metric points' figures. `dapgo config ...`: change a setting
    of the session (substitutePath). `dapgo dump PATH`: write a core file of the stopped
    program."""
    session = call.session
    words = text.split(None, 1)
    if words and words[0] == "config":
        return {"result": _config_command(call, words[1] if len(words) > 1 else ""),
                "variablesReference": 0}
    if words and words[0] == "dump":
        return await _dump(call, words[1].strip() if len(words) > 1 else "")
    if not words or words[0] not in ("goroutines", "metrics"):
        raise RequestError(ErrorId.INVALID_ARGUMENTS, CONSOLE_HELP)
    debugger = session.require_debugger()
    rest = words[1] if len(words) > 1 else ""
    if words[0] == "metrics":
        answer = await session.engine(debugger.metrics_command(rest))
    else:
        answer = await session.engine(debugger.goroutine_command(rest))
    if answer.threads_changed:
        call.then(lambda: session.send_event("invalidated", {"areas": ["threads"]}))
    return {"result": answer.text, "variablesReference": 0}


CONFIG_HELP = ("dapgo config substitutePath FROM TO: map the client's path prefix FROM to the "
               "binary's TO (and back); dapgo config substitutePath FROM: remove that rule; "
               "dapgo config substitutePath (or -list): list the rules. Quote paths with "
               "spaces. Breakpoints set from now on use the rules; frames show them at once.")


def _config_command(call: Call, text: str) -> str:
    """Delve's `config substitutePath FROM [TO]` (and `config -list`)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise RequestError(ErrorId.INVALID_ARGUMENTS, f"dapgo config: {exc}") from None
    paths = call.session.paths
    if words in ([], ["-list"], ["substitutePath"]):
        return paths.describe()
    if words[0] in ("-help", "help", "-h"):
        return CONFIG_HELP
    if words[0] != "substitutePath" or len(words) > 3:
        raise RequestError(ErrorId.INVALID_ARGUMENTS, CONFIG_HELP)
    if len(words) == 3:
        paths.set(words[1], words[2])
        call.then(lambda: call.session.send_event("invalidated", {"areas": ["stacks"]}))
        return paths.describe()
    if not paths.remove(words[1]):
        raise RequestError(ErrorId.INVALID_ARGUMENTS,
                           f"dapgo config: no substitutePath rule for {words[1]!r}\n"
                           + paths.describe())
    call.then(lambda: call.session.send_event("invalidated", {"areas": ["stacks"]}))
    return paths.describe()


async def _dump(call: Call, path: str) -> Body:
    """`dapgo dump PATH` (Delve's `dump`): an ELF core of the stopped program, which keeps
    running when continued."""
    if not path:
        raise RequestError(ErrorId.INVALID_ARGUMENTS, "usage: dapgo dump PATH (the core file "
                           "to write)")
    debugger = call.session.require_debugger()
    answer = await call.session.engine(debugger.dump(path))
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
