"""Server-level tests: real `.venv/bin/dapgo` processes over stdio and TCP."""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dapclient import DAPGO, DAPClient, ListeningServer

ENGINE = importlib.util.find_spec("dapgo.engine.debugger") is not None
needs_engine = pytest.mark.skipif(not ENGINE, reason="dapgo.engine.debugger not written yet")


@pytest.fixture(params=["stdio", "tcp"])
def client(request: pytest.FixtureRequest) -> Iterator[DAPClient]:
    if request.param == "stdio":
        with DAPClient.spawn_stdio() as c:
            yield c
            assert not c.violations
    else:
        with ListeningServer() as server, server.connect() as c:
            yield c
            assert not c.violations
            assert server.stop() == 0


def test_initialize(client: DAPClient) -> None:
    r = client.request("initialize", {"adapterID": "go", "clientID": "test"})
    assert r["body"]["supportsConfigurationDoneRequest"] is True
    assert r["seq"] == 1 and r["request_seq"] == 1 and r["command"] == "initialize"


def test_bad_input_is_answered_and_serving_continues(client: DAPClient) -> None:
    client.send_raw(b"Content-Length: nope\r\n\r\n{}")
    client.send_raw(b"Content-Length: 5\r\n\r\n[1,2]")
    client.send_raw(b"Content-Length: 3\r\n\r\n\xff\xfe{")
    client.send_raw(b"Content-Length: 7\r\n\r\n{bad: 1")
    client.send_raw(b"Content-Length: 999999999999\r\n\r\n")
    unknown = client.send("frobnicate")
    missing = client.send("launch", {})
    r = client.request("initialize", {"adapterID": "go"})
    assert r["success"]
    errors = [m for m in client.messages if m["type"] == "response" and not m["success"]]
    texts = [e["message"] for e in errors]
    assert "invalid Content-Length" in texts[0]
    assert "JSON array, not an object" in texts[1]
    assert "not valid UTF-8" in texts[2]
    assert "not valid JSON" in texts[3]
    assert "exceeds the limit" in texts[4]
    assert all(e["request_seq"] == 0 and e["body"]["error"]["showUser"] for e in errors[:5])
    assert errors[5]["request_seq"] == unknown
    assert "does not support the 'frobnicate' request" in texts[5]
    assert errors[6]["request_seq"] == missing
    assert texts[6] == "launch: argument 'program' is required"
    assert len(errors) == 7


def test_utf8_split_writes(client: DAPClient) -> None:
    body = '{"seq":1,"type":"request","command":"initialize","arguments":{"adapterID":"gö"}}'
    data = b"Content-Length: %d\r\n\r\n" % len(body.encode()) + body.encode()
    for i in range(0, len(data), 7):
        client.send_raw(data[i : i + 7])
    assert client.response(1)["success"]


def test_disconnect_closes_the_connection(client: DAPClient) -> None:
    client.request("initialize", {"adapterID": "go"})
    client.request("disconnect", {})
    client.wait_closed()
    if client.proc is not None:
        assert client.proc.wait(timeout=10) == 0


@needs_engine
def test_launch_missing_program_is_an_error(client: DAPClient) -> None:
    client.request("initialize", {"adapterID": "go"})
    r = client.response(client.send("launch", {"program": "/no/such/program", "mode": "exec"}))
    assert not r["success"]
    assert r["body"]["error"]["id"] == 2000 and r["message"]
    assert client.request("threads")["body"] == {"threads": []}


def test_stdio_end_of_input_exits_cleanly() -> None:
    with DAPClient.spawn_stdio() as c:
        c.request("initialize", {"adapterID": "go"})
        c.close()
        assert c.proc is not None and c.proc.returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stdio_signal_exits_cleanly(sig: int) -> None:
    with DAPClient.spawn_stdio() as c:
        c.request("initialize", {"adapterID": "go"})
        assert c.proc is not None
        c.proc.send_signal(sig)
        assert c.proc.wait(timeout=10) == 0
        c.wait_closed()


def test_tcp_second_connection_and_abrupt_close() -> None:
    with ListeningServer(":0") as server:
        assert server.host == "127.0.0.1" and server.port > 0
        first = server.connect()
        first.request("initialize", {"adapterID": "go"})
        second = server.connect()  # concurrent sessions are independent
        r = second.request("initialize", {"adapterID": "go"})
        assert r["seq"] == 1
        first.close()  # abrupt: no disconnect
        third = server.connect()
        assert third.request("initialize", {"adapterID": "go"})["success"]
        second.request("disconnect")
        second.wait_closed()
        assert server.stop(signal.SIGINT) == 0
        third.wait_closed()
        assert not any("Traceback" in line for line in server.stderr_lines), server.stderr_lines


def test_tcp_sigterm_with_open_session() -> None:
    with ListeningServer() as server:
        c = server.connect()
        c.request("initialize", {"adapterID": "go"})
        assert server.stop(signal.SIGTERM) == 0
        c.wait_closed()


def test_non_loopback_listen_warns() -> None:
    with ListeningServer("0.0.0.0:0") as server:
        assert server.host == "0.0.0.0"
        server.stop()
    text = "\n".join(server.stderr_lines)
    assert "is not a loopback address: anyone who can reach it can run code as user" in text


def test_loopback_listen_does_not_warn() -> None:
    with ListeningServer("127.0.0.1:0") as server:
        server.stop()
    assert not any("warning" in line for line in server.stderr_lines)


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:99999", "host:"])
def test_bad_listen_address(address: str) -> None:
    p = subprocess.run([DAPGO, "--listen", address], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2 and "invalid --listen address" in p.stderr


def test_version() -> None:
    p = subprocess.run([DAPGO, "--version"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("dapgo ")


def test_stdio_answers_everything_sent_before_end_of_input() -> None:
    body = b'{"seq":%d,"type":"request","command":"threads"}'
    data = b"".join(b"Content-Length: %d\r\n\r\n" % len(body % i) + body % i
                    for i in range(1, 51))
    p = subprocess.run([DAPGO], input=data, capture_output=True, timeout=30)
    assert p.returncode == 0
    assert p.stdout.count(b'"success":true') == 50


def test_stdio_output_to_a_regular_file(tmp_path: Path) -> None:
    """A regular file cannot be polled: dapgo writes it from a thread, all of it, in order."""
    body = b'{"seq":%d,"type":"request","command":"threads"}'
    (tmp_path / "in").write_bytes(b"".join(
        b"Content-Length: %d\r\n\r\n" % len(body % i) + body % i for i in range(1, 51)))
    with open(tmp_path / "in", "rb") as stdin, open(tmp_path / "out", "wb") as stdout:
        p = subprocess.run([DAPGO, "--log-level", "INFO"], stdin=stdin, stdout=stdout,
                           stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "protocol output: a writer thread (regular file)" in p.stderr
    out = (tmp_path / "out").read_bytes()
    assert [int(n) for n in re.findall(rb'"request_seq":(\d+)', out)] == list(range(1, 51))


def test_stdio_output_on_a_pipe_is_non_blocking() -> None:
    p = subprocess.run([DAPGO, "--log-level", "INFO"], input=b"", capture_output=True,
                       timeout=30)
    assert p.returncode == 0
    assert b"protocol output: a non-blocking pipe transport (pipe)" in p.stderr
