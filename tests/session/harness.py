"""Unit-test harness: a Session driven in memory, with a fake engine Debugger.

UNIT TESTS ONLY. `FakeDebugger` mimics the facade's API and threading (events from other
threads, blocking calls) so the session's dispatch, ordering and handle bookkeeping can be
tested without a Go program. End-to-end behaviour is tested against the real engine over
real stdio/TCP with tests/dapclient.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from dapgo.engine.errors import NotStoppedError, ProgramNotFoundError
from dapgo.engine.model import (
    BreakpointStatus,
    CommandAnswer,
    EngineEvent,
    FrameInfo,
    FunctionBreakpointSpec,
    LaunchConfig,
    ScopeInfo,
    SourceBreakpointSpec,
    Stopped,
    ThreadInfo,
    ThreadsAnswer,
    VariableInfo,
)
from dapgo.protocol.framing import FrameParser
from dapgo.session import Session

Message = dict[str, Any]
T = TypeVar("T")


def _engine_call(method: Callable[..., T]) -> Callable[..., Future[T]]:
    """Answer the way the engine does: a Future, completed by another thread."""

    @functools.wraps(method)
    def request(self: FakeDebugger, *args: Any) -> Future[T]:
        fut: Future[T] = Future()

        def work() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(method(self, *args))
            except BaseException as exc:
                fut.set_exception(exc)

        threading.Thread(target=work, daemon=True).start()
        return fut

    return request


class FakeDebugger:
    """A stand-in for dapgo.engine.debugger.Debugger (unit tests only)."""

    def __init__(self, on_event: Callable[[EngineEvent], None]) -> None:
        self.on_event = on_event
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.options: list[tuple[Any, ...]] = []  # display options from launch/attach
        self.release_launch = threading.Event()
        self.release_launch.set()
        self.stopped = True
        self.fail: dict[str, Exception] = {}

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise self.fail[name]

    def emit(self, ev: EngineEvent) -> None:
        """Deliver an event from another thread, the way the engine does."""
        t = threading.Thread(target=self.on_event, args=(ev,))
        t.start()
        t.join()

    @_engine_call
    def set_goroutine_options(self, show_labels: list[str], hide_system: bool, filters: str,
                              max_goroutines: int) -> None:
        self.options.append(("goroutines", show_labels, hide_system, filters, max_goroutines))

    @_engine_call
    def set_value_limits(self, max_string_len: int | None,
                         max_array_values: int | None) -> None:
        self.options.append(("values", max_string_len, max_array_values))

    @_engine_call
    def goroutine_command(self, args: str, frame: Any = None) -> CommandAnswer:
        self._call("goroutine_command", args)
        return CommandAnswer("")

    @_engine_call
    def dump(self, path: str) -> CommandAnswer:
        self._call("dump", path)
        return CommandAnswer(f"wrote {path}\n")

    @_engine_call
    def metrics_command(self, args: str) -> CommandAnswer:
        self._call("metrics_command", args)
        return CommandAnswer("")

    @_engine_call
    def launch(self, cfg: LaunchConfig, stop_on_entry: bool, terminal: Any = None) -> None:
        self._call("launch", cfg, stop_on_entry)
        self.terminal = terminal
        if cfg.program == "/missing":
            raise ProgramNotFoundError("program not found: /missing")
        self.release_launch.wait(10)

    @_engine_call
    def attach(self, pid: int, stop_on_entry: bool = False) -> None:
        self._call("attach", pid)

    @_engine_call
    def set_breakpoints(self, path: str, specs: list[SourceBreakpointSpec]
                        ) -> list[BreakpointStatus]:
        self._call("set_breakpoints", path, specs)
        return [BreakpointStatus(i + 1, s.line != 999, path, s.line,
                                 None if s.line != 999 else "no code at line 999")
                for i, s in enumerate(specs)]

    @_engine_call
    def set_function_breakpoints(self, specs: list[FunctionBreakpointSpec]
                                 ) -> list[BreakpointStatus]:
        self._call("set_function_breakpoints", specs)
        return [BreakpointStatus(100 + i, True, "/src/main.go", 10) for i, _ in enumerate(specs)]

    @_engine_call
    def set_exception_breakpoints(self, filters: list[str]) -> None:
        self._call("set_exception_breakpoints", filters)

    @_engine_call
    def configuration_done(self) -> None:
        self._call("configuration_done")
        self.emit(Stopped("entry", 1))

    @_engine_call
    def threads(self) -> ThreadsAnswer:
        self._call("threads")
        return ThreadsAnswer([ThreadInfo(1, "main.main"), ThreadInfo(7, "worker")])

    @_engine_call
    def stack_trace(self, thread_id: int, start: int, levels: int
                    ) -> tuple[list[FrameInfo], int]:
        self._call("stack_trace", thread_id, start, levels)
        frames = [FrameInfo(f"f{i}", "/src/main.go" if i < 3 else None, 10 + i, 0x1000 + i)
                  for i in range(5)]
        end = len(frames) if levels == 0 else start + levels
        return frames[start:end], len(frames)

    @_engine_call
    def scopes(self, thread_id: int, frame_index: int,
               show_globals: bool = False, show_registers: bool = True) -> list[ScopeInfo]:
        self._call("scopes", thread_id, frame_index)
        return [ScopeInfo("Locals", ("locals", thread_id, frame_index), False, "locals"),
                ScopeInfo("Empty", None)]

    @_engine_call
    def variables(self, handle: object, start: int | None, count: int | None
                  ) -> list[VariableInfo]:
        self._call("variables", handle, start, count)
        if not self.stopped:
            raise NotStoppedError("the program is running")
        return [VariableInfo("p", "main.Point {X: 1}", "main.Point", ("child", handle), 2),
                VariableInfo("xs", "[]int len: 3", "[]int", ("xs", handle), None, 3),
                VariableInfo("n", "1", "int")]

    @_engine_call
    def resume(self) -> None:
        self._call("resume")
        self.stopped = False
        # The stop happens before resume() even returns: the session must still answer
        # `continue` first.
        self.emit(Stopped("breakpoint", 7, (1,), "breakpoint 1"))

    @_engine_call
    def pause(self) -> None:
        self._call("pause")
        self.emit(Stopped("pause", 1))

    @_engine_call
    def disconnect(self, terminate: bool) -> None:
        self._call("disconnect", terminate)
        self.release_launch.set()

    @_engine_call
    def terminate(self) -> None:
        self._call("terminate")


class Harness:
    """Run a Session in memory: feed frames in, parse what it writes back."""

    def __init__(self, factory: Callable[[Callable[[EngineEvent], None]], Any] | None = None
                 ) -> None:
        self.debuggers: list[FakeDebugger] = []
        self._factory = factory or self._fake
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self.received: list[Message] = []
        self.closed = False
        self._parser = FrameParser()
        self._seq = 0
        self.session = Session(self, self._factory, name="test")
        self.task = asyncio.create_task(self.session.run(self.chunks.get))

    def _fake(self, on_event: Callable[[EngineEvent], None]) -> FakeDebugger:
        d = FakeDebugger(on_event)
        self.debuggers.append(d)
        return d

    @property
    def debugger(self) -> FakeDebugger:
        return self.debuggers[-1]

    # Writer protocol (dapgo.outbox.Writer)
    async def write(self, data: bytes) -> None:
        for item in self._parser.feed(data):
            assert isinstance(item, dict), item
            self.received.append(item)

    def write_now(self, data: bytes) -> bool:
        for item in self._parser.feed(data):
            assert isinstance(item, dict), item
            self.received.append(item)
        return True

    async def close(self, abort: bool = False) -> None:
        self.closed = True

    def raw(self, data: bytes) -> None:
        self.chunks.put_nowait(data)

    def send(self, command: str, arguments: Message | None = None) -> int:
        self._seq += 1
        msg: Message = {"seq": self._seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        body = json.dumps(msg).encode()
        self.raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self._seq

    async def wait(self, match: Callable[[Message], bool], timeout: float = 3.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.received:
                if isinstance(m, dict) and match(m):
                    return m
            await asyncio.sleep(0.005)
        raise TimeoutError(f"nothing matched; received {self.received!r}")

    async def response(self, seq: int) -> Message:
        return await self.wait(lambda m: m["type"] == "response" and m["request_seq"] == seq)

    async def ok(self, command: str, arguments: Message | None = None) -> Message:
        r = await self.response(self.send(command, arguments))
        assert r["success"], r
        return r

    async def fail(self, command: str, arguments: Message | None = None) -> Message:
        r = await self.response(self.send(command, arguments))
        assert not r["success"], r
        return r

    async def event(self, name: str) -> Message:
        return await self.wait(lambda m: m["type"] == "event" and m["event"] == name)

    def index(self, m: Message) -> int:
        return self.received.index(m)

    async def start(self, program: str = "/src/prog") -> None:
        """initialize + launch, as a client would."""
        await self.ok("initialize", {"adapterID": "go"})
        await self.ok("launch", {"program": program})
        await self.event("initialized")

    async def finish(self) -> None:
        self.chunks.put_nowait(b"")
        await asyncio.wait_for(self.task, 5)
