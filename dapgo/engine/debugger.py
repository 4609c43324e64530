"""The engine facade: the one module that combines the backends into a debugger.

It owns the debug session's state machine (nothing -> stopped <-> running -> exited), runs
the wait loop on the ptrace thread while the program runs, and reports what happens as
`EngineEvent`s through the `on_event` callback (called from engine threads). Every method is
blocking and safe to call from any thread; callers in asyncio use `asyncio.to_thread`.

`Debugger` is this module's part (starting, breakpoints, running, stepping, ending) on top
of the facade's other parts in dapgo.engine.facade, one concern each: shared state
(`state`), inspection (`inspect`), data breakpoints (`watch`), kernel breakpoints (`kernel`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
from typing import TYPE_CHECKING

from dapgo.engine import build as gobuild
from dapgo.engine.breakpoints import Breakpoint
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import DebuggerError, ProcessError, ProgramNotFoundError
from dapgo.engine.eval import EvalError, evaluate, is_true
from dapgo.engine.goroutines import (
    GoroutineReader,
)
from dapgo.engine.hitcount import parse_hit_condition
from dapgo.engine.logmessage import format_log_message, parse_log_message
from dapgo.engine.model import (
    BreakpointStatus,
    Continued,
    ExceptionInfo,
    Exited,
    FunctionBreakpointSpec,
    LaunchConfig,
    Output,
    SourceBreakpointSpec,
    Stopped,
    StopReason,
)
from dapgo.engine.output import OutputPump
from dapgo.engine.panics import error_text, panic_value_text
from dapgo.engine.ptrace.process import PtraceFailure, StopEvent, TracedProcess
from dapgo.engine.stack import unwind
from dapgo.engine.stepping import StepKind, Stepper, SteppingError
from dapgo.engine.target import Target
from dapgo.engine.values import (
    Value,
    ValueReader,
)
from dapgo.engine.watchpoints import DataBreakpoint

if TYPE_CHECKING:  # the eBPF backend is imported on first use: bcc is slow to import
    pass

from dapgo.engine.facade.kernel import KernelBreakpoints
from dapgo.engine.facade.state import (
    DEFAULT_EXCEPTION_FILTERS,
    EXCEPTION_FILTERS,
    EXCEPTION_GROUP,
    FUNCTION_GROUP,
    OS_THREAD_ID_BASE,
    Hit,
)

log = logging.getLogger(__name__)


class Debugger(KernelBreakpoints):
    """The facade: start, stop, run and end a debugged Go program."""

    # ----- starting -----

    def launch(self, cfg: LaunchConfig, stop_on_entry: bool) -> None:
        with self._lock:
            if self._state != "idle":
                raise DebuggerError("a program is already being debugged in this session")
            self._state = "launching"
        try:
            # the build runs outside the lock: disconnect and pause get through meanwhile
            if cfg.mode == "exec":
                binary_path = os.path.abspath(os.path.join(cfg.cwd or os.getcwd(), cfg.program))
                if not os.path.isfile(binary_path):
                    raise ProgramNotFoundError(f"program not found: {cfg.program}")
                cwd = cfg.cwd or os.getcwd()
            else:
                binary_path, self._tmpdir = gobuild.build(cfg, self._set_build_proc)
                cwd = cfg.cwd or gobuild.package_dir(cfg)
            binary = BinaryInfo.open(binary_path)
        except BaseException:
            with self._lock:
                if self._state == "launching":
                    self._state = "idle"
            raise
        finally:
            self._build_proc = None
        with self._lock:
            if self._state != "launching":  # disconnected during the build
                if self._tmpdir:
                    shutil.rmtree(self._tmpdir, ignore_errors=True)
                    self._tmpdir = None
                raise DebuggerError("the session ended while the program was being built")
            env = gobuild.build_env(cfg)
            pump = OutputPump(self._emit)
            try:
                proc = self._ex().call(
                    TracedProcess.launch, [binary_path, *cfg.args], env, cwd,
                    pump.stdout_fd, pump.stderr_fd,
                )
            except (PtraceFailure, OSError) as exc:
                pump.close()
                raise ProcessError(f"could not start {binary_path}: {exc}") from exc
            pump.start()
            self._pump = pump
            self._install(proc, binary)
            self._stop_on_entry = stop_on_entry

    def attach(self, pid: int) -> None:
        with self._lock:
            if self._state != "idle":
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
                proc = self._ex().call(TracedProcess.attach, pid)
            except (PtraceFailure, OSError) as exc:
                raise ProcessError(f"could not attach to process {pid} ({exe}): {exc}") from exc
            self._install(proc, binary)
            self._stop_on_entry = False
            self._current_tid = pid

    def _install(self, proc: TracedProcess, binary: BinaryInfo) -> None:
        self._proc = proc
        self._binary = binary
        self._target = Target(proc, binary, self._ex())
        self._goroutines = GoroutineReader(self._target)
        self._values = ValueReader(self._target, *self._value_limits)
        self._state = "stopped"
        self._current_tid = proc.pid
        self.set_exception_breakpoints(list(DEFAULT_EXCEPTION_FILTERS))

    def configuration_done(self) -> None:
        with self._lock:
            self._require_target()
            if self._stop_on_entry and self._state == "stopped":
                self._report_stop("entry", self._current_tid or self._proc_pid(), ())
                return
        self.resume()

    def _proc_pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    # ----- breakpoints -----

    def set_breakpoints(
        self, path: str, specs: list[SourceBreakpointSpec]
    ) -> list[BreakpointStatus]:
        with self._lock:
            bps = []
            for spec in specs:
                key = f"{path}:{spec.line}"
                old = self._bps.existing(path, key)
                if old is not None:
                    old.condition, old.hit_condition = spec.condition, spec.hit_condition
                    old.log_message = spec.log_message
                    bps.append(old)
                    continue
                bp = Breakpoint(
                    id=self._bps.new_id(), kind="source", key=key, addresses=[], path=path,
                    line=spec.line, condition=spec.condition, hit_condition=spec.hit_condition,
                    log_message=spec.log_message,
                )
                try:
                    if spec.log_message is not None:
                        parse_log_message(spec.log_message)
                except DebuggerError as exc:
                    bp.message = str(exc)
                    bps.append(bp)
                    continue
                if self._binary is None:
                    bp.message = "no program loaded yet"
                else:
                    found = self._binary.addresses_for_line(path, spec.line)
                    bp.addresses = list(found.addresses)
                    bp.message = found.message
                bps.append(bp)
            previous = self._bps.group(path)
            self._bps.replace_group(path, bps)
            self._place([b for b in previous if b not in bps])
            return [bp.status() for bp in bps]

    def set_function_breakpoints(
        self, specs: list[FunctionBreakpointSpec]
    ) -> list[BreakpointStatus]:
        with self._lock:
            bps = []
            for spec in specs:
                old = self._bps.existing(FUNCTION_GROUP, spec.name)
                if old is not None:
                    old.condition, old.hit_condition = spec.condition, spec.hit_condition
                    bps.append(old)
                    continue
                bp = Breakpoint(
                    id=self._bps.new_id(), kind="function", key=spec.name, addresses=[],
                    condition=spec.condition, hit_condition=spec.hit_condition,
                )
                fn = self._binary.function(spec.name) if self._binary else None
                if fn is None:
                    bp.message = f"function not found: {spec.name}"
                else:
                    assert self._binary is not None
                    pc = self._binary.first_pc_after_prologue(fn)
                    bp.addresses = [pc]
                    loc = self._binary.line_for_pc(pc)
                    if loc:
                        bp.path, bp.line = loc
                bps.append(bp)
            previous = self._bps.group(FUNCTION_GROUP)
            self._bps.replace_group(FUNCTION_GROUP, bps)
            self._place([b for b in previous if b not in bps])
            return [bp.status() for bp in bps]

    def set_exception_breakpoints(self, filters: list[str]) -> None:
        """Stop on unrecovered panics ("panic") and fatal runtime errors ("fatal")."""
        unknown = [f for f in filters if f not in EXCEPTION_FILTERS]
        if unknown:
            raise DebuggerError(f"unknown exception filter(s): {', '.join(unknown)}; dapgo "
                                f"has {', '.join(EXCEPTION_FILTERS)}")
        with self._lock:
            bps = []
            for f in filters:
                old = self._bps.existing(EXCEPTION_GROUP, f)
                if old is not None:
                    bps.append(old)
                    continue
                addrs = []
                for name in EXCEPTION_FILTERS[f][0]:
                    fn = self._binary.function(name) if self._binary else None
                    if fn is not None and self._binary is not None:
                        addrs.append(self._binary.first_pc_after_prologue(fn))
                bps.append(Breakpoint(id=self._bps.new_id(), kind="exception", key=f,
                                      addresses=addrs))
            self._bps.replace_group(EXCEPTION_GROUP, bps)
            self._sync_breakpoints()

    def exception_info(self, thread_id: int) -> ExceptionInfo:
        """Why goroutine `thread_id` stopped on an exception: the panic value or fatal
        error message, and its stack."""
        with self._lock:
            self._require_stopped()
            info = self._exceptions.get(thread_id)
            if info is None:
                raise DebuggerError(f"goroutine {thread_id} did not stop on an exception")
            return info

    def _read_exception(self, tid: int, filter_id: str) -> ExceptionInfo:
        """On the ptrace thread at runtime.fatalpanic / runtime.throw: the message."""
        assert self._values is not None
        thread_id = self._thread_id_for_tid(tid)
        target = self._require_target()
        regs = target.registers(tid)
        frames = unwind(target, regs.pc, regs.sp)
        self._frames_cache[thread_id] = frames
        self._tid_of_goroutine[thread_id] = tid  # only this thread may be stopped
        exception_id = EXCEPTION_FILTERS[filter_id][1]
        type_name, message = "", ""
        try:
            if filter_id == "panic":
                scope = self._eval_scope(thread_id, 0)
                arg = evaluate("msgs.arg", scope)
                if isinstance(arg, Value):
                    type_name, message = panic_value_text(self._values, arg)
            else:
                for i, f in enumerate(frames):
                    if f.function and f.function.name in ("runtime.throw", "runtime.fatal"):
                        s = evaluate("s", self._eval_scope(thread_id, i))
                        if isinstance(s, Value):
                            message = error_text(self._values, s)
                        break
        except (EvalError, DebuggerError, LookupError, OSError) as exc:
            message = f"(the message could not be read: {exc})"
        # the user's stack: from the frame that panicked or threw, runtime frames above it
        lines = []
        for f in frames:
            name = f.function.name if f.function else f"?{f.pc:#x}"
            lines.append(f"{name}()\n\t{f.file}:{f.line}")
        self._clear_stop_caches()
        return ExceptionInfo(exception_id=exception_id, description=message,
                             type_name=type_name, stack="\n".join(lines))

    # ----- running -----

    def resume(self) -> None:
        with self._lock:
            self._require_stopped()
            proc = self._proc
            assert proc is not None
            # Goroutines that hit a breakpoint at the same moment as the one reported are
            # reported one by one before the program runs again: no hit is lost.
            if self._pending_hits:
                self._clear_stop_caches()
                self._report_hit(self._pending_hits.pop(0))
                return
            self._clear_stop_caches()
            self._exceptions = {}
            self._state = "running"
            self._ex().call(proc.resume)
            self._submit_wait()

    def _wait_loop(self) -> None:
        """On the ptrace thread: wait for the running program's next reportable stop."""
        proc = self._proc
        if proc is None or self._state != "running":
            return
        while True:
            try:
                ev = proc.wait_event()
            except Exception:
                log.exception("wait loop failed")
                self._on_exit(-1)
                return
            if ev.kind == "exited":
                self._on_exit(ev.exit_code if ev.exit_code is not None else -1)
                return
            if ev.kind == "halt":
                ev = proc.stop_others(ev)
                if self._pause_requested:
                    self._pause_requested = False
                    self._internal_halt = False
                    self._report_stop("pause", ev.tid, ())
                    return
                if self._internal_halt:
                    return  # `_while_halted` work runs next, then resumes
                proc.resume()  # a late halt signal from an earlier request
                continue
            # Decide on the reporting thread alone first: a hit that must not stop (a false
            # condition, an internal breakpoint) lets that thread go on and no other thread
            # is disturbed.
            try:
                first = self._hits_of(StopEvent(
                    ev.kind, tid=ev.tid,
                    breakpoint_tids=(ev.tid,) if ev.kind == "breakpoint" else (),
                    trap_tids=(ev.tid,) if ev.kind == "trap" else ()))
            except Exception as exc:  # never leave the program stopped and unreported
                log.exception("deciding on a stop failed")
                first = [Hit(ev.tid, "breakpoint", (), f"dapgo internal error: {exc}")]
            if not first:
                proc.resume_thread(ev.tid)
                continue
            ev = proc.stop_others(ev)
            others = StopEvent(ev.kind, tid=ev.tid,
                               breakpoint_tids=tuple(t for t in ev.breakpoint_tids if t != ev.tid),
                               trap_tids=tuple(t for t in ev.trap_tids if t != ev.tid))
            hits = first + self._hits_of(others)
            self._pause_requested = False
            self._internal_halt = False
            self._pending_hits = hits[1:]
            self._report_hit(hits[0])
            return

    def _hits_of(self, ev: StopEvent) -> list[Hit]:
        """On the ptrace thread: which stopped threads must be reported to the user.
        Internal breakpoints run their handlers; conditions and hit counts are applied."""
        proc = self._proc
        assert proc is not None
        hits: list[Hit] = []
        for tid in ev.breakpoint_tids:
            pc = proc.get_pc(tid)
            handler = self._internal_bps.get(pc)
            if handler is not None:
                handler(tid)
            bps = [bp for bp in self._bps.at(pc) if self._should_stop(bp, tid)]
            exc = [bp for bp in bps if bp.kind == "exception"]
            if exc:
                info = self._read_exception(tid, exc[0].key)
                self._exceptions[self._thread_id_for_tid(tid)] = info
                hits.append(Hit(tid, "exception", tuple(b.id for b in bps),
                                 info.exception_id, info.description))
                continue
            if bps:
                reason: StopReason = (
                    "function breakpoint" if all(b.kind == "function" for b in bps)
                    else "exception" if any(b.kind == "exception" for b in bps)
                    else "breakpoint"
                )
                hits.append(Hit(tid, reason, tuple(b.id for b in bps)))
        if ev.trap_tids:
            self._drain_kernel()  # the uprobe wrote its record before signalling
        for tid in ev.trap_tids:
            hits.extend(self._trap_hits(tid) or
                        [Hit(tid, "breakpoint", (), "hardcoded breakpoint")])
        return hits

    def _trap_hits(self, tid: int) -> list[Hit]:
        """What a SIGTRAP on `tid` stands for: an in-kernel condition that held (its uprobe's
        record names it), or data breakpoints (DR6); empty when neither."""
        signalled = self._kernel_signals.pop(tid, None)
        kernel_bps = self._bps.by_ids(signalled) if signalled else []
        if kernel_bps:  # an in-kernel condition held: its uprobe stopped this thread
            for bp in kernel_bps:
                bp.hits += 1
            return [Hit(tid, "function breakpoint"
                        if all(b.kind == "function" for b in kernel_bps)
                        else "breakpoint", tuple(b.id for b in kernel_bps))]
        fired = self._watch.fired(tid) if self._watch.active else []
        if not fired:
            return []
        owners = set(s.owner for s in fired)
        ws = [w for w in self._watches if w.id in owners and self._should_stop(w, tid)]
        if not ws:
            return []
        return [Hit(tid, "data breakpoint", tuple(w.id for w in ws),
                    f"{ws[0].name} changed" if ws[0].access == "write"
                    else f"{ws[0].name} accessed")]

    def _hits_during_step(self, tid: int) -> list[Hit]:
        """A single step's SIGTRAP is also the one of a data breakpoint or an in-kernel
        condition on the same instruction (the kernel merges them): look for those."""
        if not self._watch.active and self._kernel_state is None:
            return []
        self._drain_kernel()
        return self._trap_hits(tid)

    def _should_stop(self, bp: Breakpoint | DataBreakpoint, tid: int) -> bool:
        """Count the hit and apply the breakpoint's condition and hit condition."""
        if bp.condition:
            try:
                holds = self._condition_holds(bp.condition, tid)
            except DebuggerError as exc:
                self._emit(Output("console", f"breakpoint {bp.id}: condition {bp.condition!r} "
                                             f"could not be evaluated, stopping: {exc}\n"))
                return True
            if not holds:
                return False
        bp.hits += 1
        if bp.hit_condition:
            try:
                if not parse_hit_condition(bp.hit_condition).matches(bp.hits):
                    return False
            except DebuggerError as exc:
                self._emit(Output("console", f"breakpoint {bp.id}: {exc}\n"))
                return True
        if isinstance(bp, Breakpoint) and bp.log_message is not None:
            self._log(bp, tid)
            return False  # a logpoint prints and never stops the program
        return True

    def _log(self, bp: Breakpoint, tid: int) -> None:
        """A logpoint hit on the ptrace path: evaluate its expressions in the hitting
        thread's innermost frame and print `[Go N] message` on the console."""
        assert bp.log_message is not None
        target = self._require_target()
        self._clear_stop_caches()
        thread_id = self._thread_id_for_tid(tid)
        regs = target.registers(tid)
        self._frames_cache[thread_id] = unwind(target, regs.pc, regs.sp, 1)
        self._tid_of_goroutine[thread_id] = tid

        def value_of(expr: str) -> str:
            try:
                return self._evaluate(expr, thread_id, 0).value
            except EvalError as exc:
                raise DebuggerError(str(exc)) from exc

        try:
            text = format_log_message(parse_log_message(bp.log_message), value_of)
        finally:
            self._clear_stop_caches()
        who = f"[Go {thread_id}]" if thread_id < OS_THREAD_ID_BASE else f"[Thread {tid}]"
        self._emit(Output("console", f"{who} {text}\n", path=bp.path, line=bp.line))

    def _condition_holds(self, condition: str, tid: int) -> bool:
        """Evaluate a breakpoint condition in the innermost frame of thread `tid` (on the
        ptrace thread, with at least that thread stopped)."""
        target = self._require_target()
        self._clear_stop_caches()  # state from the last stop is stale here
        thread_id = self._thread_id_for_tid(tid)
        regs = target.registers(tid)
        # only this thread is stopped: never look at the others
        self._frames_cache[thread_id] = unwind(target, regs.pc, regs.sp, 1)
        self._tid_of_goroutine[thread_id] = tid
        try:
            return is_true(condition, self._eval_scope(thread_id, 0))
        except EvalError as exc:
            raise DebuggerError(str(exc)) from exc
        finally:
            self._clear_stop_caches()

    def _report_hit(self, hit: Hit) -> None:
        self._report_stop(hit.reason, hit.tid, hit.bp_ids, description=hit.description,
                          text=hit.text)

    def _report_stop(
        self, reason: StopReason, tid: int, bp_ids: tuple[int, ...],
        description: str | None = None, text: str | None = None,
    ) -> None:
        self._state = "stopped"
        self._current_tid = tid
        self._clear_stop_caches()
        thread_id = self._thread_id_for_tid(tid)
        self._emit(Stopped(reason=reason, thread_id=thread_id, hit_breakpoint_ids=bp_ids,
                           description=description, text=text))

    def _on_exit(self, code: int) -> None:
        self._state = "exited"
        self._close_kernel()
        if self._pump is not None:
            self._pump.join(timeout=5)
        self._emit(Exited(exit_code=code))

    def step(self, thread_id: int, kind: StepKind, instruction: bool = False) -> None:
        """Step goroutine `thread_id` (over, in or out); returns once the step is under way.
        A Stopped event (reason "step", or whatever interrupted the step) follows."""
        with self._lock:
            target = self._require_stopped()
            tid = self._ex().call(self._tid_running, thread_id)
            if tid is None:
                raise DebuggerError(
                    f"goroutine {thread_id} is not running on a thread; continue instead"
                )
            assert self._proc is not None and self._goroutines is not None
            stepper = Stepper(
                self._proc, target, self._goroutines,
                classify=self._hits_of,
                pause_requested=lambda: self._pause_requested,
                after_step=self._hits_during_step,
                past_probe=self._past_probe,
            )
            self._pending_hits = []
            self._clear_stop_caches()
            self._exceptions = {}
            self._state = "running"
            # a step request implies only its own thread goes on (no allThreadsContinued in
            # its response), but every goroutine runs during the step: say so, as Delve does
            self._emit(Continued(thread_id=thread_id))
            self._ex().submit(lambda: self._step_job(stepper, tid, kind, instruction))

    def _tid_running(self, thread_id: int) -> int | None:
        target = self._require_target()
        if thread_id >= OS_THREAD_ID_BASE:
            tid = thread_id - OS_THREAD_ID_BASE
            return tid if tid in target.proc.threads else None
        assert self._goroutines is not None
        for tid in target.thread_ids():
            g = self._goroutines.of_thread(tid)
            if g is not None and g.id == thread_id and target.g_of_thread(tid) == g.addr:
                return tid
        return None

    def _step_job(self, stepper: Stepper, tid: int, kind: StepKind, instruction: bool) -> None:
        try:
            out = stepper.run(tid, kind, instruction)
        except (SteppingError, OSError) as exc:
            self._pause_requested = False
            self._report_stop("step", tid, (), description=f"step failed: {exc}")
            return
        self._pause_requested = False
        self._internal_halt = False
        if out.kind == "exited":
            self._on_exit(out.exit_code if out.exit_code is not None else -1)
        elif out.kind == "breakpoint":
            hits = [h for h in out.hits if isinstance(h, Hit)]
            self._pending_hits = hits[1:]
            self._report_hit(hits[0])
        elif out.kind == "pause":
            self._report_stop("pause", out.tid, ())
        else:
            self._report_stop("step", out.tid, ())

    def pause(self) -> None:
        with self._lock:
            self._require_target()
            if self._state != "running":
                return
            assert self._proc is not None
            self._pause_requested = True  # also seen between single steps
            self._proc.request_halt()

    # ----- ending -----

    def terminate(self) -> None:
        """Kill the program; an Exited event follows."""
        with self._lock:
            if self._proc is None or self._state in ("idle", "exited"):
                return
            if self._state == "running":
                with contextlib.suppress(ProcessLookupError):  # it may have just exited
                    os.kill(self._proc.pid, signal.SIGKILL)  # the wait loop reports the exit
                return
            code = self._ex().call(self._proc.kill)
            self._on_exit(code)

    def disconnect(self, terminate: bool) -> None:
        """End debugging: kill the program (`terminate`) or detach and let it run on."""
        with self._lock:
            proc = self._proc
            if self._state == "launching":
                self._state = "exited"  # the launch in progress sees this and gives up
                if self._build_proc is not None:
                    gobuild.cancel_build(self._build_proc)  # a go build in progress
            try:
                if proc is not None and self._state in ("stopped", "running"):
                    if terminate:
                        if self._state == "running":
                            with contextlib.suppress(ProcessLookupError):  # just exited
                                os.kill(proc.pid, signal.SIGKILL)
                        self._ex().call(proc.kill)
                    else:
                        if self._state == "running":
                            self._internal_halt = True
                            proc.request_halt()
                        self._ex().call(proc.detach)
                    self._state = "exited"
            finally:
                self._cleanup()

    def _cleanup(self) -> None:
        self._close_kernel()
        if self._pump is not None:
            self._pump.join(timeout=2)
            self._pump.close()
            self._pump = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        self._proc = None
        self._target = None

