"""Inspection requests: threads, stackTrace, scopes, variables.

Frame ids and variable references are session-owned integers standing for
(goroutine, frame index) pairs and opaque engine handles; they are forgotten whenever the
program resumes (see Session.reset_handles).
"""

from __future__ import annotations

from dapgo import convert
from dapgo.engine.api import MAX_PAGE, clamp
from dapgo.handlers.base import Body, Call, Handler


async def threads(call: Call) -> Body:
    session = call.session
    if session.debugger is None:
        return {"threads": []}
    answer = await session.engine(session.debugger.threads())
    omitted = answer.omitted
    if omitted and omitted != session.omitted_reported:
        message = answer.omitted_message
        call.then(lambda: session.send_event("output", {"category": "console",
                                                        "output": message.rstrip("\n") + "\n"}))
    session.omitted_reported = omitted
    return {"threads": [convert.thread(t) for t in answer.threads]}


async def stack_trace(call: Call) -> Body:
    session, args = call.session, call.args
    thread_id = args.req_int("threadId")
    start = args.opt_int("startFrame", minimum=0) or 0
    # all frames (levels 0) means a page of stackTraceDepth; the client pages on with
    # totalFrames (supportsDelayedStackTraceLoading)
    levels = args.opt_int("levels", minimum=0) or session.options.stack_trace_depth
    debugger = session.require_debugger()
    frames, total = await session.engine(debugger.stack_trace(thread_id, start, levels))
    out: list[Body] = []
    for index, frame in enumerate(frames, start=start):
        ref = session.frames.add((thread_id, index))
        body: Body = {
            "id": ref,
            "name": frame.function,
            "line": session.lines.to_client(frame.line) if frame.path else 0,
            "column": session.lines.column if frame.path else 0,
            "instructionPointerReference": f"0x{frame.pc:x}",
        }
        if frame.path:
            body["source"] = convert.source(frame.path, session.paths)
        else:
            body["presentationHint"] = "subtle"
        out.append(body)
    return {"stackFrames": out, "totalFrames": total}


async def scopes(call: Call) -> Body:
    session, args = call.session, call.args
    frame_id = args.req_int("frameId")
    location = session.frames.get(frame_id, "frameId")
    assert isinstance(location, tuple)
    thread_id, index = location
    debugger = session.require_debugger()
    infos = await session.engine(debugger.scopes(
        thread_id, index, session.options.show_global_variables, session.show_registers))
    out: list[Body] = []
    for scope in infos:
        body: Body = {
            "name": scope.name,
            "variablesReference": variable_ref(call, scope.handle, None),
            "expensive": scope.expensive,
        }
        if scope.presentation_hint:
            body["presentationHint"] = scope.presentation_hint
        out.append(body)
    return {"scopes": out}


async def variables(call: Call) -> Body:
    session, args = call.session, call.args
    ref = args.req_int("variablesReference", minimum=1)
    entry = session.variables.get(ref, "variablesReference")
    assert isinstance(entry, _Ref)
    filter_ = args.opt_str("filter")
    if filter_ not in (None, "indexed", "named"):
        raise args.bad("filter", "must be 'indexed' or 'named'")
    start = args.opt_int("start", minimum=0)
    # 0 means all; a page holds at most MAX_PAGE children (the answer has what was loaded)
    count = clamp(args.opt_int("count", minimum=0), MAX_PAGE) or None
    if filter_ == "named" and entry.indexed and not entry.named:
        return {"variables": []}  # a container with only indexed children
    debugger = session.require_debugger()
    infos = await session.engine(debugger.variables(entry.handle, start, count))
    out: list[Body] = []
    for var in infos:
        body: Body = {
            "name": var.name,
            "value": var.value,
            "type": var.type,
            "variablesReference": variable_ref(call, var.handle, var),
        }
        if var.named_children is not None:
            body["namedVariables"] = var.named_children
        if var.indexed_children is not None:
            body["indexedVariables"] = var.indexed_children
        if var.memory_reference is not None:
            body["memoryReference"] = f"0x{var.memory_reference:x}"
        if var.evaluate_name is not None:
            body["evaluateName"] = var.evaluate_name
        out.append(body)
    return {"variables": out}


class _Ref:
    """What a variablesReference stands for: an engine handle and its child counts."""

    __slots__ = ("handle", "indexed", "named")

    def __init__(self, handle: object, indexed: int | None, named: int | None) -> None:
        self.handle = handle
        self.indexed = indexed
        self.named = named


def variable_ref(call: Call, handle: object | None, var: object | None) -> int:
    """A variablesReference for an engine handle (0 for a leaf)."""
    if handle is None:
        return 0
    indexed = getattr(var, "indexed_children", None)
    named = getattr(var, "named_children", None)
    return call.session.variables.add(_Ref(handle, indexed, named))


async def exception_info(call: Call) -> Body:
    session, args = call.session, call.args
    thread_id = args.req_int("threadId")
    debugger = session.require_debugger()
    info = await session.engine(debugger.exception_info(thread_id))
    return {
        "exceptionId": info.exception_id,
        "description": info.description,
        "breakMode": info.break_mode,
        "details": {"message": info.description, "typeName": info.type_name,
                    "stackTrace": convert.stack_text(info.stack, session.paths)},
    }


HANDLERS: dict[str, Handler] = {
    "exceptionInfo": exception_info,
    "threads": threads,
    "stackTrace": stack_trace,
    "scopes": scopes,
    "variables": variables,
}
