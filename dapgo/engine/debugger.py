"""The engine facade: the one module that chooses the backends and starts the owner thread.

`Debugger` implements dapgo.engine.api.Debugger. Each request becomes a job for the
session's owner thread (dapgo.engine.owner), which holds all engine state
(dapgo.engine.core.Engine); the caller gets a Future of the answer. Launching builds the
program on a thread of its own first, so a disconnect gets through (and cancels the build)
meanwhile. The live backend is ptrace (dapgo.engine.ptrace.process.TracedProcess).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, TypeVar

from dapgo.engine import build as gobuild
from dapgo.engine.backend import TracerThreadOnly
from dapgo.engine.bpf.ahead import CompileAhead, configured_ringbuf_pages
from dapgo.engine.calls import call_policy
from dapgo.engine.core import Engine
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import BuildError, DebuggerError, ProcessError, ProgramNotFoundError
from dapgo.engine.model import (
    BreakpointStatus,
    CommandAnswer,
    DataBreakpointInfo,
    DataBreakpointSpec,
    DisassemblyFlavor,
    EngineEvent,
    ExceptionInfo,
    Exited,
    FrameInfo,
    FunctionBreakpointSpec,
    Instruction,
    InstructionBreakpointSpec,
    LaunchConfig,
    Output,
    ProcessStarted,
    Progress,
    RunInTerminal,
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
from dapgo.engine.terminal import TERMINAL_TIMEOUT, TerminalStart
from dapgo.engine.untraced import TerminalRun, UntracedRun

if TYPE_CHECKING:  # core files are read by modules imported when one is opened
    from dapgo.engine.corefile import CoreProcess

T = TypeVar("T")


class Debugger:
    def __init__(self, on_event: Callable[[EngineEvent], None]) -> None:
        self._emit = on_event
        self._owner = Owner()
        self._engine = Engine(self._owner, on_event)
        self._untraced: UntracedRun | TerminalRun | None = None  # a noDebug program
        # followExec (dapgo.engine.family): which children to follow, and who takes them
        self._follow: tuple[Callable[[int], bool], Callable[[int], None]] | None = None

    def follow_children(self, decide: Callable[[int], bool], adopt: Callable[[int], None]
                        ) -> None:
        """Before launch/attach: trace the program's children to their exec; `decide(pid)`
        (on the owner thread) says whether to follow one, `adopt(pid)` then takes it,
        stopped and untraced (see TracedProcess.follow_children)."""
        self._follow = (decide, adopt)

    def _do(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._owner.submit(lambda: fn(*args))

    def _look(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """A look at the stopped program that changes nothing in it (a frame's scopes, a
        value's children, an expression without calls): run on the calling thread when the
        owner thread is idle (see Owner.borrow), else, or when it needs the tracing thread
        (registers not yet read at this stop), on the owner thread."""
        fut = self._owner.borrow(lambda: fn(*args))
        if fut is None or isinstance(fut.exception(), TracerThreadOnly):
            return self._do(fn, *args)
        return fut

    # ----- starting -----

    def launch(self, cfg: LaunchConfig, stop_on_entry: bool,
               terminal: RunInTerminal | None = None) -> Future[None]:
        """Build (mode debug/test) or find (exec) the program, start it stopped before its
        first instruction: in the editor's terminal through `terminal` when the console is
        one, else with its output forwarded; or (core) open a core file. The build runs off
        the owner thread."""
        return self._launch(cfg, stop_on_entry, terminal, self._engine.begin_launch)

    def restart(self, cfg: LaunchConfig, stop_on_entry: bool,
                terminal: RunInTerminal | None = None) -> Future[None]:
        """Kill the launched program (no exit is reported), build and start it again with
        `cfg` (the same or new arguments), its breakpoints placed again; it then runs, or
        reports its stop on entry. If that fails, the session's end is reported."""
        def begin(cancel: Callable[[], None]) -> None:
            if self._untraced is not None:  # Run Without Debugging: just run it again
                self._untraced.close(kill=True, report=False)
                self._untraced = None
                self._engine.state = "idle"
                self._engine.begin_launch(cancel)
            else:
                self._engine.begin_restart(cancel)

        done = self._launch(cfg, stop_on_entry, terminal, begin)

        def failed(fut: Future[None]) -> None:
            if fut.exception() is not None:
                self._emit(Exited(exit_code=128 + signal.SIGKILL))

        done.add_done_callback(failed)
        return done

    def _launch(self, cfg: LaunchConfig, stop_on_entry: bool, terminal: RunInTerminal | None,
                begin: Callable[[Callable[[], None]], None]) -> Future[None]:
        if cfg.mode == "core":
            def install(opened: tuple[BinaryInfo, CoreProcess]) -> None:
                self._do(self._install_core, *opened).result()

            def close(opened: tuple[BinaryInfo, CoreProcess]) -> None:
                opened[1].close()
                opened[0].close()

            return self._launching("dapgo-core", begin, lambda: None,
                                   lambda: self._open_core_files(cfg), install, close)
        handle = gobuild.BuildHandle()

        def start(built: tuple[str, str | None, str]) -> None:
            binary_path, tmpdir, cwd = built
            if cfg.no_debug and terminal is not None and cfg.console != "internalConsole":
                self._run_in_terminal(terminal, cfg, binary_path, tmpdir, cwd)
                return
            if cfg.no_debug:
                self._do(self._start_untraced, cfg, binary_path, tmpdir, cwd).result()
                return
            binary = self._open_binary(binary_path, cfg)
            try:
                if terminal is not None and cfg.console != "internalConsole":
                    self._start_in_terminal(terminal, cfg, binary, binary_path, tmpdir, cwd,
                                            stop_on_entry)
                else:
                    self._do(self._start, cfg, binary, binary_path, tmpdir, cwd,
                             stop_on_entry).result()
            except BaseException:
                binary.close()  # the program did not start: nothing else will close it
                raise

        def discard(built: tuple[str, str | None, str]) -> None:
            if built[1]:  # not the program's: it did not start
                shutil.rmtree(built[1], ignore_errors=True)

        return self._launching("dapgo-launch", begin, handle.cancel,
                               lambda: _binary_of(cfg, handle, self._emit), start, discard)

    def _launching(self, name: str, begin: Callable[[Callable[[], None]], None],
                   cancel: Callable[[], None], prepare: Callable[[], T],
                   install: Callable[[T], None], discard: Callable[[T], None]
                   ) -> Future[None]:
        """A launch on a thread of its own, so that a disconnect gets through meanwhile
        (and `cancel`s it): `begin` (on the owner thread), `prepare` (build, open files),
        then `install` (start the program); `discard` what `prepare` made if that fails."""
        done: Future[None] = Future()

        def run() -> None:
            try:
                self._do(begin, cancel).result()
                try:
                    prepared = prepare()
                except BaseException:
                    self._do(self._engine.abandon_launch).result()
                    raise
                try:
                    install(prepared)
                except BaseException:
                    discard(prepared)
                    self._owner.post(self._engine.abandon_launch)
                    raise
            except BaseException as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)

        threading.Thread(target=run, name=name, daemon=True).start()
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
        if self._follow is not None:
            proc.follow_children(*self._follow)
        engine.install(Program(proc, binary, pump=pump, tmpdir=tmpdir),
                       stop_on_entry)
        self._emit(ProcessStarted(binary_path, proc.pid, "launch"))

    def _open_core_files(self, cfg: LaunchConfig) -> tuple[BinaryInfo, CoreProcess]:
        """Off the owner thread (a debuginfod download may take a while): the executable's
        debug information and the core file."""
        cwd = cfg.cwd or os.getcwd()
        binary_path = os.path.abspath(os.path.join(cwd, cfg.program))
        core_path = os.path.abspath(os.path.join(cwd, cfg.core_file or ""))
        if not os.path.isfile(binary_path):
            raise ProgramNotFoundError(f"program not found: {cfg.program}")
        if not cfg.core_file or not os.path.isfile(core_path):
            raise ProgramNotFoundError(f"core file not found: {cfg.core_file}")
        binary = self._open_binary(binary_path, cfg)
        try:
            from dapgo.engine.corefile import CoreProcess

            proc = CoreProcess.open(core_path, binary_path)
        except BaseException:
            binary.close()
            raise
        if proc.executable_matches() is False:
            self._emit(Output("important", f"warning: {core_path} was not written by this "
                              f"build of {binary_path} (their ELF headers differ): stacks and "
                              "values will be wrong; open it with the binary that crashed\n"))
        return binary, proc

    def _install_core(self, binary: BinaryInfo, proc: CoreProcess) -> None:
        """On the owner thread: the core is the session's program."""
        if self._engine.state != "launching":  # disconnected meanwhile
            raise DebuggerError("the session ended while the core file was being opened")
        self._engine.install_core(Program(proc, binary), proc.crashed_tid, proc.death)

    def _open_binary(self, path: str, cfg: LaunchConfig | None = None,
                     real_path: str | None = None) -> BinaryInfo:
        """The program's debug information, from the binary or a separate debug file
        (a debuginfod download reports its progress and says where it came from)."""
        progress = DownloadProgress(self._emit)
        try:
            binary = BinaryInfo.open(path, cfg.debug_info_dirs if cfg else (),
                                     progress.update, real_path)
        finally:
            progress.end()
        binary.prefetch_stop_sections()
        if binary.debug_file is not None:
            self._emit(Output("console", f"debug information of {path} read from "
                                         f"{binary.debug_file}\n"))
        return binary

    def _start_in_terminal(self, terminal: RunInTerminal, cfg: LaunchConfig,
                           binary: BinaryInfo, binary_path: str, tmpdir: str | None, cwd: str,
                           stop_on_entry: bool) -> None:
        """On the launch thread: have the editor start the program in its terminal, held
        by a wrapper until it is traced (dapgo.engine.terminal)."""
        start = TerminalStart()
        pid = None
        try:
            try:
                terminal(start.argv([binary_path, *cfg.args]), cwd, dict(cfg.env)).result(
                    timeout=TERMINAL_TIMEOUT)
            except FutureTimeout:
                raise ProcessError("the editor did not answer the runInTerminal request "
                                   f"within {TERMINAL_TIMEOUT:.0f}s") from None
            pid = start.wait_pid()
            self._do(self._adopt, binary, binary_path, tmpdir, pid, start.go_ahead,
                     stop_on_entry).result()
        except BaseException:
            if pid is not None and self._engine.program is None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)  # the wrapper, still waiting
            raise
        finally:
            start.close()

    def _adopt(self, binary: BinaryInfo, binary_path: str, tmpdir: str | None, pid: int,
               go_ahead: Callable[[], None], stop_on_entry: bool) -> None:
        """On the owner thread: trace the terminal's wrapper into the program it execs."""
        engine = self._engine
        if engine.state != "launching":
            raise DebuggerError("the session ended while the program was being started")
        try:
            proc = TracedProcess.adopt(pid, go_ahead)
        except (PtraceFailure, OSError) as exc:
            raise ProcessError(f"could not trace {binary_path} in the terminal: {exc}"
                               ) from exc
        engine.install(Program(proc, binary, tmpdir=tmpdir), stop_on_entry)
        self._emit(ProcessStarted(binary_path, pid, "launch"))

    def _run_in_terminal(self, terminal: RunInTerminal, cfg: LaunchConfig, binary_path: str,
                         tmpdir: str | None, cwd: str) -> None:
        """On the launch thread: Run Without Debugging in the editor's terminal."""
        start = TerminalStart()
        try:
            argv = start.untraced_argv([binary_path, *cfg.args])
            try:
                terminal(argv, cwd, dict(cfg.env)).result(timeout=TERMINAL_TIMEOUT)
            except FutureTimeout:
                raise ProcessError("the editor did not answer the runInTerminal request "
                                   f"within {TERMINAL_TIMEOUT:.0f}s") from None
            pid = start.wait_pid()
        except BaseException:
            start.close()
            raise
        self._do(self._watch_terminal_run, TerminalRun(start, pid, self._emit, tmpdir),
                 binary_path).result()

    def _watch_terminal_run(self, run: TerminalRun, binary_path: str) -> None:
        engine = self._engine
        if engine.state != "launching":  # disconnected meanwhile
            run.close(kill=True, report=False)
            raise DebuggerError("the session ended while the program was being started")
        self._untraced = run
        engine.abandon_launch()
        engine.state = "exited"
        self._emit(ProcessStarted(binary_path, run.pid, "launch"))
        run.watch()

    def _start_untraced(self, cfg: LaunchConfig, binary_path: str, tmpdir: str | None,
                        cwd: str) -> None:
        """On the owner thread: start the built program without debugging (noDebug)."""
        engine = self._engine
        if engine.state != "launching":  # disconnected during the build
            raise DebuggerError("the session ended while the program was being built")
        run = UntracedRun([binary_path, *cfg.args], gobuild.build_env(cfg), cwd, self._emit,
                          tmpdir)
        self._untraced = run
        engine.abandon_launch()
        engine.state = "exited"  # nothing for the engine to debug in this session
        self._emit(ProcessStarted(binary_path, run.pid, "launch"))
        run.watch()

    def attach(self, pid: int, stop_on_entry: bool = False,
               ahead: CompileAhead | None = None) -> Future[None]:
        """Attach to a running process; `stop_on_entry`: configurationDone reports it
        stopped where it was (reason "entry") instead of letting it run on. `ahead`: a BPF
        program compiled beforehand, used if it serves this binary (else unloaded)."""
        return self._do(self._attach, pid, stop_on_entry, ahead)

    def _attach(self, pid: int, stop_on_entry: bool, ahead: CompileAhead | None) -> None:
        try:
            exe = self._attach_with(pid, stop_on_entry, ahead)
        except BaseException:
            if ahead is not None:
                ahead.discard()  # not handed to the program (discarding twice is harmless)
            raise
        self._emit(ProcessStarted(exe, pid, "attach"))

    def _attach_with(self, pid: int, stop_on_entry: bool, ahead: CompileAhead | None) -> str:
        """Attach (see `attach`); the program's executable."""
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
        binary = self._open_binary(f"/proc/{pid}/exe", real_path=exe)
        # its breakpoints will be uprobes: the BPF program is compiled (~2 s) while the
        # program still runs, not while the attach holds it stopped
        if ahead is not None and not ahead.serves(binary):
            ahead.discard()
            ahead = None
        if ahead is None:
            ahead = CompileAhead(binary, configured_ringbuf_pages(), signal.SIGURG)
        ahead.wait()
        try:
            proc = TracedProcess.attach(pid)
        except (PtraceFailure, OSError) as exc:
            ahead.discard()
            binary.close()
            raise ProcessError(f"could not attach to process {pid} ({exe}): {exc}") from exc
        except BaseException:
            ahead.discard()
            binary.close()
            raise
        if self._follow is not None:
            proc.follow_children(*self._follow)
        engine.install(Program(proc, binary, attached=True, bpf_ahead=ahead),
                       stop_on_entry=stop_on_entry)
        return exe

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

    def set_instruction_breakpoints(self, specs: list[InstructionBreakpointSpec]
                                    ) -> Future[list[BreakpointStatus]]:
        return self._do(self._engine.set_instruction_breakpoints, specs)

    def disassemble(self, address: int, instruction_offset: int, count: int,
                    flavor: DisassemblyFlavor) -> Future[list[Instruction]]:
        return self._do(self._engine.disassemble, address, instruction_offset, count, flavor)

    def read_memory(self, address: int, count: int) -> Future[tuple[bytes, int]]:
        return self._do(self._engine.read_memory, address, count)

    def write_memory(self, address: int, data: bytes, allow_partial: bool) -> Future[int]:
        return self._do(self._engine.write_memory, address, data, allow_partial)

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
        return self._look(self._engine.stack_trace, thread_id, start, levels)

    def scopes(self, thread_id: int, frame_index: int, show_globals: bool = False,
               show_registers: bool = True) -> Future[list[ScopeInfo]]:
        return self._look(self._engine.scopes, thread_id, frame_index, show_globals,
                          show_registers)

    def variables(self, handle: object, start: int | None = None, count: int | None = None
                  ) -> Future[list[VariableInfo]]:
        return self._look(self._engine.variables, handle, start, count)

    def evaluate(self, expression: str, thread_id: int | None, frame_index: int,
                 context: str) -> Future[VariableInfo]:
        """`context` is DAP's (watch, repl, hover, clipboard): it says whether function
        calls may run (dapgo.engine.calls.call_policy); repl and clipboard show a string
        whole (up to 1 MiB). One that cannot call (no parenthesis, or a context that never
        calls) is a look (`_look`)."""
        may_call = call_policy(expression, context)[1] and "(" in expression
        return (self._do if may_call else self._look)(
            self._engine.evaluate, expression, thread_id, frame_index, context)

    def set_variable(self, handle: object, name: str, value: str) -> Future[VariableInfo]:
        return self._do(self._engine.set_variable, handle, name, value)

    def set_goroutine_options(self, show_labels: list[str], hide_system: bool, filters: str,
                              max_goroutines: int) -> Future[None]:
        return self._do(self._engine.set_goroutine_options, show_labels, hide_system,
                        filters, max_goroutines)

    def set_value_limits(self, max_string_len: int | None, max_array_values: int | None
                         ) -> Future[None]:
        return self._do(self._engine.set_value_limits, max_string_len, max_array_values)

    def goroutine_command(self, args: str, frame: tuple[int, int] | None = None
                          ) -> Future[CommandAnswer]:
        return self._do(lambda: CommandAnswer(*self._engine.goroutine_command(args, frame)))

    def source_files(self) -> Future[list[str]]:
        return self._do(self._engine.source_files)

    def dump(self, path: str) -> Future[CommandAnswer]:
        from dapgo.engine.corefile import write_core

        return self._do(lambda: CommandAnswer(self._engine.dump(path, write_core)))

    def metrics_command(self, args: str) -> Future[CommandAnswer]:
        return self._do(lambda: CommandAnswer(self._engine.metrics_command(args)))

    # ----- ending -----

    def terminate(self) -> Future[None]:
        def terminate() -> None:
            if self._untraced is not None:
                self._untraced.kill()
            else:
                self._engine.terminate()

        return self._do(terminate)

    def disconnect(self, terminate: bool) -> Future[None]:
        """End the session: kill (`terminate`) or detach the program, then the owner
        thread ends."""
        def end() -> None:
            try:
                if self._untraced is not None:
                    self._untraced.close(kill=terminate)
                self._engine.disconnect(terminate)
            finally:
                self._engine.close()
                self._owner.shutdown()

        return self._do(end)


class DownloadProgress:
    """Progress events of a debug information download (DAP progressStart/Update/End),
    at most one update per percent."""

    def __init__(self, emit: Callable[[EngineEvent], None]) -> None:
        self._emit = emit
        self._id: str | None = None
        self._last = -1

    def update(self, what: str, done: int, total: int | None) -> None:
        pct = min(100, done * 100 // total) if total else None
        if self._id is None:
            self._id = f"dapgo-debuginfod-{id(self):x}"
            self._emit(Progress(self._id, "start", title="Downloading debug information",
                                message=what, percentage=pct))
        elif pct is not None and pct > self._last:
            self._emit(Progress(self._id, "update", message=f"{done >> 10} KiB",
                                percentage=pct))
        if pct is not None:
            self._last = pct

    def end(self) -> None:
        if self._id is not None:
            self._emit(Progress(self._id, "end", message="done"))
            self._id = None


def _binary_of(cfg: LaunchConfig, handle: gobuild.BuildHandle,
               emit: Callable[[EngineEvent], None]) -> tuple[str, str | None, str]:
    """(binary, temporary directory to remove or None, working directory) of a launch.
    Says which Go builds it, and reports the build's progress."""
    if cfg.mode == "exec":
        binary_path = os.path.abspath(os.path.join(cfg.cwd or os.getcwd(), cfg.program))
        if not os.path.isfile(binary_path):
            raise ProgramNotFoundError(f"program not found: {cfg.program}")
        # vscode-go: "the program folder is the working directory if cwd is omitted"
        return binary_path, None, cfg.cwd or os.path.dirname(binary_path)
    go = gobuild.find_go()
    version = gobuild.go_version(cfg, go) or "an unknown Go version"
    emit(Output("console", f"dapgo: building {cfg.program} with {version} ({go})\n"))
    progress = gobuild.BuildProgress(emit, f"Building {os.path.basename(cfg.program)}",
                                     f"{version}: starting go build")
    try:
        binary_path, tmpdir = gobuild.build(cfg, handle.started, progress.package)
    except BuildError as exc:
        progress.end("failed")
        emit(Output("stderr", f"{exc}\n"))
        raise
    except BaseException:
        progress.end("failed")
        raise
    progress.end("built")
    return binary_path, tmpdir, cfg.cwd or gobuild.package_dir(cfg)
