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
    from dapgo.paths import PathMap

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


def source(path: str, paths: PathMap | None = None) -> Body:
    """A DAP Source for a path from the binary, as the client names it (substitutePath)."""
    if paths is not None:
        path = paths.to_client(path)
    return {"name": os.path.basename(path), "path": path}


def stack_text(stack: str, paths: PathMap) -> str:
    """A Go-style stack ("function()\n\tfile:line" per frame) with client paths."""
    out = []
    for ln in stack.split("\n"):
        if ln.startswith("\t"):
            file, sep, rest = ln[1:].rpartition(":")
            if sep and file:
                ln = "\t" + paths.to_client(file) + ":" + rest
        out.append(ln)
    return "\n".join(out)


def breakpoint(status: BreakpointStatus, base: LineBase, paths: PathMap | None = None
               ) -> Body:
    body: Body = {"id": status.id, "verified": status.verified}
    if status.path is not None:
        body["source"] = source(status.path, paths)
    if status.line is not None:
        body["line"] = base.to_client(status.line)
    if status.message is not None:
        body["message"] = status.message
    if status.address is not None:
        body["instructionReference"] = f"0x{status.address:x}"
    return body


def thread(info: ThreadInfo) -> Body:
    return {"id": info.id, "name": info.name}


def event(ev: EngineEvent, base: LineBase, paths: PathMap | None = None
          ) -> list[tuple[str, Body]]:
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
            out["source"] = source(ev.path, paths)
            if ev.line is not None:
                out["line"] = ev.line - 1 + base.line
        return [("output", out)]
    if isinstance(ev, Exited):
        return [("exited", {"exitCode": ev.exit_code}), ("terminated", {})]
    if isinstance(ev, BreakpointChanged):
        return [("breakpoint", {"reason": "changed",
                                "breakpoint": breakpoint(ev.status, base, paths)})]
    if isinstance(ev, ProcessStarted):
        return [("process", {"name": ev.name, "systemProcessId": ev.pid, "isLocalProcess": True,
                             "startMethod": ev.start_method, "pointerSize": 64})]
    if isinstance(ev, Progress):
        prog: Body = {"progressId": ev.id}
        if ev.kind == "start":
            prog["title"] = ev.title
        if ev.message is not None:
            prog["message"] = ev.message
        if ev.percentage is not None and ev.kind != "end":
            prog["percentage"] = ev.percentage
        return [(f"progress{ev.kind.capitalize()}", prog)]
    raise TypeError(f"unknown engine event {ev!r}")
