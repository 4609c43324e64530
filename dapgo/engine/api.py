"""The engine as the DAP handlers see it: requests in, futures out, events by callback.

This module and the ones it imports (the errors, the exception filters) are all the server
needs from the engine to start and answer `initialize`: none of them loads pyelftools,
python-ptrace, bcc or capstone, nor the data model (dapgo.engine.model, attrs classes),
which the handlers import with the first request that carries one. The server imports the
real engine (dapgo.engine.debugger) when a program is launched or attached.

Every request returns a `concurrent.futures.Future` of its answer, completed by the engine's
owner thread (await it with `asyncio.wrap_future`); failures are `DebuggerError`s
(`NotStoppedError` when the program must be stopped first) with a message fit for the
user. Events (`EngineEvent`: stopped, continued, output, exited, breakpoint changes) come
through the `on_event` callback given to the factory, from engine threads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol, TypeAlias

from dapgo.engine.errors import BuildError, DebuggerError, NotStoppedError, ProgramNotFoundError
from dapgo.engine.exception_filters import DEFAULT_EXCEPTION_FILTERS, EXCEPTION_FILTERS

if TYPE_CHECKING:  # the model (attrs classes) loads with the first request that uses it
    from dapgo.engine.model import (
        BreakpointStatus,
        CommandAnswer,
        DataBreakpointInfo,
        DataBreakpointSpec,
        EngineEvent,
        ExceptionInfo,
        FrameInfo,
        FunctionBreakpointSpec,
        LaunchConfig,
        ScopeInfo,
        SourceBreakpointSpec,
        StepKind,
        ThreadsAnswer,
        VariableInfo,
    )

__all__ = [
    "DEFAULT_EXCEPTION_FILTERS", "EXCEPTION_FILTERS", "BuildError", "Debugger",
    "DebuggerError", "DebuggerFactory", "NotStoppedError", "ProgramNotFoundError",
]


class Debugger(Protocol):
    """One debugging session's engine (dapgo.engine.debugger.Debugger)."""

    def launch(self, cfg: LaunchConfig, stop_on_entry: bool) -> Future[None]: ...
    def attach(self, pid: int) -> Future[None]: ...
    def configuration_done(self) -> Future[None]: ...
    def set_breakpoints(
        self, path: str, specs: list[SourceBreakpointSpec]
    ) -> Future[list[BreakpointStatus]]: ...
    def set_function_breakpoints(
        self, specs: list[FunctionBreakpointSpec]
    ) -> Future[list[BreakpointStatus]]: ...
    def set_exception_breakpoints(self, filters: list[str]) -> Future[None]: ...
    def data_breakpoint_info(
        self, handle: object | None, name: str, thread_id: int | None, frame_index: int
    ) -> Future[DataBreakpointInfo]: ...
    def set_data_breakpoints(
        self, specs: list[DataBreakpointSpec]
    ) -> Future[list[BreakpointStatus]]: ...
    def exception_info(self, thread_id: int) -> Future[ExceptionInfo]: ...
    def resume(self) -> Future[None]: ...
    def step(self, thread_id: int, kind: StepKind, instruction: bool = False
             ) -> Future[None]: ...
    def pause(self) -> Future[None]: ...
    def threads(self) -> Future[ThreadsAnswer]: ...
    def stack_trace(
        self, thread_id: int, start: int, levels: int
    ) -> Future[tuple[list[FrameInfo], int]]: ...
    def scopes(
        self, thread_id: int, frame_index: int, show_globals: bool = False
    ) -> Future[list[ScopeInfo]]: ...
    def variables(
        self, handle: object, start: int | None, count: int | None
    ) -> Future[list[VariableInfo]]: ...
    def evaluate(
        self, expression: str, thread_id: int | None, frame_index: int, context: str
    ) -> Future[VariableInfo]: ...
    def set_variable(self, handle: object, name: str, value: str) -> Future[VariableInfo]: ...
    def set_goroutine_options(
        self, show_labels: list[str], hide_system: bool, filters: str, max_goroutines: int
    ) -> Future[None]: ...
    def set_value_limits(
        self, max_string_len: int | None, max_array_values: int | None
    ) -> Future[None]: ...
    def goroutine_command(self, args: str) -> Future[CommandAnswer]: ...
    def metrics_command(self, args: str) -> Future[CommandAnswer]: ...
    def terminate(self) -> Future[None]: ...
    def disconnect(self, terminate: bool) -> Future[None]: ...


DebuggerFactory: TypeAlias = "Callable[[Callable[[EngineEvent], None]], Debugger]"
