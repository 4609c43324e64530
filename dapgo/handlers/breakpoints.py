"""Breakpoint requests: setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints.

Each request replaces the whole set it names (one source file's breakpoints, or all
function breakpoints); the engine answers one status per requested breakpoint, in order.
"""

from __future__ import annotations

from dapgo import convert
from dapgo.engine.model import BreakpointStatus, FunctionBreakpointSpec, SourceBreakpointSpec
from dapgo.handlers.base import Body, Call, Handler, RequestError
from dapgo.protocol.errors import ErrorId


def _statuses(call: Call, statuses: list[BreakpointStatus], wanted: int) -> Body:
    if len(statuses) != wanted:
        raise RuntimeError(f"engine answered {len(statuses)} breakpoints for {wanted} requested")
    return {"breakpoints": [convert.breakpoint(s, call.session.lines) for s in statuses]}


async def set_breakpoints(call: Call) -> Body:
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
    statuses = await session.run_engine(debugger.set_breakpoints, path, specs)
    return _statuses(call, statuses, len(specs))


async def set_function_breakpoints(call: Call) -> Body:
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
    statuses = await session.run_engine(debugger.set_function_breakpoints, specs)
    return _statuses(call, statuses, len(specs))


async def set_exception_breakpoints(call: Call) -> Body:
    session, args = call.session, call.args
    filters = args.req_str_list("filters")
    if session.debugger is None:
        if filters:
            raise RequestError(ErrorId.NO_DEBUGGEE, "no program is being debugged: send a "
                               "'launch' or 'attach' request first")
        return {}
    await session.run_engine(session.debugger.set_exception_breakpoints, filters)
    return {}


HANDLERS: dict[str, Handler] = {
    "setBreakpoints": set_breakpoints,
    "setFunctionBreakpoints": set_function_breakpoints,
    "setExceptionBreakpoints": set_exception_breakpoints,
}
