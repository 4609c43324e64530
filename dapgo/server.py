"""Transports: serve DAP sessions over stdio (the default) or a TCP listener.

Each connection (TCP, or a unix socket with `--listen unix:PATH`) is its own `Session`; the
listener serves until SIGINT/SIGTERM, which end every session cleanly (launched programs
killed, attached ones detached). A peer of another user is refused (dapgo.peers). Over stdio
the process serves one session and exits when it ends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import getpass
import logging
import os
import queue
import signal
import socket
import stat
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dapgo import peers
from dapgo.engine.api import Debugger
from dapgo.engine.errors import DebuggerError
from dapgo.session import DebuggerFactory, Session

if TYPE_CHECKING:
    from dapgo.engine.model import EngineEvent

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
DEFAULT_HOST = "127.0.0.1"
CLOSE_TIMEOUT = 1.0  # for bytes still in a transport at close to go out, then it is aborted


def engine_debugger(on_event: Callable[[EngineEvent], None]) -> Debugger:
    """The real engine facade, imported here on first use: the server starts and answers
    `initialize` without it (the handlers know the engine only through dapgo.engine.api);
    `bench/adapter_startup.py` lists what is imported at start."""
    try:
        from dapgo.engine.family import Family as EngineDebugger
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


UNIX_PREFIX = "unix:"


def unix_path(text: str) -> str | None:
    """The socket path of `--listen unix:PATH`; None for a TCP address."""
    if not text.startswith(UNIX_PREFIX):
        return None
    path = text[len(UNIX_PREFIX):]
    if not path or "\0" in path:
        raise ValueError(f"invalid --listen address {text!r}: expected unix:PATH")
    return path


def _show_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _StreamWriter:
    """asyncio StreamWriter → the session's Writer: every write awaits `drain()`, so a client
    that does not read holds up the session's writer task (and, through the session's
    outbox, the program's output) instead of growing the transport's buffer."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ConnectionError("connection closed")
        self._writer.write(data)
        await self._writer.drain()

    def write_now(self, data: bytes) -> bool:
        return _write_now(self._writer.transport, data)

    async def close(self, abort: bool = False) -> None:
        await _close_stream(self._writer, abort)


def _write_now(transport: asyncio.WriteTransport, data: bytes) -> bool:
    """Writer.write_now for a transport: write if it buffers nothing (nor is closing)."""
    if transport.is_closing() or transport.get_write_buffer_size():
        return False
    transport.write(data)
    return True


async def _close_stream(writer: asyncio.StreamWriter, abort: bool = False) -> None:
    """Close; abort if told to or if the peer leaves the last bytes unread for
    CLOSE_TIMEOUT."""
    if abort:
        writer.transport.abort()
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except TimeoutError:
        writer.transport.abort()
    except (ConnectionError, OSError):
        pass


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
    stop: asyncio.Event | None = None, unix: str | None = None,
) -> int:
    """Listen on host:port (or on the unix socket `unix`) and serve every connection of
    dapgo's own user until SIGINT/SIGTERM (or `stop`)."""
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    sessions: set[Session] = set()
    handlers: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or "unix peer"
        try:
            why = peers.refusal(writer.get_extra_info("socket"))
        except OSError as exc:
            why = f"the peer cannot be identified ({exc})"
        if why is not None:
            log.warning("refused a connection from %s: %s", peer, why)
            print(f"dapgo: refused a connection from {peer}: {why} (only the same user is "
                  "served)", file=sys.stderr, flush=True)
            await _close_stream(writer, abort=True)
            return
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
            await _close_stream(writer)
            log.info("%s: closed", session.name)
            if task is not None:
                handlers.discard(task)

    if unix is not None:
        server = await _start_unix(connection, unix)
        print(f"dapgo: listening on {UNIX_PREFIX}{unix}", file=sys.stderr, flush=True)
    else:
        server = await asyncio.start_server(connection, host, port)
    for sock in server.sockets if unix is None else ():
        bound_host, bound_port = sock.getsockname()[:2]
        print(f"dapgo: listening on {_show_address(bound_host, bound_port)}",
              file=sys.stderr, flush=True)
        if not peers.is_loopback(bound_host):
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
    if unix is not None:
        with contextlib.suppress(OSError):
            os.unlink(unix)
    _ignore_signals_from_now_on()
    return 0


async def _start_unix(
    connection: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any], path: str,
) -> asyncio.Server:
    """A unix socket listener at `path`, mode 0600 from the start (made under umask 077);
    a stale socket file left by a dapgo that died is replaced, anything else is not."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                os.unlink(path)  # nobody listens: stale
            except OSError:
                pass
            else:
                raise OSError(errno.EADDRINUSE, "another server listens there")
            finally:
                probe.close()
    old = os.umask(0o077)
    try:
        server = await asyncio.start_unix_server(connection, path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return server


class _PipeFlow(asyncio.BaseProtocol):
    """Flow control of a write pipe transport: `drain()` waits while the transport's buffer
    is above its high-water mark (the transport calls pause_writing/resume_writing)."""

    def __init__(self) -> None:
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None
        self.closed = asyncio.Event()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionResetError("output closed")
        self.closed.set()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._waiter = None

    async def drain(self) -> None:
        if self._lost is None and self._paused:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        if self._lost is not None:
            raise ConnectionResetError(f"output closed: {self._lost}")


class _PipeWriter:
    """The protocol's output on a non-blocking pipe transport (a pipe, a socket or a tty):
    the loop never blocks on it, and each write waits for the transport's flow control.

    Not pygls's `StdoutWriter` (a blocking write + flush): importing `pygls.io_` pulls in
    `lsprotocol.types` (LSP's message classes), measured at 190 ms of the adapter's start-up,
    and pygls's `StdinAsyncReader` reads lines or exact counts, which cannot feed the
    chunk-based frame parser. DAP needs neither LSP types nor JSON-RPC.
    """

    def __init__(self, transport: asyncio.WriteTransport, flow: _PipeFlow) -> None:
        self._transport = transport
        self._flow = flow

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionError("output closed")
        self._transport.write(data)
        await self._flow.drain()

    def write_now(self, data: bytes) -> bool:
        return _write_now(self._transport, data)

    async def close(self, abort: bool = False) -> None:
        if abort:
            self._transport.abort()
            return
        self._transport.close()
        try:
            await asyncio.wait_for(self._flow.closed.wait(), CLOSE_TIMEOUT)
        except TimeoutError:
            self._transport.abort()


class _ThreadWriter:
    """Blocking writes in a daemon thread, for an output the loop cannot poll (a regular
    file). One write is under way at a time: the session's outbox holds the rest."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._jobs: queue.SimpleQueue[tuple[bytes, asyncio.Future[None]] | None] = (
            queue.SimpleQueue())
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._run, name="dapgo-stdout", daemon=True).start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            data, done = job
            error: OSError | None = None
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(_settle, done, error)
        os.close(self._fd)

    async def write(self, data: bytes) -> None:
        done = self._loop.create_future()
        self._jobs.put((data, done))
        await done

    def write_now(self, data: bytes) -> bool:
        return False  # the thread writes, one write at a time

    async def close(self, abort: bool = False) -> None:
        self._jobs.put(None)  # the thread closes the fd after the last write


def _settle(done: asyncio.Future[None], error: OSError | None) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(None)


async def _stdio_writer(fd: int, proto_in: int) -> _PipeWriter | _ThreadWriter:
    """A non-blocking writer for the protocol's output descriptor where it can be polled.

    Editors spawn the adapter with pipes: VS Code (Node) and nvim-dap (libuv) give it one
    AF_UNIX socketpair per stdio stream, Python's subprocess real pipes. A pipe transport
    sets O_NONBLOCK on the open file description, which every descriptor sharing it sees: a
    pipe or tty is therefore reopened through /proc for a private description; a socket,
    which cannot be reopened, is used as it is unless our stdin or stderr is the same socket
    (then a thread writes, so their blocking reads and writes keep working). A regular file
    (`dapgo > log`) cannot be polled: a thread writes too.
    """
    st = os.fstat(fd)
    target = -1
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        try:
            target = os.open(f"/proc/self/fd/{fd}",
                             os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError as exc:
            log.info("cannot reopen the output privately (%s): writing from a thread", exc)
        else:
            os.close(fd)
    elif stat.S_ISSOCK(st.st_mode) and not any(_same_file(st, other) for other in (proto_in, 2)):
        target = fd
    if target < 0:
        log.info("protocol output: a writer thread (%s)", _kind(st.st_mode))
        return _ThreadWriter(fd)
    log.info("protocol output: a non-blocking pipe transport (%s)", _kind(st.st_mode))
    loop = asyncio.get_running_loop()
    transport, flow = await loop.connect_write_pipe(_PipeFlow, open(target, "wb", buffering=0))
    return _PipeWriter(transport, flow)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "pipe"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISREG, "regular file")):
        if test(mode):
            return name
    return "other"


def _same_file(st: os.stat_result, fd: int) -> bool:
    try:
        other = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino)


class _StdinReader:
    """Chunks from the protocol's input descriptor. A pipe (reopened for a private
    non-blocking file description, as the output is) or a socket (read with MSG_DONTWAIT)
    is polled by the loop itself: a request costs no thread switch. Anything else (a
    regular file, a tty) is read by a daemon thread (never blocks exit).

    `read()` returns a plain future (no task per chunk), completed by the read itself: a
    request reaches the session one turn of the loop after it arrives."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._chunks: collections.deque[bytes] = collections.deque()  # read, not yet taken
        self._waiter: asyncio.Future[bytes] | None = None  # the session's read() waiting
        self._loop = asyncio.get_running_loop()
        polled = self._pollable(fd)
        if polled is not None:
            self._polled, self._read_now = polled
            try:
                self._loop.add_reader(self._polled, self._ready)
                log.info("protocol input: polled by the loop")
                return
            except (OSError, ValueError) as exc:
                log.info("protocol input cannot be polled (%s): a reader thread", exc)
        threading.Thread(target=self._pump, name="dapgo-stdin", daemon=True).start()

    @staticmethod
    def _pollable(fd: int) -> tuple[int, Callable[[], bytes]] | None:
        st = os.fstat(fd)
        if stat.S_ISFIFO(st.st_mode):
            try:
                private = os.open(f"/proc/self/fd/{fd}",
                                  os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                return None
            return private, lambda: os.read(private, READ_SIZE)
        if stat.S_ISSOCK(st.st_mode):
            try:
                sock = socket.socket(fileno=os.dup(fd))
            except OSError:
                return None
            return sock.fileno(), lambda: sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
        return None

    def _ready(self) -> None:
        try:
            chunk = self._read_now()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.info("stdin read failed: %s", exc)
            chunk = b""
        self._deliver(chunk)
        if not chunk:
            self._loop.remove_reader(self._polled)

    def _deliver(self, chunk: bytes) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():  # not cancelled
            waiter.set_result(chunk)
        else:
            self._chunks.append(chunk)

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, READ_SIZE)
            except OSError as exc:
                log.info("stdin read failed: %s", exc)
                chunk = b""
            try:
                self._loop.call_soon_threadsafe(self._deliver, chunk)
            except RuntimeError:
                return
            if not chunk:
                return

    def read(self) -> asyncio.Future[bytes]:
        fut: asyncio.Future[bytes] = self._loop.create_future()
        if self._chunks:
            fut.set_result(self._chunks.popleft())
        else:
            self._waiter = fut
        return fut


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
    writer = await _stdio_writer(proto_out, proto_in)
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
