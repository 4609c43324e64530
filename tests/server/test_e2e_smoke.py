"""End-to-end smoke tests of the DAP layer with the real engine and real Go fixtures.

These check what the server layer promises (ordering, shutdown, handles) on a real
program; the engine's own behaviour is tested in depth elsewhere.
"""

from __future__ import annotations

import importlib.util
import signal
import time
from pathlib import Path

import fixtures
import pytest
from dapclient import DAPClient, ListeningServer
from procs import children

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dapgo.engine.debugger") is None,
    reason="dapgo.engine.debugger not written yet",
)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def start(c: DAPClient, fixture: str, stop_on_entry: bool = False) -> None:
    c.request("initialize", {"adapterID": "go"})
    c.request("launch", {"program": str(fixtures.build(fixture)), "mode": "exec",
                         "stopOnEntry": stop_on_entry}, timeout=60)
    c.wait_event("initialized")


def test_breakpoint_session_in_order() -> None:
    path, line = fixtures.line_of("basic", "add_body")
    with DAPClient.spawn_stdio() as c:
        start(c, "basic")
        bps = c.request("setBreakpoints", {"source": {"path": path},
                                           "breakpoints": [{"line": line}]})
        assert bps["body"]["breakpoints"][0]["verified"] is True
        done = c.send("configurationDone")
        stopped = c.wait_event("stopped", timeout=30)
        assert c.messages.index(c.response(done)) < c.messages.index(stopped)
        body = stopped["body"]
        assert body["reason"] == "breakpoint" and body["allThreadsStopped"] is True
        frames = c.request("stackTrace", {"threadId": body["threadId"], "levels": 1})["body"]
        assert frames["stackFrames"][0]["name"] == "main.add"
        assert frames["stackFrames"][0]["line"] == line and frames["totalFrames"] > 1
        scopes = c.request("scopes", {"frameId": frames["stackFrames"][0]["id"]})["body"]
        names = [v["name"] for s in scopes["scopes"] if s["variablesReference"]
                 for v in c.request("variables", {"variablesReference":
                                                  s["variablesReference"]})["body"]["variables"]]
        assert {"a", "b"} <= set(names)
        before = len(c.messages)
        cont = c.send("continue", {"threadId": body["threadId"]})
        again = c.wait_event("stopped", after=before, timeout=30)
        assert c.messages.index(c.response(cont)) < c.messages.index(again)
        stale = c.response(c.send("scopes", {"frameId": frames["stackFrames"][0]["id"]}))
        assert not stale["success"] and "until the program resumes" in stale["message"]
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
        c.request("continue", {"threadId": body["threadId"]})
        exited = c.wait_event("exited", timeout=30)
        terminated = c.wait_event("terminated")
        assert exited["body"] == {"exitCode": 0}
        assert c.messages.index(exited) < c.messages.index(terminated)
        assert any("basic: start" in e["body"]["output"] for e in c.events("output"))
        c.request("disconnect")
        c.wait_closed()
    assert c.proc is not None and c.proc.returncode == 0 and not c.violations


def test_pause_while_running_then_disconnect_kills() -> None:
    with DAPClient.spawn_stdio() as c:
        start(c, "busy")
        c.request("configurationDone")
        assert c.proc is not None
        (debuggee,) = children(c.proc.pid)
        time.sleep(0.2)
        pause = c.send("pause", {"threadId": 1})
        stopped = c.wait_event("stopped", lambda b: b["reason"] == "pause", timeout=30)
        assert c.messages.index(c.response(pause)) < c.messages.index(stopped)
        c.request("disconnect", {})
        c.wait_closed()
        assert wait_gone(debuggee)


@pytest.mark.parametrize("how", ["eof", "sigterm"])
def test_abrupt_end_kills_launched_program(how: str) -> None:
    with DAPClient.spawn_stdio() as c:
        start(c, "busy")
        c.request("configurationDone")
        assert c.proc is not None
        (debuggee,) = children(c.proc.pid)
        if how == "eof":
            c.close()
        else:
            c.proc.send_signal(signal.SIGTERM)
        assert c.proc.wait(timeout=20) == 0
        assert wait_gone(debuggee)


def test_tcp_client_vanishes_and_listener_keeps_serving() -> None:
    with ListeningServer() as server:
        c = server.connect()
        start(c, "busy", stop_on_entry=True)
        c.request("configurationDone")
        c.wait_event("stopped", lambda b: b["reason"] == "entry", timeout=30)
        (debuggee,) = children(server.proc.pid)
        c.close()  # no disconnect request
        assert wait_gone(debuggee)
        d = server.connect()
        assert d.request("initialize", {"adapterID": "go"})["success"]
        assert server.stop() == 0
