"""Transports: serve DAP sessions over stdio (the default) or a TCP listener.

Each TCP connection is its own `Session`; the listener serves until SIGINT/SIGTERM, which
end every session cleanly (launched programs killed, attached ones detached). Over stdio the
process serves one session and exits when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from dapgo.engine.errors import DebuggerError
from dapgo.engine.model import EngineEvent
from dapgo.handlers.base import Debugger
from dapgo.session import DebuggerFactory, Session

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
DEFAULT_HOST = "127.0.0.1"


def engine_debugger(on_event: Callable[[EngineEvent], None]) -> Debugger:
    """The real engine facade (imported on first use, so the server starts without it)."""
    try:
        from dapgo.engine.debugger import Debugger as EngineDebugger
    except ImportError as exc:
        log.exception("cannot import the engine")
        raise DebuggerError(f"the dapgo debugging engine is not available: {exc}") from exc
    debugger: Debugger = EngineDebugger(on_event)
    return debugger


def parse_listen(text: str) -> tuple[str, int]:
    """`[HOST]:PORT` → (host, port); an empty host means 127.0.0.1, `[::1]:N` is IPv6."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid --listen address {text!r}: expected [HOST]:PORT")
    return host or DEFAULT_HOST, int(port_text)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _show_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _StreamWriter:
    """asyncio StreamWriter → the session's Writer."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ConnectionError("connection closed")
        self._writer.write(data)

    def close(self) -> None:
        self._writer.close()


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)


def _ignore_signals_from_now_on() -> None:
    """Everything is shut down: a late SIGINT/SIGTERM must not reach the loop's wakeup pipe
    while it closes (it would print a BrokenPipeError); the process is exiting anyway."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)


async def serve_tcp(
    host: str, port: int, factory: DebuggerFactory = engine_debugger,
    stop: asyncio.Event | None = None,
) -> int:
    """Listen on host:port and serve every connection until SIGINT/SIGTERM (or `stop`)."""
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    sessions: set[Session] = set()
    handlers: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        session = Session(_StreamWriter(writer), factory, name=f"tcp {peer}")
        sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        log.info("%s: connected", session.name)
        try:
            await session.run(lambda: reader.read(READ_SIZE))
        except Exception:
            log.exception("%s: session failed", session.name)
        finally:
            sessions.discard(session)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            log.info("%s: closed", session.name)
            if task is not None:
                handlers.discard(task)

    server = await asyncio.start_server(connection, host, port)
    for sock in server.sockets:
        bound_host, bound_port = sock.getsockname()[:2]
        print(f"dapgo: listening on {_show_address(bound_host, bound_port)}",
              file=sys.stderr, flush=True)
        if not _is_loopback(bound_host):
            print(
                f"dapgo: warning: {_show_address(bound_host, bound_port)} is not a loopback "
                f"address: anyone who can reach it can run code as user {getpass.getuser()}",
                file=sys.stderr, flush=True,
            )
    await stop.wait()
    log.info("stopping: %d session(s) open", len(sessions))
    server.close()
    await asyncio.gather(*(s.shutdown() for s in list(sessions)), return_exceptions=True)
    if handlers:
        await asyncio.wait(list(handlers), timeout=5)
    await server.wait_closed()
    _ignore_signals_from_now_on()
    return 0


class _FdWriter:
    """Blocking write + flush to the protocol's output descriptor.

    Not pygls's `StdoutWriter`: importing `pygls.io_` pulls in `lsprotocol.types` (LSP's
    message classes), measured at 190 ms of the adapter's start-up, for a ten-line writer;
    and pygls's `StdinAsyncReader` reads lines or exact counts, which cannot feed the
    chunk-based frame parser. DAP needs neither LSP types nor JSON-RPC, so pygls does not fit.
    """

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class _StdinReader:
    """Chunks from a file descriptor, read by a daemon thread (never blocks exit)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._pump, name="dapgo-stdin", daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, READ_SIZE)
            except OSError as exc:
                log.info("stdin read failed: %s", exc)
                chunk = b""
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)
            except RuntimeError:
                return
            if not chunk:
                return

    async def read(self) -> bytes:
        return await self._queue.get()


def _claim_stdio() -> tuple[int, int]:
    """Take fds 0 and 1 for the protocol, leaving /dev/null and stderr in their place.

    Nothing else may read our input or write into our output: not a stray print, not a
    debuggee that inherits the descriptors.
    """
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.set_inheritable(proto_in, False)
    os.set_inheritable(proto_out, False)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


async def serve_stdio(factory: DebuggerFactory = engine_debugger) -> int:
    """Serve one session over stdin/stdout until it ends or SIGINT/SIGTERM arrives."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    proto_in, proto_out = _claim_stdio()
    writer = _FdWriter(proto_out)
    session = Session(writer, factory, name="stdio")
    reader = _StdinReader(proto_in)
    running = asyncio.create_task(session.run(reader.read))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not running.done():
        log.info("stopping on signal")
        await session.shutdown()
    await running
    stopping.cancel()
    _ignore_signals_from_now_on()
    return 0
