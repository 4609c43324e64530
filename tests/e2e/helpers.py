"""Shared steps for end-to-end DAP sessions against real Go fixture programs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fixtures
from dapclient import DAPClient, ListeningServer

Message = dict[str, Any]
TRANSPORTS = ("stdio", "tcp")


@contextmanager
def session(transport: str) -> Iterator[DAPClient]:
    """A DAP client on a fresh dapgo: a stdio child, or a connection to `dapgo --listen`."""
    if transport == "stdio":
        with DAPClient.spawn_stdio() as c:
            yield c
        return
    with ListeningServer() as server, server.connect() as c:
        yield c


def initialize(c: DAPClient) -> Message:
    return c.request("initialize", {"adapterID": "go", "linesStartAt1": True,
                                    "columnsStartAt1": True, "pathFormat": "path"})


def launch(c: DAPClient, args: Message) -> None:
    initialize(c)
    c.request("launch", args, timeout=120)
    c.wait_event("initialized")


def set_line_breakpoints(c: DAPClient, fixture: str, *markers: str) -> list[Message]:
    path = fixtures.line_of(fixture, markers[0])[0]
    lines = [fixtures.line_of(fixture, m)[1] for m in markers]
    body = c.request("setBreakpoints", {"source": {"path": path},
                                        "breakpoints": [{"line": n} for n in lines]})["body"]
    return list(body["breakpoints"])


def mark(c: DAPClient) -> int:
    """Position in the client's message log: wait for events that come after it."""
    return len(c.messages)


def wait_stopped(c: DAPClient, reason: str | None = None, after: int = 0,
                 timeout: float = 20) -> Message:
    ev = c.wait_event("stopped", timeout=timeout, after=after)
    body: Message = ev["body"]
    if reason is not None:
        assert body["reason"] == reason, body
    return body


def resume(c: DAPClient, command: str = "continue", thread_id: int = 1,
           reason: str | None = None, **extra: Any) -> Message:
    """Send continue/next/stepIn/stepOut and wait for the stop that follows."""
    at = mark(c)
    c.request(command, {"threadId": thread_id, **extra})
    return wait_stopped(c, reason, after=at)


def top_frame(c: DAPClient, thread_id: int) -> Message:
    frames = c.request("stackTrace", {"threadId": thread_id, "startFrame": 0, "levels": 1})
    frame: Message = frames["body"]["stackFrames"][0]
    return frame


def frame_variables(c: DAPClient, frame_id: int) -> dict[str, Message]:
    scopes = c.request("scopes", {"frameId": frame_id})["body"]["scopes"]
    out: dict[str, Message] = {}
    for scope in scopes:
        if scope["variablesReference"]:
            body = c.request("variables", {"variablesReference": scope["variablesReference"]})
            out.update({v["name"]: v for v in body["body"]["variables"]})
    return out


def exit_code(c: DAPClient, timeout: float = 30) -> int:
    ev = c.wait_event("exited", timeout=timeout)
    c.wait_event("terminated", timeout=timeout)
    return int(ev["body"]["exitCode"])


def output_text(c: DAPClient, category: str) -> str:
    return "".join(e["body"]["output"] for e in c.events("output")
                   if e["body"].get("category") == category)


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def start_busy() -> subprocess.Popen[bytes]:
    """The busy fixture running on its own (to attach to)."""
    proc = subprocess.Popen([str(fixtures.build("busy"))], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    assert b"busy: pid" in proc.stdout.readline()
    time.sleep(0.1)
    return proc
