"""Only dapgo's own user is served (issue 18, point 6): loopback TCP peers of another uid
are refused (their socket's owner read from /proc/net/tcp{,6}), `--listen unix:PATH` makes
a mode-0600 socket and checks SO_PEERCRED."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from dapclient import DAPGO, DAPClient, ListeningServer

from dapgo import peers

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as nobody")
INITIALIZE = json.dumps({"seq": 1, "type": "request", "command": "initialize",
                         "arguments": {"adapterID": "go"}}).encode()

# a client run as user nobody: sends initialize, prints what comes back before the server
# closes the connection (or "REFUSED-CONNECT: ..." when it cannot even connect)
CLIENT = r"""
import socket, sys
family, address = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode()
if family == "unix":
    s = socket.socket(socket.AF_UNIX)
    target = address
else:
    host, port = address.rsplit(":", 1)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    target = (host, int(port))
try:
    s.connect(target)
except OSError as exc:
    print("REFUSED-CONNECT:", exc)
    sys.exit(0)
s.settimeout(10)
got = b""
try:
    s.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    while b'"command":"initialize"' not in got:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
except OSError as exc:
    print("ERROR:", exc)
print("GOT:", got.decode("utf-8", "replace"))
"""


def as_nobody(family: str, address: str) -> str:
    out = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", CLIENT,
                          family, address, INITIALIZE.decode()],
                         capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


def test_proc_net_tcp_names_the_owner_of_a_local_peer() -> None:
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as listener:
            listener.bind((host, 0))
            listener.listen()
            client = socket.create_connection(listener.getsockname()[:2])
            conn, peer = listener.accept()
            try:
                local = conn.getsockname()
                assert peers.tcp_peer_uid(peer[:2], local[:2]) == os.geteuid()
                assert peers.refusal(conn) is None
            finally:
                conn.close()
                client.close()


@needs_root
@pytest.mark.parametrize("address", ["127.0.0.1:0", "[::1]:0"])
def test_tcp_peer_of_another_user_is_refused_and_the_same_user_served(address: str) -> None:
    with ListeningServer(address) as server:
        target = f"{server.host}:{server.port}"
        out = as_nobody("tcp", target)
        assert "GOT:" in out and '"command":"initialize"' not in out, out
        deadline = time.monotonic() + 5
        while not any("refused a connection" in ln for ln in server.stderr_lines):
            assert time.monotonic() < deadline, server.stderr_lines
            time.sleep(0.05)
        assert any("uid 65534" in ln for ln in server.stderr_lines), server.stderr_lines
        with server.connect() as c:  # the same user, meanwhile and afterwards
            assert c.request("initialize", {"adapterID": "go"})["success"] is True
        assert server.stop() == 0


@needs_root
def test_unix_socket_is_private_and_checks_its_peer() -> None:
    where = Path(tempfile.mkdtemp(prefix="dapgo-peers-", dir="/tmp"))  # nobody may enter
    os.chmod(where, 0o755)
    path = where / "dapgo.sock"
    proc = subprocess.Popen([DAPGO, "--listen", f"unix:{path}"], stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().strip() == f"dapgo: listening on unix:{path}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "REFUSED-CONNECT" in as_nobody("unix", str(path))  # the mode keeps it out
        os.chmod(path, 0o666)  # even when the mode lets it in, SO_PEERCRED refuses it
        out = as_nobody("unix", str(path))
        assert "GOT:" in out and '"command":"initialize"' not in out, out
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(path))
        rfile = sock.makefile("rb")
        with DAPClient(rfile, sock.sendall, sock.close) as c:
            assert c.request("initialize", {"adapterID": "go"})["success"] is True
            c.request("disconnect")
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    assert not path.exists()  # removed at exit
    where.rmdir()


def test_unix_listen_address_errors() -> None:
    out = subprocess.run([DAPGO, "--listen", "unix:"], capture_output=True, text=True)
    assert out.returncode == 2 and "expected unix:PATH" in out.stderr
