"""Engine model objects → DAP bodies (breakpoints, threads, and the events the engine reports).

Lines: the engine counts from 1; `LineBase` shifts to what the client asked for in
`initialize` (linesStartAt1 / columnsStartAt1). The engine's model (attrs classes) is
imported when the first event is converted, not when the server starts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dapgo.engine.model import BreakpointStatus, EngineEvent, ThreadInfo

Body = dict[str, Any]


class LineBase:
    """The client's first line and column number (1 unless it said otherwise)."""

    __slots__ = ("column", "line")

    def __init__(self) -> None:
        self.line = 1
        self.column = 1

    def to_client(self, engine_line: int) -> int:
        return engine_line - 1 + self.line

    def to_engine(self, client_line: int) -> int:
        return client_line + 1 - self.line


def source(path: str) -> Body:
    return {"name": os.path.basename(path), "path": path}


def breakpoint(status: BreakpointStatus, base: LineBase) -> Body:
    body: Body = {"id": status.id, "verified": status.verified}
    if status.path is not None:
        body["source"] = source(status.path)
    if status.line is not None:
        body["line"] = base.to_client(status.line)
    if status.message is not None:
        body["message"] = status.message
    if status.address is not None:
        body["instructionReference"] = f"0x{status.address:x}"
    return body


def thread(info: ThreadInfo) -> Body:
    return {"id": info.id, "name": info.name}


def event(ev: EngineEvent, base: LineBase) -> list[tuple[str, Body]]:
    """The DAP events (name, body) that report one engine event, in sending order."""
    from dapgo.engine.model import (
        BreakpointChanged,
        Continued,
        Exited,
        Output,
        ProcessStarted,
        Progress,
        Stopped,
    )

    if isinstance(ev, Stopped):
        body: Body = {"reason": ev.reason, "threadId": ev.thread_id, "allThreadsStopped": True}
        if ev.hit_breakpoint_ids:
            body["hitBreakpointIds"] = list(ev.hit_breakpoint_ids)
        if ev.description is not None:
            body["description"] = ev.description
        if ev.text is not None:
            body["text"] = ev.text
        return [("stopped", body)]
    if isinstance(ev, Continued):
        return [("continued", {"threadId": ev.thread_id, "allThreadsContinued": True})]
    if isinstance(ev, Output):
        out: Body = {"category": ev.category, "output": ev.text}
        if ev.path is not None:
            out["source"] = source(ev.path)
            if ev.line is not None:
                out["line"] = ev.line - 1 + base.line
        return [("output", out)]
    if isinstance(ev, Exited):
        return [("exited", {"exitCode": ev.exit_code}), ("terminated", {})]
    if isinstance(ev, BreakpointChanged):
        return [("breakpoint", {"reason": "changed", "breakpoint": breakpoint(ev.status, base)})]
    if isinstance(ev, ProcessStarted):
        return [("process", {"name": ev.name, "systemProcessId": ev.pid, "isLocalProcess": True,
                             "startMethod": ev.start_method, "pointerSize": 64})]
    if isinstance(ev, Progress):
        p: Body = {"progressId": ev.progress_id}
        if ev.kind == "start":
            p["title"] = ev.title
            p["cancellable"] = False
        if ev.message is not None:
            p["message"] = ev.message
        return [(f"progress{ev.kind.capitalize()}", p)]
    raise TypeError(f"unknown engine event {ev!r}")
