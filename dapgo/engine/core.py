"""The engine's state and what can be done with it, on the owner thread.

`Engine` holds the session's state machine (idle -> launching -> stopped <-> running ->
exited), the program being debugged and the parts that work on it, each with one job:
breakpoints (`BreakpointTable`), kernel probes, data breakpoints, inspection, the rules
that say what a stop means, the runner, stepping. Every method runs on the owner thread
(dapgo.engine.owner): while the program runs, requests are served by the runner between
events, and work that needs the program stopped is done inside `runner.halted`.

Events (stops, exits, output, breakpoint changes) leave through `emit`.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from typing import Literal, TypeVar

import attrs

from dapgo.engine import limits, rawmemory
from dapgo.engine.backend import Process, ReadOnlyError
from dapgo.engine.breakpoints import BreakpointTable, UserBreakpoint
from dapgo.engine.calls import CallRunner, call_policy, call_timeout, finished_call_text
from dapgo.engine.crash import core_stop
from dapgo.engine.data_breakpoints import DataBreakpoints
from dapgo.engine.disassembly import Disassembler
from dapgo.engine.errors import DebuggerError, NotStoppedError
from dapgo.engine.exception_filters import DEFAULT_EXCEPTION_FILTERS
from dapgo.engine.fncall import CallInterrupted, Injector, busy
from dapgo.engine.goroutine_view import COMMAND_HELP, parse_command
from dapgo.engine.hits import Hit, HitRules
from dapgo.engine.inspector import Inspector
from dapgo.engine.kernel_probes import KernelProbes
from dapgo.engine.libraries import Libraries
from dapgo.engine.model import (
    BreakpointChanged,
    BreakpointStatus,
    Continued,
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
    Output,
    ScopeInfo,
    SourceBreakpointSpec,
    StepKind,
    Stopped,
    StopReason,
    ThreadInfo,
    VariableInfo,
)
from dapgo.engine.outcome import INTERRUPTED, Outcome
from dapgo.engine.owner import Owner
from dapgo.engine.program import Program
from dapgo.engine.runner import Runner
from dapgo.engine.stepping import ParkedResume, Stepper, SteppingError, parked_resume
from dapgo.engine.stopcontext import OS_THREAD_ID_BASE, StopContext
from dapgo.engine.user_breakpoints import (
    EXCEPTION_GROUP,
    FUNCTION_GROUP,
    INSTRUCTION_GROUP,
    exception_breakpoints,
    function_breakpoints,
    instruction_breakpoints,
    rebind,
    source_breakpoints,
)
from dapgo.engine.values import MAX_ARRAY_VALUES, MAX_STRING_LEN

T = TypeVar("T")
log = logging.getLogger(__name__)
State = Literal["idle", "launching", "stopped", "running", "exited"]
PUMP_DRAIN_SECONDS = 5


class Parts:
    """The parts that work on a loaded program."""

    def __init__(self, program: Program, owner: Owner, table: BreakpointTable,
                 inspector: Inspector, emit: Callable[[EngineEvent], None]) -> None:
        self.kernel = KernelProbes(program, table, owner.post, emit)
        self.watches = DataBreakpoints(program, table, inspector, emit,
                                       lambda fn: self.runner.halted(fn), self.kernel)
        self.rules = HitRules(program, table, self.kernel, self.watches, inspector, emit)
        self.runner = Runner(program, owner, table, self.rules, self.kernel,
                             program.process.wake)
        self.stepper = Stepper(program.target, program.goroutines, self.runner)
        self.injector = Injector(program, self.rules.of,
                                 lambda plan, out: emit(Output("console", finished_call_text(
                                     program, plan, out))))
        self.rules.calls = self.injector
        self.libraries = Libraries(program, table, emit, lambda fn: self.runner.halted(fn),
                                   lambda: self.kernel.place([]))


class Engine:
    def __init__(self, owner: Owner, emit: Callable[[EngineEvent], None]) -> None:
        self.owner = owner
        self.emit = emit
        self.state: State = "idle"
        self.table = BreakpointTable()
        self.inspector = Inspector()
        self.value_limits = (MAX_STRING_LEN, MAX_ARRAY_VALUES)
        self.program: Program | None = None
        self.parts: Parts | None = None
        self.stop: StopContext | None = None  # the stop the user sees
        self.current_tid: int | None = None  # the thread of the last stop
        self.pending: list[Hit] = []  # simultaneous hits not yet reported
        self.exceptions: dict[int, ExceptionInfo] = {}  # by goroutine, for this stop
        self.stop_on_entry = False
        self.cancel_build: Callable[[], None] | None = None  # a go build in progress
        self._listed: StopContext | None = None  # the stop the threads view was made for
        self.core_death: str | None = None  # a core file: the signal the program died of
        self.call_timeout = call_timeout()
        self._disasm: Disassembler | None = None
        self._restarting = False  # between begin_restart and install

    # ----- checks -----

    def _loaded(self) -> tuple[Program, Parts]:
        if self.program is None or self.parts is None or self.state in ("idle", "launching",
                                                                         "exited"):
            raise DebuggerError("no program is being debugged")
        return self.program, self.parts

    def _stopped(self) -> StopContext:
        program, _ = self._loaded()
        if self.state != "stopped":
            raise NotStoppedError("the program is running; pause it first")
        if self.stop is None:
            self.stop = StopContext(program, self.current_tid)
        return self.stop

    def _with_program_stopped(self, fn: Callable[[], T]) -> T:
        """Run `fn` with the program stopped; a running one is halted for it and resumed
        after, without the user seeing a stop."""
        _, parts = self._loaded()
        return parts.runner.halted(fn) if self.state == "running" else fn()

    # ----- starting -----

    def begin_launch(self, cancel_build: Callable[[], None]) -> None:
        if self.state != "idle":
            raise DebuggerError("a program is already being debugged in this session")
        self.state = "launching"
        self.cancel_build = cancel_build

    def abandon_launch(self) -> None:
        self.cancel_build = None
        if self.state == "launching":
            self.state = "idle"

    def install(self, program: Program, stop_on_entry: bool) -> None:
        """The program is loaded and stopped before its first instruction (launch) or where
        it was (attach). After `begin_restart`, the breakpoints are placed again and the
        program runs (or reports its stop on entry)."""
        self.cancel_build = None
        self.program = program
        program.values.max_string_len, program.values.max_array_values = self.value_limits
        self.parts = Parts(program, self.owner, self.table, self.inspector, self.emit)
        self.state = "stopped"
        self.current_tid = program.pid
        self.stop_on_entry = stop_on_entry
        self.parts.libraries.start()  # plugins: follow the link map (see libraries.py)
        if not self._restarting:
            self.set_exception_breakpoints(list(DEFAULT_EXCEPTION_FILTERS))
            return
        self._restarting = False
        bps = self.table.all()
        for bp in bps:
            rebind(bp, program.binary)
        self.parts.kernel.prepare(bps)
        self.parts.kernel.place([])
        for bp in bps:
            self.emit(BreakpointChanged(bp.status()))
        self.emit(Continued(thread_id=1))  # the old program's stop is over
        self.configuration_done()

    def begin_restart(self, cancel_build: Callable[[], None]) -> None:
        """End the program (killed, no exit reported) to start it again, keeping the
        breakpoints; `install` of the new one follows."""
        if self.state not in ("stopped", "running", "exited") or self.program is None:
            raise DebuggerError("there is no launched program to restart")
        if self.state in ("stopped", "running"):
            if self.parts is not None:
                self.parts.runner.interrupt = INTERRUPTED
            self._release(kill=True)
        self.close()
        self.table.forget_program()
        self.program = self.parts = None
        self.stop = self._listed = None
        self.pending, self.exceptions = [], {}
        self.state = "launching"
        self.cancel_build = cancel_build
        self._restarting = True

    def install_core(self, program: Program, crashed_tid: int, death: str | None) -> None:
        """A read-only program (a core file) is loaded; `crashed_tid` is the thread that
        caused the dump and `death` the signal that killed it, when one did. Its stop is
        reported at configurationDone."""
        self.install(program, stop_on_entry=False)
        self.current_tid = crashed_tid
        self.core_death = death

    def configuration_done(self) -> None:
        program, _ = self._loaded()
        if program.process.read_only and self.state == "stopped":
            self._report_core(program)
            return
        if self.stop_on_entry and self.state == "stopped":
            self._report("entry", self.current_tid or self._loaded()[0].pid)
            return
        self.resume()

    def _report_core(self, program: Program) -> None:
        """A core file's stop: on the thread that caused the dump, saying what the program
        died of (the signal, and a Go panic's or fatal error's message)."""
        tid = self.current_tid if self.current_tid is not None else program.pid
        ctx = StopContext(program, tid)
        description, info = core_stop(self.inspector, ctx, ctx.thread_id_of(tid),
                                      self.core_death)
        goroutine = None
        if ctx.thread_id_of(tid) >= OS_THREAD_ID_BASE:
            # no goroutine on that thread (an idle one took the signal): select one that
            # the threads view lists, as a pause does
            tid, goroutine = self._pause_goroutine(program)
        if info is None:
            self._report("pause", tid, goroutine, description=description)
            return
        self._report("exception", tid, goroutine, description=description,
                     text=info.exception_id)
        assert self.stop is not None
        self.exceptions[self.stop.selected_goroutine() or self.stop.thread_id_of(tid)] = info

    def _runnable(self) -> None:
        program, _ = self._loaded()
        if program.process.read_only:
            raise ReadOnlyError(getattr(program.process, "why_read_only",
                                        "this program cannot run"))

    # ----- breakpoints -----

    def _place(self, group: str, bps: list[UserBreakpoint]) -> list[BreakpointStatus]:
        dropped = self.table.replace_group(group, bps)
        if self.program is not None and self.program.process.read_only:
            return [attrs.evolve(bp.status(), verified=False,
                                 message="a core file cannot stop at breakpoints")
                    for bp in bps]
        if self.parts is not None:
            self.parts.runner.plan_lookahead()
        if self.program is not None and self.parts is not None \
                and self.state in ("stopped", "running"):
            kernel = self.parts.kernel
            kernel.prepare(bps)
            changed = self._with_program_stopped(lambda: kernel.place(dropped))
            for bp in changed:
                if bp not in bps:
                    self.emit(BreakpointChanged(bp.status()))
        return [bp.status() for bp in bps]

    def set_breakpoints(self, path: str, specs: list[SourceBreakpointSpec]
                        ) -> list[BreakpointStatus]:
        binary = self.program.binary if self.program else None
        return self._place(path, source_breakpoints(self.table, binary, path, specs))

    def set_function_breakpoints(self, specs: list[FunctionBreakpointSpec]
                                 ) -> list[BreakpointStatus]:
        binary = self.program.binary if self.program else None
        return self._place(FUNCTION_GROUP, function_breakpoints(self.table, binary, specs))

    def set_exception_breakpoints(self, filters: list[str]) -> None:
        if self.program is not None and self.program.process.read_only:
            return  # a core file's program already died of whatever it died of
        binary = self.program.binary if self.program else None
        self._place(EXCEPTION_GROUP, exception_breakpoints(self.table, binary, filters))

    def set_instruction_breakpoints(self, specs: list[InstructionBreakpointSpec]
                                    ) -> list[BreakpointStatus]:
        binary = self.program.binary if self.program else None
        return self._place(INSTRUCTION_GROUP, instruction_breakpoints(self.table, binary, specs))

    # ----- machine level: disassembly, raw memory -----

    def disassemble(self, address: int, instruction_offset: int, count: int,
                    flavor: DisassemblyFlavor) -> list[Instruction]:
        program, _ = self._loaded()
        if self._disasm is None or self._disasm.binary is not program.binary:
            self._disasm = Disassembler(program.binary)
        return self._disasm.window(address, instruction_offset, count, flavor)

    def read_memory(self, address: int, count: int) -> tuple[bytes, int]:
        program, _ = self._loaded()
        return self._with_program_stopped(lambda: rawmemory.read(program.target, address,
                                                                 count))

    def write_memory(self, address: int, data: bytes, allow_partial: bool) -> int:
        self._stopped()
        program, _ = self._loaded()
        # through the stop's memory cache, which forgets what it read (stopmemory.py)
        return rawmemory.write(program.memory, address, data, allow_partial)

    def exception_info(self, thread_id: int) -> ExceptionInfo:
        self._stopped()
        info = self.exceptions.get(thread_id)
        if info is None:
            raise DebuggerError(f"goroutine {thread_id} did not stop on an exception")
        return info

    # ----- data breakpoints -----

    def data_breakpoint_info(self, handle: object | None, name: str, thread_id: int | None,
                             frame_index: int) -> DataBreakpointInfo:
        ctx = self._stopped()
        program, parts = self._loaded()
        if program.process.read_only:
            return DataBreakpointInfo(None, "a core file cannot run: nothing can be watched")
        return parts.watches.info(ctx, handle, name, thread_id, frame_index)

    def set_data_breakpoints(self, specs: list[DataBreakpointSpec]) -> list[BreakpointStatus]:
        _, parts = self._loaded()
        return self._with_program_stopped(lambda: parts.watches.set(specs))

    # ----- running -----

    def resume(self) -> None:
        _, parts = self._loaded()
        self._stopped()
        self._runnable()
        # Goroutines that hit a breakpoint at the same moment as the one reported are
        # reported one by one before the program runs again: no hit is lost.
        if self.pending:
            self._report_hit(self.pending.pop(0))
            return
        self._start_running()
        self.owner.next(lambda: self._activity(lambda: self._finish(parts.runner.run())))

    def step(self, thread_id: int, kind: StepKind, instruction: bool) -> None:
        """Step goroutine `thread_id` (over, in or out); returns once the step is under way.
        A Stopped event (reason "step", or whatever interrupted the step) follows."""
        ctx = self._stopped()
        _, parts = self._loaded()
        self._runnable()
        tid = ctx.tid_running(thread_id)
        if tid is None and ctx.frame0_thread(thread_id)[1]:
            raise DebuggerError(
                f"goroutine {thread_id}'s thread is running the Go runtime on its system "
                "stack: stepping there is not supported; continue instead")
        # a thread blocked in a system call cannot be single-stepped (the step would wait
        # for the call with every other thread stopped); a step out only runs to a return
        blocked = tid is not None and kind != "out" \
            and ctx.program.target.registers(tid).in_system_call
        if tid is not None and not blocked:
            def step() -> Outcome:
                assert tid is not None
                return parts.stepper.run(tid, kind, instruction)
        else:
            resume = self._parked_resume(ctx, thread_id, instruction, blocked)

            def step() -> Outcome:
                return parts.stepper.run_parked(thread_id, resume, kind)
        self.pending = []
        self._start_running()
        # a step request implies only its own thread goes on (no allThreadsContinued in
        # its response), but every goroutine runs during the step: say so, as Delve does
        self.emit(Continued(thread_id=thread_id))
        self.owner.next(lambda: self._activity(lambda: self._step(step, tid)))

    def _parked_resume(self, ctx: StopContext, thread_id: int, instruction: bool,
                       blocked: bool) -> ParkedResume:
        """Where goroutine `thread_id`, which no thread runs (or whose thread is `blocked`
        in a system call), comes back to its own code (a step on it runs the program until
        then); a clear error when it cannot step."""
        g = ctx.goroutine_set().get(thread_id) if ctx.whole else None
        if thread_id >= OS_THREAD_ID_BASE or g is None:
            raise DebuggerError(f"no goroutine {thread_id} to step")
        why = "is blocked in a system call" if blocked else "is not running on a thread"
        if instruction:
            raise DebuggerError(f"goroutine {thread_id} {why}: an instruction step cannot "
                                "run there; step by line, or continue")
        resume = parked_resume(ctx.frames(thread_id), g.stack_hi)
        if resume is None:
            raise DebuggerError(f"goroutine {thread_id} {why} and has no frame of its own "
                                "code to step in; continue instead")
        return resume

    def _start_running(self) -> None:
        assert self.parts is not None
        self.stop = None
        self.exceptions = {}
        self.state = "running"
        self.parts.runner.interrupt = None

    def _activity(self, run: Callable[[], None]) -> None:
        """Run the program (a continue, a step); if that fails, never leave it stopped and
        unreported: say why, stopped, or report its end."""
        try:
            run()
        except Exception as exc:
            log.exception("running the program failed")
            if self.state != "running" or self.program is None:
                return
            try:
                self.program.process.stop_all()
                self._report("pause", *self._pause_goroutine(self.program),
                             description=f"dapgo internal error: {exc}")
            except Exception:
                log.exception("the program cannot be stopped")
                self._on_exit(self.program.process.exit_code or -1)

    def _step(self, step: Callable[[], Outcome], tid: int | None) -> None:
        try:
            out = step()
        except (SteppingError, OSError) as exc:
            if self.state == "running":
                program, _ = self._loaded()
                where = (tid, None) if tid is not None else self._pause_goroutine(program)
                self._report("step", *where, description=f"step failed: {exc}")
            return
        self._finish(out, step=True)

    def _finish(self, out: Outcome, step: bool = False) -> None:
        """The program stopped running: report why."""
        if out.kind == "interrupted" or self.state != "running":
            return  # the request that ended the run has said what happened
        if out.kind == "exited":
            self._on_exit(out.exit_code if out.exit_code is not None else -1)
        elif out.kind == "hits":
            self.pending = list(out.hits[1:])
            self._report_hit(out.hits[0])
        else:
            self._report("step" if step else "breakpoint", out.tid)

    def pause(self) -> None:
        if self.state != "running":
            return
        program, parts = self._loaded()
        was_running = program.process.stop_all()
        hits = parts.runner.hits_when_stopped(was_running)
        parts.runner.interrupt = INTERRUPTED
        self.pending = hits
        self._report("pause", *self._pause_goroutine(program))

    def _pause_goroutine(self, program: Program) -> tuple[int, int | None]:
        """Where a pause is reported: the thread of the last stop if it runs a goroutine,
        else any thread that does; when none does (every goroutine parked), the main
        goroutine (else the first one), which `threads` lists too."""
        ctx = StopContext(program, None)
        tids = program.process.thread_ids()
        for tid in [self.current_tid, *tids]:
            if tid in tids and ctx.thread_id_of(tid) < OS_THREAD_ID_BASE:
                return tid, None
        tid = self.current_tid if self.current_tid in tids else tids[0]
        try:
            gs = ctx.goroutine_set().goroutines
        except Exception:
            log.exception("reading goroutines at a pause failed")
            gs = []
        if not gs:
            return tid, None  # the runtime has not started: threads lists OS threads
        return tid, next((g.id for g in gs if g.id == 1), gs[0].id)

    def _report_hit(self, hit: Hit) -> None:
        self._report(hit.reason, hit.tid, None, hit.bp_ids, hit.description, hit.text, hit)

    def _report(self, reason: StopReason, tid: int, goroutine: int | None = None,
                bp_ids: tuple[int, ...] = (), description: str | None = None,
                text: str | None = None, hit: Hit | None = None) -> None:
        """The program is stopped: tell why, on thread `tid` (or on `goroutine`, when the
        stop is about a goroutine no thread runs)."""
        program, _ = self._loaded()
        program.process.park()  # an attached program must survive dapgo dying from now on
        self.state = "stopped"
        self.current_tid = tid
        self.stop = StopContext(program, tid, selected=goroutine)
        for h in [hit, *self.pending]:  # what exceptionInfo is asked about in this stop
            if h is not None and h.exception is not None:
                self.exceptions[self.stop.thread_id_of(h.tid)] = h.exception
        thread_id = goroutine if goroutine is not None else self.stop.thread_id_of(tid)
        self.emit(Stopped(reason=reason, thread_id=thread_id, hit_breakpoint_ids=bp_ids,
                          description=description, text=text))

    def _on_exit(self, code: int) -> None:
        self.state = "exited"
        self.stop = None
        try:
            self._release(kill=False)
        except Exception:  # never a program left traced, stopped or unreaped: end it
            log.exception("the program could not be let go after its end: killing it")
            if self.program is not None:
                try:
                    self.program.process.kill()
                except Exception:
                    log.exception("the program could not be killed")
        pump = self.program.pump if self.program else None
        if pump is None:
            self.emit(Exited(exit_code=code))
            return

        def after_output() -> None:  # every byte of the program's output comes first
            pump.join(timeout=PUMP_DRAIN_SECONDS)
            self.emit(Exited(exit_code=code))

        threading.Thread(target=after_output, name="dapgo-exit", daemon=True).start()

    # ----- inspection -----

    def threads(self) -> tuple[list[ThreadInfo], int, str]:
        """Goroutines as threads (never raises): the list, how many matching goroutines
        maxGoroutines left out, and the console text saying so. While the program runs:
        the last answer, or the program is halted briefly."""
        view = self.inspector.view
        if self.state not in ("stopped", "running"):
            return [], 0, ""
        try:
            if self.state == "running":
                if view.last is None:
                    program, parts = self._loaded()
                    parts.runner.halted(lambda: self.inspector.list_threads(
                        StopContext(program, self.current_tid)))
            elif view.last is None or self._listed is not self.stop:
                ctx = self._stopped()
                self.inspector.list_threads(ctx)
                self._listed = ctx
        except Exception:
            log.exception("listing goroutines failed")
        return list(view.last or []), view.omitted, view.omitted_message()

    def set_goroutine_options(self, show_labels: list[str], hide_system: bool, filters: str,
                              max_goroutines: int) -> None:
        self.inspector.view.set(show_labels, hide_system, filters, max_goroutines)
        self.inspector.view.last = None

    def goroutine_command(self, args: str, frame: tuple[int, int] | None = None
                          ) -> tuple[str, bool, tuple[int, ...]]:
        """The `dapgo goroutines ...` console command: the text to print, whether what
        `threads` shows changed, and the goroutines it lists (for -exec)."""
        view = self.inspector.view
        cmd = parse_command(args)
        if cmd.help:
            return COMMAND_HELP, False, ()
        if cmd.sets_view:
            view.apply_command(cmd)
            view.last = None
        if self.state not in ("stopped", "running"):
            return view.describe() + "\n(no program is stopped: nothing to count)\n", \
                cmd.sets_view, ()
        if self.state == "running":
            program, parts = self._loaded()
            text, ids = parts.runner.halted(lambda: self.inspector.goroutine_report(
                StopContext(program, self.current_tid), cmd, frame))
        else:
            text, ids = self.inspector.goroutine_report(self._stopped(), cmd, frame)
        return text, cmd.sets_view, tuple(ids)

    def source_files(self) -> list[str]:
        program, _ = self._loaded()
        return program.binary.source_files()

    def dump(self, path: str, write: Callable[[Process, str, int | None], int]) -> str:
        """`dapgo dump PATH`: write a core file of the stopped program with `write`
        (dapgo.engine.corefile.write_core); the program stays stopped."""
        self._stopped()
        program, _ = self._loaded()
        if program.process.read_only:
            raise DebuggerError("this is already a core file: there is no live program to "
                                "dump")
        path = os.path.abspath(os.path.expanduser(path))
        try:
            size = write(program.process, path, self.current_tid)
        except OSError as exc:
            raise DebuggerError(f"cannot write the core file {path}: "
                                f"{exc.strerror or exc}") from exc
        return (f"wrote core file {path} ({len(program.process.thread_ids())} threads, "
                f"{size / (1 << 20):.1f} MiB of memory); open it with launch mode 'core', "
                f"program {program.binary.path}\n")

    def metrics_command(self, args: str) -> str:
        """The `dapgo metrics ...` console command: the metric points' figures (read from
        the kernel's maps: the program may be running)."""
        _program, parts = self._loaded()
        return parts.kernel.metrics_command(args)

    def stack_trace(self, thread_id: int, start: int, levels: int
                    ) -> tuple[list[FrameInfo], int]:
        return self.inspector.stack_trace(self._stopped(), thread_id, start, levels)

    def scopes(self, thread_id: int, frame_index: int, show_globals: bool,
               show_registers: bool = True) -> list[ScopeInfo]:
        return self.inspector.scopes(self._stopped(), thread_id, frame_index, show_globals,
                                     show_registers)

    def variables(self, handle: object, start: int | None, count: int | None
                  ) -> list[VariableInfo]:
        return self.inspector.variables(self._stopped(), handle, start, count)

    def set_value_limits(self, max_string_len: int | None, max_array_values: int | None
                         ) -> None:
        s, a = self.value_limits
        # bounded however they are set (launch attributes, `dapgo config`): hostile input
        self.value_limits = (min(max_string_len or s, limits.MAX_STRING_LEN),
                             min(max_array_values or a, limits.MAX_ARRAY_VALUES))
        if self.program is not None:
            values = self.program.values
            values.max_string_len, values.max_array_values = self.value_limits

    def evaluate(self, expression: str, thread_id: int | None, frame_index: int,
                 context: str = "repl") -> VariableInfo:
        """A Go expression in a frame; without one, in the innermost frame of the goroutine
        that stopped (as Delve does), or over globals only when there is none. Function
        calls run on that goroutine, in the contexts that may call (`call_policy`)."""
        ctx = self._stopped()
        program, parts = self._loaded()
        if thread_id is None:
            thread_id, frame_index = ctx.selected_goroutine(), 0
        expression, may_call, refusal = call_policy(expression, context)
        runner = None
        if may_call and program.process.read_only:
            refusal = "function calls need a live program"
        elif may_call and thread_id is None:
            refusal = "no goroutine to call on: the Go runtime has not started one yet"
        elif may_call and thread_id is not None:
            tid = ctx.tid_running(thread_id)
            if thread_id >= OS_THREAD_ID_BASE:
                refusal = "no goroutine runs yet: function calls need the Go runtime started"
            elif parts.injector.waiting(thread_id):
                refusal = busy(thread_id)
            elif tid is None and ctx.frame0_thread(thread_id)[1]:
                refusal = (f"goroutine {thread_id}'s thread is running the Go runtime on its "
                           "system stack: a function call cannot start there")
            elif tid is None:
                refusal = (f"goroutine {thread_id} is not running on a thread (it is parked): "
                           "a function call cannot start on it")
            else:
                runner = CallRunner(program, parts.injector, tid, thread_id,
                                    self.call_timeout)
        try:
            return self.inspector.evaluate(ctx, expression, thread_id, frame_index, context,
                                           runner, refusal)
        except CallInterrupted as exc:
            self._call_interrupted(exc, thread_id)
            raise DebuggerError(str(exc)) from None
        finally:
            for note in runner.notes if runner is not None else []:
                self.emit(Output("console", note))
            if runner is not None and runner.made and self.stop is ctx:
                # the program ran: what was read for this stop may have changed
                self.stop = StopContext(program, ctx.current_tid,
                                        selected=ctx.selected_goroutine())
                self.inspector.view.last = None

    def _call_interrupted(self, exc: CallInterrupted, thread_id: int | None) -> None:
        """A call stopped at a breakpoint inside it (report that stop, as Delve does), or
        did not return in time (the program stays stopped: say so with a stop)."""
        if exc.hits:
            self.pending = list(exc.hits[1:])
            self._report_hit(exc.hits[0])
            return
        program, _ = self._loaded()
        tid = self.current_tid or program.pid
        self._report("pause", tid, goroutine=thread_id,
                     description="a function call did not return in time")

    def set_variable(self, handle: object, name: str, value: str) -> VariableInfo:
        return self.inspector.set_variable(self._stopped(), handle, name, value)

    # ----- ending -----

    def terminate(self) -> None:
        """Kill the program; an Exited event follows."""
        if self.program is None or self.state not in ("stopped", "running"):
            return
        process = self.program.process
        if self.parts is not None:
            self.parts.runner.interrupt = INTERRUPTED
        code = process.kill()
        self._on_exit(code)

    def disconnect(self, terminate: bool) -> None:
        """End debugging: kill the program (`terminate`) or detach and let it run on."""
        if self.state == "launching":
            self.state = "exited"  # the launch in progress sees this and gives up
            if self.cancel_build is not None:
                self.cancel_build()
        if self.program is not None and self.state in ("stopped", "running"):
            if self.parts is not None:
                self.parts.runner.interrupt = INTERRUPTED
                if not terminate and self.parts.injector.left_running:
                    self.emit(Output("console", "warning: a function call is still running "
                                     "in the program; if it ever returns, the program "
                                     "stops with SIGTRAP (no debugger to answer it)\n"))
            self.state = "exited"
            self._release(kill=terminate)
        self.state = "exited"
        self.stop = None

    def _release(self, kill: bool) -> None:
        """Remove every probe; kill or detach the program (the process backend removes the
        int3s and clears the debug registers before it detaches)."""
        program, parts = self.program, self.parts
        if program is None:
            return
        try:
            if parts is not None:
                parts.injector.close()
                parts.watches.close()
                parts.kernel.close()
            ahead, program.bpf_ahead = program.bpf_ahead, None
            if ahead is not None:  # compiled for an attach, never needed
                ahead.discard()
        finally:
            if kill:
                program.process.kill()
            else:
                program.process.detach()  # after an exit: only closes what is left

    def close(self) -> None:
        """After disconnect: the program's output pipes, the binary's map and the binary
        dapgo built."""
        program = self.program
        if program is None:
            return
        self.owner.set_idle_work(None)  # a lookahead into the binary closed here
        try:
            if program.pump is not None:
                program.pump.join(timeout=2)
                program.pump.close()
        finally:
            program.binary.close()
            if program.tmpdir:
                shutil.rmtree(program.tmpdir, ignore_errors=True)
                program.tmpdir = None
