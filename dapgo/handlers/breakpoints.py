"""Breakpoint requests: setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints.

Each request replaces the whole set it names (one source file's breakpoints, or all
function breakpoints); the engine answers one status per requested breakpoint, in order.
The engine's model is imported by the handlers that build it (not when the server starts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dapgo import convert
from dapgo.handlers.base import Body, Call, Handler, RequestError
from dapgo.protocol.errors import ErrorId

if TYPE_CHECKING:
    from dapgo.engine.model import BreakpointStatus


def _statuses(call: Call, statuses: list[BreakpointStatus], wanted: int) -> Body:
    if len(statuses) != wanted:
        raise RuntimeError(f"engine answered {len(statuses)} breakpoints for {wanted} requested")
    session = call.session
    return {"breakpoints": [convert.breakpoint(s, session.lines, session.paths)
                            for s in statuses]}


async def set_breakpoints(call: Call) -> Body:
    from dapgo.engine.model import SourceBreakpointSpec

    session, args = call.session, call.args
    source = args.req_obj("source")
    path = source.opt_str("path")
    if not path:
        if source.has("sourceReference"):
            raise source.bad("path", "is missing: dapgo sets breakpoints only in files on disk")
        raise source.bad("path", "is required")
    specs: list[SourceBreakpointSpec] = []
    items = args.opt_obj_list("breakpoints")
    if items is not None:
        for item in items:
            specs.append(
                SourceBreakpointSpec(
                    line=session.lines.to_engine(item.req_int("line")),
                    condition=item.opt_str("condition") or None,
                    hit_condition=item.opt_str("hitCondition") or None,
                    log_message=item.opt_str("logMessage") or None,
                )
            )
    else:  # the deprecated `lines` form
        raw = args.raw.get("lines")
        if raw is not None:
            if not isinstance(raw, list) or not all(type(n) is int for n in raw):
                raise args.bad("lines", "must be a list of integers")
            specs = [SourceBreakpointSpec(line=session.lines.to_engine(n)) for n in raw]
    debugger = session.require_debugger()
    binary_path = session.paths.to_binary(path)
    before = session.breakpoint_paths.get(path)
    if before is not None and before != binary_path:  # substitutePath changed meanwhile
        await session.engine(debugger.set_breakpoints(before, []))
    session.breakpoint_paths[path] = binary_path
    statuses = await session.engine(debugger.set_breakpoints(binary_path, specs))
    return _statuses(call, statuses, len(specs))


async def set_function_breakpoints(call: Call) -> Body:
    from dapgo.engine.model import FunctionBreakpointSpec

    session, args = call.session, call.args
    items = args.opt_obj_list("breakpoints")
    if items is None:
        raise args.bad("breakpoints", "is required")
    specs = [
        FunctionBreakpointSpec(
            name=item.req_str("name"),
            condition=item.opt_str("condition") or None,
            hit_condition=item.opt_str("hitCondition") or None,
        )
        for item in items
    ]
    debugger = session.require_debugger()
    statuses = await session.engine(debugger.set_function_breakpoints(specs))
    return _statuses(call, statuses, len(specs))


async def set_exception_breakpoints(call: Call) -> Body:
    session, args = call.session, call.args
    filters = args.req_str_list("filters")
    if session.debugger is None:
        if filters:
            raise RequestError(ErrorId.NO_DEBUGGEE, "no program is being debugged: send a "
                               "'launch' or 'attach' request first")
        return {}
    await session.engine(session.debugger.set_exception_breakpoints(filters))
    return {}




async def data_breakpoint_info(call: Call) -> Body:
    session, args = call.session, call.args
    name = args.req_str("name")
    ref = args.opt_int("variablesReference", minimum=0)
    frame_id = args.opt_int("frameId")
    handle: object | None = None
    thread_id: int | None = None
    frame_index = 0
    if ref:
        entry = session.variables.get(ref, "variablesReference")
        handle = getattr(entry, "handle", None)
    elif frame_id is not None:
        location = session.frames.get(frame_id, "frameId")
        assert isinstance(location, tuple)
        thread_id, frame_index = location
    debugger = session.require_debugger()
    info = await session.engine(
        debugger.data_breakpoint_info(handle, name, thread_id, frame_index))
    body: Body = {"dataId": info.data_id, "description": info.description}
    if info.access_types:
        body["accessTypes"] = list(info.access_types)
        body["canPersist"] = False
    return body


async def set_data_breakpoints(call: Call) -> Body:
    from dapgo.engine.model import DataBreakpointSpec

    session, args = call.session, call.args
    specs = [
        DataBreakpointSpec(
            data_id=bp.req_str("dataId"),
            access_type=bp.opt_str("accessType") or "write",
            condition=bp.opt_str("condition") or None,
            hit_condition=bp.opt_str("hitCondition") or None,
        )
        for bp in args.opt_obj_list("breakpoints") or []
    ]
    debugger = session.require_debugger()
    statuses = await session.engine(debugger.set_data_breakpoints(specs))
    return _statuses(call, statuses, len(specs))


HANDLERS: dict[str, Handler] = {
    "setBreakpoints": set_breakpoints,
    "setFunctionBreakpoints": set_function_breakpoints,
    "setExceptionBreakpoints": set_exception_breakpoints,
    "dataBreakpointInfo": data_breakpoint_info,
    "setDataBreakpoints": set_data_breakpoints,
}
