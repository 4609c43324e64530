"""A small synchronous DAP client for tests: talks to a real `dapgo` over stdio or TCP.

Its frame reader is deliberately separate from dapgo's own parser and strict: whatever dapgo
writes must be exactly `Content-Length: N\\r\\n\\r\\n` + N bytes of a JSON object, or the
client records a protocol violation (see `violations`) that tests can assert is empty.

    with DAPClient.spawn_stdio() as c:                # or DAPClient.connect(host, port)
        c.request("initialize", {"adapterID": "go"})  # waits; raises DAPError on failure
        seq = c.send("continue", {"threadId": 1})     # fire, then
        c.response(seq)                                # ...wait for it later
        c.wait_event("stopped", lambda b: b["reason"] == "breakpoint")

Several threads may share one client: frames are written whole under a lock, and each
thread waits for its own response by request seq (responses are indexed by `request_seq`; a
second response to one request is recorded in `violations`).

`ListeningServer` starts `dapgo --listen 127.0.0.1:0` and reads the bound port from its
stderr line "dapgo: listening on HOST:PORT".
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
DAPGO = str(ROOT / ".venv" / "bin" / "dapgo")
DEFAULT_TIMEOUT = 10.0

T = TypeVar("T")
Message = dict[str, Any]


Wrap = Callable[[IO[bytes]], IO[bytes]]  # a reader put between dapgo and the client


class DAPError(AssertionError):
    """A request answered with success=false (the response is in `.response`)."""

    def __init__(self, response: Message) -> None:
        super().__init__(f"{response.get('command')!r} failed: {response.get('message')}")
        self.response = response


class DAPClient:
    def __init__(self, rfile: IO[bytes], write: Callable[[bytes], None],
                 close: Callable[[], None], proc: subprocess.Popen[bytes] | None = None) -> None:
        self._rfile = rfile
        self._write = write
        self._close = close
        self.proc = proc
        self._seq = 0
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()  # one frame at a time, whichever thread sends
        self.messages: list[Message] = []  # everything received, in order
        self._responses: dict[int, Message] = {}  # by request_seq
        self.violations: list[str] = []
        self.closed = False  # the server closed the stream
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # ---- construction ----

    @classmethod
    def spawn_stdio(cls, *args: str, env: dict[str, str] | None = None,
                    prefix: tuple[str, ...] = (), executable: str = DAPGO,
                    cwd: str | None = None, wrap: Wrap | None = None) -> DAPClient:
        """dapgo over stdio; `prefix` runs it through another command (e.g. runuser),
        `executable` is another dapgo than the checkout's (e.g. one installed from the wheel),
        `wrap` stands between dapgo's output and the client's reader (e.g. to hold it)."""
        proc = subprocess.Popen(
            [*prefix, executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, cwd=cwd,
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin = proc.stdin

        def write(data: bytes) -> None:
            stdin.write(data)
            stdin.flush()

        client = cls(wrap(proc.stdout) if wrap else proc.stdout, write, stdin.close, proc)
        client.stderr_lines = _drain(proc)
        return client

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = DEFAULT_TIMEOUT,
                wrap: Wrap | None = None) -> DAPClient:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(None)

        def close() -> None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

        rfile = sock.makefile("rb")
        return cls(wrap(rfile) if wrap else rfile, sock.sendall, close)

    stderr_lines: list[str]

    def __enter__(self) -> DAPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._close()
        except OSError:
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=DEFAULT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # ---- sending ----

    def send_raw(self, data: bytes) -> None:
        with self._send_lock:
            self._write(data)

    def send(self, command: str, arguments: Message | None = None, **extra: Any) -> int:
        """Send a request; returns its seq. `extra` adds or overrides envelope fields."""
        with self._cond:
            self._seq += 1
            seq = self._seq
        msg: Message = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        msg.update(extra)
        self.send_message(msg)
        return seq

    def send_message(self, msg: Any) -> None:
        body = json.dumps(msg).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def request(self, command: str, arguments: Message | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> Message:
        """Send a request and wait for its response; raise DAPError if it failed."""
        response = self.response(self.send(command, arguments), timeout)
        if not response.get("success"):
            raise DAPError(response)
        return response

    # ---- receiving ----

    def _wait(self, find: Callable[[], T | None], timeout: float, what: str) -> T:
        """What `find` finds (called under the lock) once it is there; TimeoutError, with
        the last messages, when the timeout passes or the stream closes first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = find()
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    state = "stream closed" if self.closed else f"timed out after {timeout}s"
                    raise TimeoutError(f"no {what}: {state}; the last messages: "
                                       f"{self.messages[-50:]!r}")
                self._cond.wait(left)

    def response(self, request_seq: int, timeout: float = DEFAULT_TIMEOUT) -> Message:
        return self._wait(lambda: self._responses.get(request_seq), timeout,
                          f"response to request {request_seq}")

    def answered(self, request_seq: int) -> Message | None:
        """The response to a request if it has come (no waiting)."""
        with self._cond:
            return self._responses.get(request_seq)

    def wait_event(self, name: str, predicate: Callable[[Message], bool] | None = None,
                   timeout: float = DEFAULT_TIMEOUT, after: int = 0) -> Message:
        """The first event `name` (received at index >= `after`) whose body matches."""
        def match(m: Message) -> bool:
            return (m.get("type") == "event" and m.get("event") == name
                    and (predicate is None or predicate(m.get("body", {}))))
        return self.wait_for(match, timeout, f"event {name!r}", after)

    def wait_for(self, match: Callable[[Message], bool], timeout: float = DEFAULT_TIMEOUT,
                 what: str = "message", after: int = 0) -> Message:
        index = self.wait_index(match, timeout, what, after)
        with self._cond:
            return self.messages[index]

    def wait_index(self, match: Callable[[Message], bool], timeout: float = DEFAULT_TIMEOUT,
                   what: str = "message", after: int = 0) -> int:
        """Where in `messages` the first match at index >= `after` is, once it came."""
        return self._wait(lambda: next((i for i in range(after, len(self.messages))
                                        if match(self.messages[i])), None), timeout, what)

    def events(self, name: str | None = None) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.get("type") == "event"
                    and (name is None or m.get("event") == name)]

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the server did not close the stream")
                self._cond.wait(left)

    def _read_loop(self) -> None:
        try:
            while True:
                msg = self._read_one()
                if msg is None:
                    break
                with self._cond:
                    self.messages.append(msg)
                    seq = msg.get("request_seq")
                    # request_seq 0 answers input that was no request at all: never indexed
                    if msg.get("type") == "response" and type(seq) is int and seq > 0:
                        if seq in self._responses:
                            self.violations.append(f"second response to request {seq}: {msg!r}")
                        else:
                            self._responses[seq] = msg
                    self._cond.notify_all()
        except (OSError, ValueError) as exc:
            self.violations.append(f"read failed: {exc}")
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def _read_one(self) -> Message | None:
        line = self._rfile.readline()
        if not line:
            return None
        m = re.fullmatch(rb"Content-Length: (\d+)\r\n", line)
        if not m:
            self.violations.append(f"bad header line {line!r}")
            return None
        if self._rfile.readline() != b"\r\n":
            self.violations.append("header not closed by an empty line")
            return None
        length = int(m.group(1))
        body = self._rfile.read(length)
        if len(body) != length:
            self.violations.append(f"short body: {len(body)} of {length} bytes")
            return None
        msg = json.loads(body.decode("utf-8"))
        if not isinstance(msg, dict):
            self.violations.append(f"message is not an object: {msg!r}")
            return None
        return msg


def _drain(proc: subprocess.Popen[bytes]) -> list[str]:
    """Collect a process's stderr lines in the background (so it never blocks)."""
    lines: list[str] = []
    assert proc.stderr is not None
    stderr = proc.stderr

    def pump() -> None:
        for raw in stderr:
            lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


class ListeningServer:
    """`dapgo --listen ADDRESS` as a subprocess; `.host`/`.port` are what it bound."""

    def __init__(self, address: str = "127.0.0.1:0", *extra: str,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.proc = subprocess.Popen([DAPGO, "--listen", address, *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env={**os.environ})
        self.stderr_lines = _drain(self.proc)
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.stderr_lines):
                m = re.fullmatch(r"dapgo: listening on \[?([^\]]*)\]?:(\d+)", line)
                if m:
                    self.host, self.port = m.group(1), int(m.group(2))
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dapgo did not start listening: {self.stderr_lines}")
            time.sleep(0.02)

    def connect(self) -> DAPClient:
        return DAPClient.connect(self.host, self.port)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEFAULT_TIMEOUT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def __enter__(self) -> ListeningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
