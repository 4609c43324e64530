"""Execution control requests: continue and pause.

`continue` answers once the program runs; the `stopped` or `exited` event that follows
comes from the engine. `pause` is handled out of order (see dapgo.session), so it gets
through while other requests wait; the engine reports `stopped` (reason "pause").
"""

from __future__ import annotations

from dapgo.handlers.base import Body, Call, Handler


async def continue_(call: Call) -> Body:
    session, args = call.session, call.args
    args.req_int("threadId")
    debugger = session.require_debugger()
    session.reset_handles()
    await session.run_engine(debugger.resume)
    return {"allThreadsContinued": True}


async def pause(call: Call) -> None:
    session, args = call.session, call.args
    args.req_int("threadId")
    debugger = session.require_debugger()
    await session.run_engine(debugger.pause)


HANDLERS: dict[str, Handler] = {"continue": continue_, "pause": pause}
