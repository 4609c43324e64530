"""Output back-pressure, end to end: a client that stops reading while the program floods
stdout must not make dapgo's memory grow, must not stall the rest of dapgo (signals, other
sessions), and once it reads again it must get every byte of output, in order.

Real dapgo processes, the `flood` fixture (64-byte numbered lines, as fast as it can), and
clients whose reader thread the test can stop (`Gate`). Over stdio both kinds of output
descriptor editors give an adapter are covered: a pipe (Python's subprocess) and an AF_UNIX
socketpair (what Node, so VS Code, and libuv, so nvim-dap, use).
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import fixtures
import pytest
from dapclient import DAPGO, DAPClient, ListeningServer, Wrap, _drain
from procs import children

ENGINE = importlib.util.find_spec("dapgo.engine.debugger") is not None
pytestmark = pytest.mark.skipif(not ENGINE, reason="dapgo.engine.debugger not written yet")

Message = dict[str, Any]
LINE = "flood {:08d} " + "x" * 48 + "\n"  # the fixture's lines, 64 bytes each
# dapgo's backlog is bounded by about a megabyte (dapgo.outbox); without back-pressure the
# flood grows it by tens of megabytes a second
RSS_GROWTH_LIMIT = 48 << 20
STALL = 2.0  # seconds the client does not read


class Gate:
    """A client's input that the test can stop: while closed, its reader thread reads no
    further than what the stream's buffer already holds."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.open = threading.Event()
        self.open.set()

    def readline(self) -> bytes:
        self.open.wait()
        return self._raw.readline()

    def read(self, n: int) -> bytes:
        self.open.wait()
        return self._raw.read(n)


def spawn_stdio(kind: str) -> tuple[DAPClient, Gate]:
    """dapgo over stdio, its stdin and stdout pipes or (as editors do) socketpairs."""
    if kind == "pipe":
        wrap, gates = _gated()
        return DAPClient.spawn_stdio(wrap=wrap), gates[0]
    to_child, child_in = socket.socketpair()
    from_child, child_out = socket.socketpair()
    proc = subprocess.Popen([DAPGO], stdin=child_in.fileno(), stdout=child_out.fileno(),
                            stderr=subprocess.PIPE)
    child_in.close()
    child_out.close()
    rfile = from_child.makefile("rb")

    def close() -> None:
        to_child.close()
        rfile.close()
        from_child.close()

    gate = Gate(rfile)
    client = DAPClient(cast(IO[bytes], gate), to_child.sendall, close, proc)
    client.stderr_lines = _drain(proc)
    return client, gate


def _gated() -> tuple[Wrap, list[Gate]]:
    """A `wrap` for DAPClient that holds dapgo's output behind a Gate (kept in the list)."""
    gates: list[Gate] = []

    def wrap(rfile: IO[bytes]) -> IO[bytes]:
        gates.append(Gate(rfile))
        return cast(IO[bytes], gates[-1])

    return wrap, gates


def connect(server: ListeningServer) -> tuple[DAPClient, Gate]:
    wrap, gates = _gated()
    return DAPClient.connect(server.host, server.port, timeout=10, wrap=wrap), gates[0]


@contextmanager
def flood_session(transport: str) -> Iterator[tuple[DAPClient, Gate, int]]:
    """A gated client and the pid of the dapgo process serving it."""
    if transport == "tcp":
        with ListeningServer() as server:
            client, gate = connect(server)
            try:
                yield client, gate, server.proc.pid
            finally:
                gate.open.set()
                client.close()
                assert server.stop() == 0
        return
    client, gate = spawn_stdio(transport.removeprefix("stdio-"))
    assert client.proc is not None
    try:
        yield client, gate, client.proc.pid
    finally:
        gate.open.set()
        client.close()


def start_flood(c: DAPClient, lines: int) -> None:
    """initialize + launch the flood fixture (not yet configurationDone)."""
    c.request("initialize", {"adapterID": "go", "linesStartAt1": True, "columnsStartAt1": True,
                             "pathFormat": "path"})
    c.request("launch", {"mode": "exec", "program": str(fixtures.build("flood")),
                         "args": [str(lines)]}, timeout=60)
    c.wait_event("initialized")


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def blocked_writing_a_pipe(pid: int) -> bool:
    """Some thread of `pid` sleeps in a write to a full pipe."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return False  # it ended: it wrote everything
    for task in tasks:
        try:
            if "pipe_write" in (task / "wchan").read_text():
                return True
        except OSError:
            pass
    return False


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def stall_and_measure(dapgo: int, program: int | None) -> int:
    """With the client not reading: how much dapgo's RSS grew over STALL seconds (from the
    first moment the program was seen blocked on its full output pipe)."""
    deadline = time.monotonic() + 10
    while program is not None and not blocked_writing_a_pipe(program):
        assert time.monotonic() < deadline, "the program never blocked on its output"
        time.sleep(0.02)
    before = rss(dapgo)
    peak = before
    end = time.monotonic() + STALL
    while time.monotonic() < end:
        peak = max(peak, rss(dapgo))
        time.sleep(0.05)
    if program is not None:
        assert blocked_writing_a_pipe(program), "the program went on writing"
    return peak - before


def wait_until(c: DAPClient, name: str, timeout: float) -> Message:
    """Like wait_event, without rescanning thousands of output events on every arrival."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        messages = c.messages[seen:]
        for m in messages:
            if m.get("type") == "event" and m.get("event") == name:
                return m
        seen += len(messages)
        if c.closed or time.monotonic() > deadline:
            raise TimeoutError(f"no {name!r} event ({len(c.messages)} messages)")
        time.sleep(0.02)


@pytest.mark.parametrize("kind", ["pipe", "socketpair"])
def test_stdio_stalled_client_bounded_memory_and_sigterm(kind: str) -> None:
    client, gate = spawn_stdio(kind)
    assert client.proc is not None
    dapgo = client.proc
    try:
        start_flood(client, 0)
        client.request("configurationDone")
        first = client.wait_event("output", lambda b: "flood: pid" in b["output"])
        program = int(first["body"]["output"].split()[-1])
        gate.open.clear()
        assert stall_and_measure(dapgo.pid, program) < RSS_GROWTH_LIMIT
        t0 = time.monotonic()
        dapgo.send_signal(signal.SIGTERM)
        assert dapgo.wait(timeout=10) == 0
        took = time.monotonic() - t0
        assert took < 5, f"dapgo took {took:.1f}s to end on SIGTERM"
        assert gone(program), "the program outlived dapgo"
    finally:
        gate.open.set()
        client.close()
    assert not any("Traceback" in line for line in client.stderr_lines), client.stderr_lines


def test_tcp_stalled_session_does_not_hold_up_another() -> None:
    with ListeningServer() as server:
        stalled, gate = connect(server)
        start_flood(stalled, 0)
        stalled.request("configurationDone")
        first = stalled.wait_event("output", lambda b: "flood: pid" in b["output"])
        program = int(first["body"]["output"].split()[-1])
        gate.open.clear()
        before = rss(server.proc.pid)
        assert stall_and_measure(server.proc.pid, program) < RSS_GROWTH_LIMIT

        # meanwhile a second session on the same server works as usual
        with server.connect() as other:
            t0 = time.monotonic()
            start_flood(other, 1000)
            other.request("configurationDone")
            assert wait_until(other, "exited", 30)["body"]["exitCode"] == 0
            wait_until(other, "terminated", 10)
            took = time.monotonic() - t0
            text = "".join(e["body"]["output"] for e in other.events("output")
                           if e["body"].get("category") == "stdout")
            assert text == "".join(LINE.format(i) for i in range(1000))
            other.request("disconnect")
            other.wait_closed()
            assert not other.violations
        assert took < 15, f"the second session took {took:.1f}s"
        assert rss(server.proc.pid) - before < RSS_GROWTH_LIMIT
        assert blocked_writing_a_pipe(program)

        t0 = time.monotonic()
        assert server.stop(signal.SIGTERM) == 0
        assert time.monotonic() - t0 < 5
        assert gone(program), "the program outlived dapgo"
        gate.open.set()
        stalled.close()
        assert not any("Traceback" in line for line in server.stderr_lines), \
            server.stderr_lines


@pytest.mark.parametrize("transport", ["stdio-pipe", "stdio-socketpair", "tcp"])
def test_output_complete_and_in_order_after_a_stall(transport: str) -> None:
    lines = 300_000  # 19.2 MB: far more than every buffer between the program and the client
    with flood_session(transport) as (c, gate, dapgo):
        start_flood(c, lines)
        gate.open.clear()
        c.send("configurationDone")
        deadline = time.monotonic() + 10
        while not (kids := children(dapgo)):
            assert time.monotonic() < deadline, "no program started"
            time.sleep(0.02)
        assert stall_and_measure(dapgo, kids[0]) < RSS_GROWTH_LIMIT
        gate.open.set()
        assert wait_until(c, "exited", 60)["body"]["exitCode"] == 0
        wait_until(c, "terminated", 10)
        outputs = [e["body"] for e in c.events("output")]
        stdout = "".join(b["output"] for b in outputs if b.get("category") == "stdout")
        assert len(stdout) == 64 * lines
        assert stdout == "".join(LINE.format(i) for i in range(lines))
        assert "flood: done" in "".join(b["output"] for b in outputs
                                        if b.get("category") == "stderr")
        seqs = [m["seq"] for m in c.messages]
        assert seqs == list(range(1, len(seqs) + 1))
        c.request("disconnect")
        c.wait_closed()
        assert not c.violations
