"""The engine facade: the one module that chooses the backends and starts the owner thread.

`Debugger` implements dapgo.engine.api.Debugger. Each request becomes a job for the
session's owner thread (dapgo.engine.owner), which holds all engine state
(dapgo.engine.core.Engine); the caller gets a Future of the answer. Launching builds the
program on a thread of its own first, so a disconnect gets through (and cancels the build)
meanwhile. The live backend is ptrace (dapgo.engine.ptrace.process.TracedProcess).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from dapgo.engine import build as gobuild
from dapgo.engine.core import Engine
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import DebuggerError, ProcessError, ProgramNotFoundError
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
from dapgo.engine.output import OutputPump
from dapgo.engine.owner import Owner
from dapgo.engine.program import Program
from dapgo.engine.ptrace.process import PtraceFailure, TracedProcess

T = TypeVar("T")


class Debugger:
    def __init__(self, on_event: Callable[[EngineEvent], None]) -> None:
        self._emit = on_event
        self._owner = Owner()
        self._engine = Engine(self._owner, on_event)

    def _do(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._owner.submit(lambda: fn(*args))

    # ----- starting -----

    def launch(self, cfg: LaunchConfig, stop_on_entry: bool) -> Future[None]:
        """Build (mode debug/test) or find (exec) the program, start it stopped before its
        first instruction. The build runs off the owner thread."""
        done: Future[None] = Future()
        handle = gobuild.BuildHandle()

        def run() -> None:
            try:
                self._do(self._engine.begin_launch, handle.cancel).result()
                try:
                    binary_path, tmpdir, cwd = _binary_of(cfg, handle)
                except BaseException:
                    self._do(self._engine.abandon_launch).result()
                    raise
                try:
                    binary = BinaryInfo.open(binary_path)
                    self._do(self._start, cfg, binary, binary_path, tmpdir, cwd,
                             stop_on_entry).result()
                except BaseException:
                    if tmpdir:  # not the program's: it did not start
                        shutil.rmtree(tmpdir, ignore_errors=True)
                    self._owner.post(self._engine.abandon_launch)
                    raise
            except BaseException as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)

        threading.Thread(target=run, name="dapgo-launch", daemon=True).start()
        return done

    def _start(self, cfg: LaunchConfig, binary: BinaryInfo, binary_path: str,
               tmpdir: str | None, cwd: str, stop_on_entry: bool) -> None:
        """On the owner thread: start the built program traced."""
        engine = self._engine
        if engine.state != "launching":  # disconnected during the build
            raise DebuggerError("the session ended while the program was being built")
        pump = OutputPump(self._emit)
        try:
            proc = TracedProcess.launch([binary_path, *cfg.args], gobuild.build_env(cfg), cwd,
                                        pump.stdout_fd, pump.stderr_fd)
        except (PtraceFailure, OSError) as exc:
            pump.close()
            raise ProcessError(f"could not start {binary_path}: {exc}") from exc
        pump.start()
        engine.install(Program(proc, binary, pump=pump, tmpdir=tmpdir),
                       stop_on_entry)

    def attach(self, pid: int) -> Future[None]:
        return self._do(self._attach, pid)

    def _attach(self, pid: int) -> None:
        engine = self._engine
        if engine.state != "idle":
            raise DebuggerError("a program is already being debugged in this session")
        if pid <= 0 or pid == os.getpid():
            raise ProcessError(f"cannot attach to process {pid}")
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except FileNotFoundError as exc:
            raise ProcessError(f"no process with id {pid}") from exc
        except PermissionError as exc:
            raise ProcessError(f"not permitted to debug process {pid}") from exc
        binary = BinaryInfo.open(f"/proc/{pid}/exe")
        try:
            proc = TracedProcess.attach(pid)
        except (PtraceFailure, OSError) as exc:
            raise ProcessError(f"could not attach to process {pid} ({exe}): {exc}") from exc
        engine.install(Program(proc, binary), stop_on_entry=False)

    def configuration_done(self) -> Future[None]:
        return self._do(self._engine.configuration_done)

    # ----- breakpoints -----

    def set_breakpoints(self, path: str, specs: list[SourceBreakpointSpec]
                        ) -> Future[list[BreakpointStatus]]:
        return self._do(self._engine.set_breakpoints, path, specs)

    def set_function_breakpoints(self, specs: list[FunctionBreakpointSpec]
                                 ) -> Future[list[BreakpointStatus]]:
        return self._do(self._engine.set_function_breakpoints, specs)

    def set_exception_breakpoints(self, filters: list[str]) -> Future[None]:
        return self._do(self._engine.set_exception_breakpoints, filters)

    def data_breakpoint_info(self, handle: object | None, name: str, thread_id: int | None,
                             frame_index: int) -> Future[DataBreakpointInfo]:
        return self._do(self._engine.data_breakpoint_info, handle, name, thread_id,
                        frame_index)

    def set_data_breakpoints(self, specs: list[DataBreakpointSpec]
                             ) -> Future[list[BreakpointStatus]]:
        return self._do(self._engine.set_data_breakpoints, specs)

    def exception_info(self, thread_id: int) -> Future[ExceptionInfo]:
        return self._do(self._engine.exception_info, thread_id)

    # ----- running -----

    def resume(self) -> Future[None]:
        return self._do(self._engine.resume)

    def step(self, thread_id: int, kind: StepKind, instruction: bool = False
             ) -> Future[None]:
        return self._do(self._engine.step, thread_id, kind, instruction)

    def pause(self) -> Future[None]:
        return self._do(self._engine.pause)

    # ----- inspecting -----

    def threads(self) -> Future[ThreadsAnswer]:
        return self._do(lambda: ThreadsAnswer(*self._engine.threads()))

    def stack_trace(self, thread_id: int, start: int, levels: int
                    ) -> Future[tuple[list[FrameInfo], int]]:
        return self._do(self._engine.stack_trace, thread_id, start, levels)

    def scopes(self, thread_id: int, frame_index: int, show_globals: bool = False
               ) -> Future[list[ScopeInfo]]:
        return self._do(self._engine.scopes, thread_id, frame_index, show_globals)

    def variables(self, handle: object, start: int | None = None, count: int | None = None
                  ) -> Future[list[VariableInfo]]:
        return self._do(self._engine.variables, handle, start, count)

    def evaluate(self, expression: str, thread_id: int | None, frame_index: int,
                 context: str) -> Future[VariableInfo]:
        """`context` is DAP's (watch, repl, hover, clipboard); all evaluate alike."""
        return self._do(self._engine.evaluate, expression, thread_id, frame_index)

    def set_variable(self, handle: object, name: str, value: str) -> Future[VariableInfo]:
        return self._do(self._engine.set_variable, handle, name, value)

    def set_goroutine_options(self, show_labels: list[str], hide_system: bool, filters: str,
                              max_goroutines: int) -> Future[None]:
        return self._do(self._engine.set_goroutine_options, show_labels, hide_system,
                        filters, max_goroutines)

    def set_value_limits(self, max_string_len: int | None, max_array_values: int | None
                         ) -> Future[None]:
        return self._do(self._engine.set_value_limits, max_string_len, max_array_values)

    def goroutine_command(self, args: str) -> Future[CommandAnswer]:
        return self._do(lambda: CommandAnswer(*self._engine.goroutine_command(args)))

    def metrics_command(self, args: str) -> Future[CommandAnswer]:
        return self._do(lambda: CommandAnswer(self._engine.metrics_command(args)))

    # ----- ending -----

    def terminate(self) -> Future[None]:
        return self._do(self._engine.terminate)

    def disconnect(self, terminate: bool) -> Future[None]:
        """End the session: kill (`terminate`) or detach the program, then the owner
        thread ends."""
        def end() -> None:
            try:
                self._engine.disconnect(terminate)
            finally:
                self._engine.close()
                self._owner.shutdown()

        return self._do(end)


def _binary_of(cfg: LaunchConfig, handle: gobuild.BuildHandle) -> tuple[str, str | None, str]:
    """(binary, temporary directory to remove or None, working directory) of a launch."""
    if cfg.mode == "exec":
        binary_path = os.path.abspath(os.path.join(cfg.cwd or os.getcwd(), cfg.program))
        if not os.path.isfile(binary_path):
            raise ProgramNotFoundError(f"program not found: {cfg.program}")
        return binary_path, None, cfg.cwd or os.getcwd()
    binary_path, tmpdir = gobuild.build(cfg, handle.started)
    return binary_path, tmpdir, cfg.cwd or gobuild.package_dir(cfg)
