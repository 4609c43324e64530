"""One DAP session: reads frames, dispatches requests, owns seq numbers, handles and events.

Concurrency model (all on one asyncio loop, engine calls in threads):
- Requests are handled one at a time in arrival order by a worker task, except `pause`,
  `disconnect` and `terminate`, which are handled as soon as they arrive, so a long
  `launch` (it may run `go build`) or a `continue` never holds them up.
- Engine requests return futures completed by the engine's owner thread (a daemon thread,
  dapgo.engine.owner), awaited here (`engine`); a hung engine can never keep the process
  from exiting on SIGTERM.
- Engine events arrive on engine threads through `on_engine_event`, are marshalled onto the
  loop with `call_soon_threadsafe`, and are held back while any request is being handled, so
  a response is always sent before the events its request caused (`continue` → `stopped`);
  progress events (a launch's build) are sent at once, to clients that asked for them.
- Everything sent goes through one `Outbox` (dapgo.outbox): encoded on the loop, written in
  order by one writer task that awaits the transport's flow control. When the client does
  not read, the engine threads that produce events wait in `on_engine_event` (back-pressure)
  until it does, or until a `disconnect` arrives or the session ends.
- Reverse requests (dapgo asking the client: runInTerminal) are sent at once with
  `reverse_request`, which awaits the client's response; responses are matched by
  `request_seq` as they are read, so a request being handled can wait for one.
- The session always ends with `shutdown()`: on `disconnect`, on end of input (the client
  went away), or when the server is asked to stop; it disconnects the engine (launched
  programs are killed, attached ones detached).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from dapgo import convert
from dapgo.engine.api import Debugger, DebuggerError, DebuggerFactory, NotStoppedError
from dapgo.handlers import HANDLERS
from dapgo.handlers.base import Args, Body, Call, RequestError
from dapgo.handlers.options import SessionOptions
from dapgo.outbox import Outbox, Writer
from dapgo.paths import PathMap
from dapgo.protocol import messages
from dapgo.protocol.errors import ErrorId, FramingError, LocalProtocolError, RemoteProtocolError
from dapgo.protocol.framing import FrameParser, encode

if TYPE_CHECKING:
    from dapgo.engine.model import EngineEvent, LaunchConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

# b"" at end of input; a coroutine or a future (stdio's: no task per chunk); cancellable
ChunkReader = Callable[[], Awaitable[bytes]]

OUT_OF_ORDER = frozenset({"pause", "disconnect", "terminate"})
SHUTDOWN_TIMEOUT = 10.0
DRAIN_TIMEOUT = 5.0
# at the end, what is still queued may take FLUSH_LIMIT seconds to reach a client that
# reads, but not FLUSH_STALLED seconds without any progress (a client that does not read)
FLUSH_STALLED = 1.0
FLUSH_LIMIT = 10.0
EVENT_OVERHEAD = 256  # bytes an event's envelope adds to its text, roughly
# What one connection can make the server hold: reading stops while more requests than
# MAX_QUEUED wait, or while more than OUTPUT_PAUSE bytes wait for a client that does not
# read (the client's further requests then wait in its own socket or pipe); an unfinished
# frame is bounded by the frame parser (MAX_BODY_BYTES)
MAX_QUEUED = 1000
OUTPUT_PAUSE = 8 << 20
INPUT_POLL = 0.02  # seconds between looks while reading is paused
_FAILURE_IDS = {"launch": ErrorId.FAILED_LAUNCH, "attach": ErrorId.FAILED_ATTACH}


class HandleTable:
    """Small positive integers standing for engine objects until the next reset."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._items: dict[int, object] = {}
        self._next = 1

    def add(self, item: object) -> int:
        ref = self._next
        self._next += 1
        self._items[ref] = item
        return ref

    def get(self, ref: int, argument: str) -> object:
        try:
            return self._items[ref]
        except KeyError:
            raise RequestError(
                ErrorId.INVALID_ARGUMENTS,
                f"unknown {argument} {ref}: {self._what} are valid only until the program "
                "resumes",
            ) from None

    def clear(self) -> None:
        # Numbers keep growing across resets so a stale reference never names a new object.
        self._items.clear()


class Session:
    def __init__(self, writer: Writer, debugger_factory: DebuggerFactory, name: str = "") -> None:
        self.name = name or f"session-{id(self):x}"
        self._writer = writer
        self._factory = debugger_factory
        self._parser = FrameParser()
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[messages.Request | _Failure] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._held: list[tuple[str, Body]] = []
        self._ended = asyncio.Event()
        self._reading: asyncio.Future[bytes] | None = None  # the read under way, in run()
        self._shutdown_task: asyncio.Task[None] | None = None
        self._writer_closed = False
        self._outbox = Outbox(self.name, self._write_failed)
        self._gathered: list[bytes] | None = None  # what _handle sends in one write
        self._loop_thread: int | None = None
        self.debugger: Debugger | None = None
        self.engine_disconnected = False
        self.target: Literal["launch", "attach"] | None = None
        self.initialized = False
        self.client: dict[str, Any] = {}  # the client's initialize arguments (its supports*)
        self._reverse: dict[int, asyncio.Future[Body]] = {}  # reverse requests by seq
        self.show_registers = True  # launch attribute showRegisters
        self.options = SessionOptions()  # launch attributes and `dapgo config`
        self.launched: tuple[LaunchConfig, bool] | None = None  # for restart
        self.omitted_reported = 0  # goroutines left out of `threads`, last said on the console
        self.lines = convert.LineBase()
        self.paths = PathMap()  # substitutePath (launch/attach, `dapgo config`)
        self.breakpoint_paths: dict[str, str] = {}  # client path -> binary path last used
        self.frames = HandleTable("frame ids")
        self.variables = HandleTable("variable references")

    # ---- running ----

    async def run(self, read: ChunkReader) -> None:
        """Serve until disconnect, end of input or shutdown; always shuts the engine down."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        writing = asyncio.create_task(self._outbox.pump(self._writer), name=f"{self.name}-writer")
        worker = asyncio.create_task(self._serial_worker(), name=f"{self.name}-worker")
        me = asyncio.current_task()
        try:
            while not self._ended.is_set():
                await self._room_for_input()
                # the read is a future (or a task of its own) that `_end_reading` cancels when
                # the session ends (cheaper per request than racing it against an event)
                self._reading = reading = asyncio.ensure_future(read())
                try:
                    chunk = await reading
                except asyncio.CancelledError:
                    if reading.cancelled() and self._ended.is_set() and not (
                            me is not None and me.cancelling()):
                        break  # the session ended while waiting for input
                    raise
                except (ConnectionError, OSError) as exc:
                    log.info("%s: read failed: %s", self.name, exc)
                    break
                finally:
                    self._reading = None
                if not chunk:
                    log.info("%s: end of input", self.name)
                    await self._drain()
                    break
                for item in self._parser.feed(chunk):
                    self._accept(item)
        finally:
            await self.shutdown()
            worker.cancel()
            for task in list(self._tasks):
                task.cancel()
            await self._close_writer(writing)

    async def _room_for_input(self) -> None:
        """Back-pressure on the client's input: wait while it has made the server hold
        enough (queued requests, unread output)."""
        paused = False
        while (self._queue.qsize() > MAX_QUEUED or self._outbox.backlog > OUTPUT_PAUSE) \
                and not self._ended.is_set() and not self._outbox.failed:
            if not paused:
                paused = True
                log.info("%s: not reading: %d requests queued, %d bytes unread", self.name,
                         self._queue.qsize(), self._outbox.backlog)
            try:
                await asyncio.wait_for(self._ended.wait(), INPUT_POLL)
            except TimeoutError:
                pass

    async def _drain(self) -> None:
        """Let requests read before the end of input finish (a scripted client may have
        closed only its sending side), within a bound: the client may be gone."""
        try:
            await asyncio.wait_for(self._queue.join(), DRAIN_TIMEOUT)
        except TimeoutError:
            log.info("%s: dropping requests still queued at end of input", self.name)

    def shutdown(self) -> Awaitable[None]:
        """End the session: disconnect the engine (default terminate policy) once; idempotent."""
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown())
        return asyncio.shield(self._shutdown_task)

    async def _shutdown(self) -> None:
        self._end_reading()
        self._outbox.release()  # an engine thread waiting to deliver an event must not block
        if self.debugger is not None and not self.engine_disconnected:
            self.engine_disconnected = True
            terminate = self.target != "attach"
            try:
                await asyncio.wait_for(
                    self.engine(self.debugger.disconnect(terminate)), SHUTDOWN_TIMEOUT
                )
            except TimeoutError:
                log.error("%s: engine disconnect did not finish in %ss", self.name,
                          SHUTDOWN_TIMEOUT)
            except Exception:
                log.exception("%s: engine disconnect failed", self.name)

    def end(self) -> None:
        """Stop reading requests; `run` then shuts down and closes the connection."""
        self._end_reading()

    def _end_reading(self) -> None:
        """Mark the session ended and stop waiting for input."""
        self._ended.set()
        if self._reading is not None:
            self._reading.cancel()
        for fut in self._reverse.values():
            if not fut.done():
                fut.set_exception(RequestError(ErrorId.INVALID_REQUEST,
                                               "the session ended before the client answered"))
        self._reverse.clear()

    # ---- reverse requests ----

    async def reverse_request(self, command: str, arguments: Body) -> Body:
        """Send a request to the client and return its response's body; a failed response
        raises RequestError with the client's message."""
        if self._ended.is_set():
            raise RequestError(ErrorId.INVALID_REQUEST, "the session has ended")
        seq = self._next_seq()
        fut: asyncio.Future[Body] = asyncio.get_running_loop().create_future()
        self._reverse[seq] = fut
        self._send(messages.request(seq, command, arguments))
        return await fut

    def _answered(self, item: dict[str, Any]) -> None:
        seq = item.get("request_seq")
        fut = self._reverse.pop(seq, None) if type(seq) is int else None
        if fut is None:
            log.info("%s: ignoring unexpected response %s", self.name, seq)
            return
        if fut.done():
            return
        if item.get("success") is True:
            body = item.get("body")
            fut.set_result(body if isinstance(body, dict) else {})
        else:
            message = item.get("message")
            fut.set_exception(RequestError(
                ErrorId.FAILED_LAUNCH,
                f"the client refused {item.get('command')!r}: {message or 'no reason given'}"))

    # ---- incoming ----

    def _accept(self, item: dict[str, Any] | FramingError) -> None:
        """Queue one parsed item; errors about bad input keep their place in the order."""
        if isinstance(item, FramingError):
            log.warning("%s: bad frame: %s", self.name, item)
            self._queue.put_nowait(_Failure(item.error_id, f"invalid message: {item}"))
            return
        log.debug("%s: <- %s", self.name, item)
        if item.get("type") == "response":  # an answer to a reverse request
            self._answered(item)
            return
        try:
            request = messages.parse_request(item)
        except RemoteProtocolError as exc:
            seq, command = item.get("seq"), item.get("command")
            self._queue.put_nowait(
                _Failure(
                    exc.error_id,
                    str(exc),
                    seq if type(seq) is int else 0,
                    command if isinstance(command, str) else "",
                )
            )
            return
        if request["command"] == "disconnect":
            self._outbox.release()  # the engine must be free to disconnect (see on_engine_event)
        if request["command"] in OUT_OF_ORDER:
            task = asyncio.create_task(self._handle(request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._queue.put_nowait(request)

    async def _serial_worker(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, _Failure):
                    self._send_error(item.request_seq, item.command, item.error_id,
                                     item.message)
                else:
                    await self._handle(item)
            finally:
                self._queue.task_done()

    async def _handle(self, request: messages.Request) -> None:
        command = request["command"]
        call = Call(self, command, Args(command, request.get("arguments", {})))
        self._busy += 1
        gathered: list[bytes] | None = None
        try:
            body = await self._dispatch(call)
            # the response and the events it held back leave in one write, as they come
            # (no await from here on: nothing else is sent meanwhile)
            gathered = self._gathered = []
            if isinstance(body, _Failure):
                self._send_error(request["seq"], command, body.error_id, body.message)
            else:
                self._send(messages.response(self._next_seq(), request["seq"], command, body))
            for action in call.after:
                action()
        finally:
            self._busy -= 1
            self._flush_events()
            if gathered is not None:
                self._gathered = None
                if gathered:
                    self._outbox.put(b"".join(gathered))

    async def _dispatch(self, call: Call) -> Body | _Failure | None:
        handler = HANDLERS.get(call.command)
        if handler is None:
            return _Failure(ErrorId.UNSUPPORTED_COMMAND,
                            f"dapgo does not support the '{call.command}' request")
        try:
            return await handler(call)
        except RequestError as exc:
            return _Failure(exc.error_id, str(exc))
        except NotStoppedError as exc:
            return _Failure(ErrorId.NOT_STOPPED, str(exc))
        except DebuggerError as exc:
            return _Failure(_FAILURE_IDS.get(call.command, ErrorId.ENGINE_ERROR), str(exc))
        except Exception as exc:
            log.exception("%s: internal error handling %r", self.name, call.command)
            return _Failure(
                ErrorId.INTERNAL,
                f"internal error in dapgo while handling '{call.command}': "
                f"{type(exc).__name__}: {exc} (details in the dapgo log)",
            )

    # ---- for handlers ----

    def require_debugger(self) -> Debugger:
        if self.debugger is None:
            raise RequestError(
                ErrorId.NO_DEBUGGEE,
                "no program is being debugged: send a 'launch' or 'attach' request first",
            )
        return self.debugger

    def create_debugger(self) -> Debugger:
        if self.debugger is not None:
            raise RequestError(ErrorId.INVALID_REQUEST,
                               "this session is already debugging a program")
        self.debugger = self._factory(self.on_engine_event)
        return self.debugger

    def drop_debugger(self) -> None:
        self.debugger = None
        self.target = None
        self.engine_disconnected = False

    async def engine(self, request: Future[T]) -> T:
        """The answer to an engine request (completed by the engine's owner thread). A
        request, once made, runs to its end even if whoever awaits it gives up. One
        already answered (run on this thread: Owner.borrow) is taken as it is."""
        if request.done():
            return request.result()
        return await asyncio.shield(asyncio.wrap_future(request))

    def reset_handles(self) -> None:
        """Forget frame ids and variable references: the program is about to run."""
        self.frames.clear()
        self.variables.clear()

    def send_event(self, name: str, body: Body | None = None) -> None:
        self._send(messages.event(self._next_seq(), name, body))

    # ---- engine events ----

    def on_engine_event(self, ev: EngineEvent) -> None:
        """Called by the engine from any thread. Back-pressure: while the client leaves more
        than the outbox's high-water mark unread, the calling thread waits here (never the
        loop's), until the client reads, a `disconnect` arrives or the session ends."""
        if self._loop is None:
            log.warning("%s: engine event before the session runs: %r", self.name, ev)
            return
        if self._writer_closed:
            log.debug("%s: dropped (closed): %r", self.name, ev)
            return
        text = getattr(ev, "text", None)
        size = EVENT_OVERHEAD + (len(text) if isinstance(text, str) else 0)
        self._outbox.reserve(size, wait=threading.get_ident() != self._loop_thread)
        _call_soon(self._loop, self._engine_event, ev, size)

    def _engine_event(self, ev: EngineEvent, reserved: int) -> None:
        try:
            try:
                converted = convert.event(ev, self.lines, self.paths)
            except Exception:
                log.exception("%s: cannot convert engine event %r", self.name, ev)
                return
            if any(name == "continued" for name, _ in converted):
                self.reset_handles()
            progress = [(n, b) for n, b in converted if n.startswith("progress")]
            if progress:  # about the request being handled (a build, a download): sent now
                converted = [(n, b) for n, b in converted if not n.startswith("progress")]
                if self.client.get("supportsProgressReporting"):
                    for name, body in progress:
                        self.send_event(name, body)
            self._held.extend(converted)
            self._flush_events()
        finally:
            # the event is now queued at its exact size, or held (held events are not
            # counted: the request being handled may need this very producer to finish)
            self._outbox.unreserve(reserved)

    def _flush_events(self) -> None:
        if self._busy:
            return
        held, self._held = self._held, []
        for name, body in held:
            self.send_event(name, body)

    # ---- outgoing ----

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _send_error(self, request_seq: int, command: str, error_id: int, text: str) -> None:
        self._send(messages.error_response(self._next_seq(), request_seq, command, error_id, text))

    def _send(self, message: messages.Response | messages.Event | messages.Request) -> None:
        if self._writer_closed:
            log.debug("%s: dropped (closed): %s", self.name, message)
            return
        try:
            data = encode(dict(message))
        except LocalProtocolError:
            log.exception("%s: cannot encode %r", self.name, message)
            return
        log.debug("%s: -> %s", self.name, message)
        if self._gathered is not None:
            self._gathered.append(data)
        else:
            self._outbox.put(data)

    def _write_failed(self) -> None:
        """The writer task could not write: the client is gone."""
        self._writer_closed = True
        self.end()

    async def _close_writer(self, writing: asyncio.Task[None]) -> None:
        """Let what is queued reach a client that reads, then close (abort if it does not)."""
        self._outbox.release()
        flushed = False
        try:
            flushed = await self._outbox.flush(FLUSH_STALLED, FLUSH_LIMIT)
            if not flushed and not self._outbox.failed:
                log.info("%s: the client left the last %d bytes unread; closing", self.name,
                         self._outbox.backlog)
        finally:
            self._writer_closed = True
            writing.cancel()
        log.debug("%s: output backlog peaked at %d bytes", self.name, self._outbox.peak)
        try:
            await self._writer.close(abort=not flushed)
        except (ConnectionError, OSError, ValueError):
            pass


class _Failure:
    """An error to report: for a request (from a handler) or for bad input (queued)."""

    __slots__ = ("command", "error_id", "message", "request_seq")

    def __init__(
        self, error_id: ErrorId, message: str, request_seq: int = 0, command: str = ""
    ) -> None:
        self.error_id = error_id
        self.message = message
        self.request_seq = request_seq
        self.command = command


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop is closed: the session is over
        pass
