"""What one session or connection can make the server hold (issue 18, point 8): each
session's binary is unmapped and its file closed when the session ends, and a client that
never reads makes the server stop reading instead of buffering without limit."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import fixtures
from dapclient import ListeningServer
from e2e.helpers import initialize, mark, wait_stopped


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError("VmRSS")


def holds(pid: int, path: str) -> list[str]:
    """The server's maps and open files that name `path`."""
    found = [ln for ln in Path(f"/proc/{pid}/maps").read_text().splitlines()
             if ln.endswith(path)]
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                found.append(f"fd {fd}")
        except OSError:
            continue
    return found


def released(pid: int, path: str, timeout: float = 5) -> None:
    """Wait until the server neither maps nor holds open `path` (a session's end)."""
    deadline = time.monotonic() + timeout
    while holds(pid, path):
        assert time.monotonic() < deadline, holds(pid, path)
        time.sleep(0.05)


def test_each_session_closes_its_binary_when_it_ends(tmp_path: Path) -> None:
    program = os.path.realpath(fixtures.build("hostile"))
    path, line = fixtures.line_of("hostile", "hold_body")
    with ListeningServer() as server:
        for _ in range(3):
            with server.connect() as c:
                initialize(c)
                c.request("launch", {"mode": "exec", "program": program,
                                     "args": ["3", "1", str(tmp_path / "out")]}, timeout=60)
                c.request("setBreakpoints", {"source": {"path": path},
                                             "breakpoints": [{"line": line}]})
                at = mark(c)
                c.request("configurationDone")
                wait_stopped(c, "breakpoint", after=at)
                assert holds(server.proc.pid, program)  # mapped while debugging
                c.request("disconnect", {"terminateDebuggee": True})
                c.wait_closed()
            released(server.proc.pid, program)
        # a launch that fails after opening the file (not a Go program) leaves nothing
        with server.connect() as c:
            initialize(c)
            seq = c.send("launch", {"mode": "exec", "program": "/bin/true"})
            assert c.response(seq, timeout=30)["success"] is False
            assert holds(server.proc.pid, os.path.realpath("/bin/true")) == []
            c.request("disconnect")


def test_a_session_closes_the_plugins_its_program_loaded() -> None:
    """A Go plugin the program opened (plugin.Open) is read by dapgo too: unmapped and
    closed when the session ends, like the program's own binary."""
    host = fixtures.build("plugins")
    plugin = os.path.realpath(fixtures.build("plugins", flags=("-buildmode=plugin",),
                                             package="./plug"))
    with ListeningServer() as server:
        with server.connect() as c:
            initialize(c)
            c.request("launch", {"mode": "exec", "program": str(host), "args": [plugin]},
                      timeout=60)
            c.request("setFunctionBreakpoints", {"breakpoints": [
                {"name": "example.com/plugins/plug.Scale"}]})
            at = mark(c)
            c.request("configurationDone")
            wait_stopped(c, "function breakpoint", after=at)
            assert holds(server.proc.pid, plugin)  # its DWARF, read by dapgo
            c.request("disconnect", {"terminateDebuggee": True})
            c.wait_closed()
        released(server.proc.pid, plugin)


def test_a_client_that_never_reads_makes_the_server_stop_reading() -> None:
    """Requests whose error responses each echo a megabyte, sent without reading a byte:
    the server stops reading once its unread output passes a bound, and its memory stays
    bounded; once the client goes, the server serves others."""
    command = "x" * (1 << 20)
    body = json.dumps({"seq": 1, "type": "request", "command": command}).encode()
    frame = b"Content-Length: %d\r\n\r\n" % len(body) + body
    with ListeningServer() as server:
        pid = server.proc.pid
        before = rss(pid)
        sock = socket.create_connection((server.host, server.port))
        sent = [0]

        def flood() -> None:
            try:
                for _ in range(400):
                    sock.sendall(frame)
                    sent[0] += 1
            except OSError:
                pass

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        # the sender blocks once the server stops reading: wait until it makes no progress
        last, still = -1, 0.0
        while still < 2.0 and sender.is_alive():
            time.sleep(0.25)
            still = still + 0.25 if sent[0] == last else 0.0
            last = sent[0]
        grown = rss(pid) - before
        assert sender.is_alive(), f"the server read all {sent[0]} MB without a reader"
        assert sent[0] < 100, sent[0]
        assert grown < 150 << 20, grown
        sock.close()
        sender.join(timeout=10)
        with server.connect() as c:  # still serving
            assert c.request("initialize", {"adapterID": "go"})["success"] is True
