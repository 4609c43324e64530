"""Execution control requests: continue, pause, next, stepIn, stepOut.

`continue` answers once the program runs; the `stopped` or `exited` event that follows
comes from the engine (held until the response is sent, so frame ids and variable
references are forgotten after the engine accepts the request, never for a refused one).
`pause` is handled out of order (see dapgo.session), so it gets through while other
requests wait; the engine reports `stopped` (reason "pause").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dapgo.handlers.base import Body, Call, Handler

if TYPE_CHECKING:
    from dapgo.engine.model import StepKind


async def continue_(call: Call) -> Body:
    session, args = call.session, call.args
    args.req_int("threadId")
    debugger = session.require_debugger()
    await session.engine(debugger.resume())
    session.reset_handles()  # once it runs: a refused continue keeps the stop's ids valid
    return {"allThreadsContinued": True}


async def pause(call: Call) -> None:
    session, args = call.session, call.args
    args.req_int("threadId")
    debugger = session.require_debugger()
    await session.engine(debugger.pause())


GRANULARITIES = ("statement", "line", "instruction")


def _stepper(kind: StepKind) -> Handler:
    async def step(call: Call) -> None:
        session, args = call.session, call.args
        thread_id = args.req_int("threadId")
        granularity = args.opt_str("granularity") or "statement"
        if granularity not in GRANULARITIES:
            raise args.bad("granularity", f"is {granularity!r}; use one of {GRANULARITIES}")
        debugger = session.require_debugger()
        await session.engine(debugger.step(thread_id, kind, granularity == "instruction"))
        session.reset_handles()  # once it runs: a refused step keeps the stop's ids valid

    return step


HANDLERS: dict[str, Handler] = {
    "continue": continue_,
    "pause": pause,
    "next": _stepper("over"),
    "stepIn": _stepper("in"),
    "stepOut": _stepper("out"),
}
