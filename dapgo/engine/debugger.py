"""The engine facade: the one module that combines the backends into a debugger.

It owns the debug session's state machine (nothing -> stopped <-> running -> exited), runs
the wait loop on the ptrace thread while the program runs, and reports what happens as
`EngineEvent`s through the `on_event` callback (called from engine threads). Every method is
blocking and safe to call from any thread; callers in asyncio use `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

import attrs

from dapgo.engine import build as gobuild
from dapgo.engine.breakpoints import Breakpoint, BreakpointTable
from dapgo.engine.dwarf import AddrLoc, BinaryInfo, GoType, TypeRef, VarInfo
from dapgo.engine.errors import DebuggerError, NotStoppedError, ProcessError, ProgramNotFoundError
from dapgo.engine.eval import Const, EvalError, FrameScope, evaluate, is_true, result_text
from dapgo.engine.eval.assign import assign, find_child
from dapgo.engine.goroutines import (
    COMMAND_HELP,
    Goroutine,
    GoroutineCommand,
    GoroutineReader,
    GoroutineSet,
    GoroutineView,
    parse_command,
)
from dapgo.engine.hitcount import parse_hit_condition
from dapgo.engine.hwbreak import (
    NUM_SLOTS,
    AccessType,
    DebugRegisterSet,
    WatchpointError,
    allocate,
)
from dapgo.engine.logmessage import format_log_message, parse_log_message
from dapgo.engine.model import (
    BreakpointChanged,
    BreakpointStatus,
    DataBreakpointInfo,
    DataBreakpointSpec,
    EngineEvent,
    ExceptionInfo,
    Exited,
    FrameInfo,
    FunctionBreakpointSpec,
    LaunchConfig,
    Output,
    ScopeInfo,
    SourceBreakpointSpec,
    Stopped,
    StopReason,
    ThreadInfo,
    VariableInfo,
)
from dapgo.engine.output import OutputPump
from dapgo.engine.panics import error_text, panic_value_text
from dapgo.engine.ptrace.executor import PtraceExecutor
from dapgo.engine.ptrace.process import PtraceFailure, StopEvent, TracedProcess
from dapgo.engine.stack import MAX_FRAMES, Frame, unwind
from dapgo.engine.stepping import StepKind, Stepper, SteppingError
from dapgo.engine.target import Registers, Target
from dapgo.engine.values import (
    MAX_ARRAY_VALUES,
    MAX_STRING_LEN,
    UnreadableError,
    Value,
    ValueReader,
    ValueRef,
)
from dapgo.engine.watchpoints import DataBreakpoint, WatchTarget, decode_data_id

if TYPE_CHECKING:  # the eBPF backend is imported on first use: bcc is slow to import
    from dapgo.engine.bpf.logpoints import BpfLogpoints, LogEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
State = Literal["idle", "launching", "stopped", "running", "exited"]

# OS threads with no goroutine (before the runtime starts) are shown with ids above this.
OS_THREAD_ID_BASE = 1 << 30
FUNCTION_GROUP = "<function>"
EXCEPTION_GROUP = "<exception>"
# exception filter id -> (runtime functions the program reaches, exception id, label).
# Fatal errors stop where their message is still an argument (runtime.fatalthrow comes
# later, when `s` may already be optimized out of the runtime's frames).
EXCEPTION_FILTERS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "panic": (("runtime.fatalpanic",), "panic", "Unrecovered panics"),
    "fatal": (("runtime.throw", "runtime.fatal"), "fatal error", "Fatal runtime errors"),
}
DEFAULT_EXCEPTION_FILTERS = ("panic", "fatal")


@attrs.frozen
class _Hit:
    """A stopped thread to report: why, and which breakpoints."""

    tid: int
    reason: StopReason
    bp_ids: tuple[int, ...] = ()
    description: str | None = None
    text: str | None = None


@attrs.frozen
class _ScopeRef:
    thread_id: int
    frame_index: int
    args: bool


@attrs.frozen
class _GlobalsRef:
    package: str


@attrs.frozen
class _RegistersRef:
    thread_id: int
    frame_index: int


def package_of(function: str) -> str:
    """The package path of a Go function name: "net/http.(*Client).Do" -> "net/http"."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    return function[:dot] if dot > 0 else function


class Debugger:
    def __init__(self, on_event: Callable[[EngineEvent], None]) -> None:
        self._emit = on_event
        self._lock = threading.RLock()
        self._state: State = "idle"
        self._executor: PtraceExecutor | None = None
        self._proc: TracedProcess | None = None
        self._target: Target | None = None
        self._binary: BinaryInfo | None = None
        self._goroutines: GoroutineReader | None = None
        self._values: ValueReader | None = None
        self._value_limits = (MAX_STRING_LEN, MAX_ARRAY_VALUES)
        self._bps = BreakpointTable()
        self._stop_on_entry = False
        self._build_proc: subprocess.Popen[str] | None = None  # a go build in progress
        self._tmpdir: str | None = None
        self._pump: OutputPump | None = None
        self._pause_requested = False
        self._internal_halt = False
        self._pending_hits: list[_Hit] = []  # simultaneous hits not yet reported
        # internal breakpoints: address -> handler(tid), run on the ptrace thread, no stop
        self._internal_bps: dict[int, Callable[[int], None]] = {}
        self._watch = DebugRegisterSet(self._peek_user, self._poke_user)
        self._watches: list[DataBreakpoint] = []
        self._exceptions: dict[int, ExceptionInfo] = {}  # by goroutine, for this stop
        # eBPF: made on first use; a string says why it is unavailable
        self._kernel_state: BpfLogpoints | str | None = None
        self._kernel_lock = threading.Lock()
        self._kernel_poller: threading.Thread | None = None
        self._kernel_poller_stop = threading.Event()
        self._kernel_signals: dict[int, list[int]] = {}  # tid -> ids of conditions that held
        self._current_tid: int | None = None  # OS thread of the last stop
        # caches valid for one stop
        self._threads_cache: list[ThreadInfo] = []
        self._frames_cache: dict[int, list[Frame]] = {}
        self._tid_of_goroutine: dict[int, int] = {}
        self._g_by_id: dict[int, Goroutine] | None = None

    # ----- properties -----

    @property
    def is_running(self) -> bool:
        return self._state == "running"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _peek_user(self, tid: int, offset: int) -> int:
        assert self._proc is not None
        return self._proc.peek_user(tid, offset)

    def _poke_user(self, tid: int, offset: int, value: int) -> None:
        assert self._proc is not None
        self._proc.poke_user(tid, offset, value)

    def _set_build_proc(self, proc: subprocess.Popen[str], tmpdir: str | None) -> None:
        """The go build is running: a disconnect now cancels it and removes `tmpdir`."""
        with self._lock:
            self._build_proc = proc
            self._tmpdir = tmpdir
            cancelled = self._state != "launching"  # disconnected just before it started
        if cancelled:
            gobuild.cancel_build(proc)

    def _ex(self) -> PtraceExecutor:
        if self._executor is None:
            self._executor = PtraceExecutor()
        return self._executor

    def _require_target(self) -> Target:
        if self._target is None or self._state in ("idle", "launching", "exited"):
            raise DebuggerError("no program is being debugged")
        return self._target

    def _require_stopped(self) -> Target:
        target = self._require_target()
        if self._state != "stopped":
            raise NotStoppedError("the program is running; pause it first")
        return target

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

    def _sync_breakpoints(self) -> None:
        """Make the int3 bytes in the program match the breakpoint table."""
        proc = self._proc
        if proc is None or self._state in ("idle", "exited"):
            return
        wanted = self._bps.wanted_addresses() | set(self._internal_bps)

        def apply() -> list[int]:
            failed = []
            for addr in set(proc.breakpoints) - wanted:
                proc.remove_breakpoint(addr)
            for addr in wanted - set(proc.breakpoints):
                try:
                    proc.insert_breakpoint(addr)
                except OSError:
                    failed.append(addr)
            return failed

        failed = self._while_halted(apply)
        for bp in self._bps.all():
            bad = [a for a in bp.addresses if a in failed]
            if bad:
                bp.addresses = [a for a in bp.addresses if a not in failed]
                bp.message = f"cannot write a breakpoint at {bad[0]:#x}"
                self._emit(BreakpointChanged(bp.status()))

    def _while_halted(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the ptrace thread with the program stopped; a running program is
        halted for it and resumed after, without the user seeing a stop."""
        ex = self._ex()
        if self._state != "running":
            return ex.call(fn)
        assert self._proc is not None
        self._internal_halt = True
        self._proc.request_halt()

        def work() -> T:
            # queued behind the wait loop: runs once the program has stopped
            try:
                return fn()
            finally:
                if self._state == "running" and self._proc is not None:
                    self._internal_halt = False
                    self._proc.resume()
                    self._submit_wait()

        return ex.call(work)

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

    def _submit_wait(self) -> None:
        # queued, not awaited: the ptrace thread runs the loop until the next stop, while
        # requests queued behind it (after a halt) wait their turn
        self._ex().submit(self._wait_loop)

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
                first = [_Hit(ev.tid, "breakpoint", (), f"dapgo internal error: {exc}")]
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

    def _hits_of(self, ev: StopEvent) -> list[_Hit]:
        """On the ptrace thread: which stopped threads must be reported to the user.
        Internal breakpoints run their handlers; conditions and hit counts are applied."""
        proc = self._proc
        assert proc is not None
        hits: list[_Hit] = []
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
                hits.append(_Hit(tid, "exception", tuple(b.id for b in bps),
                                 info.exception_id, info.description))
                continue
            if bps:
                reason: StopReason = (
                    "function breakpoint" if all(b.kind == "function" for b in bps)
                    else "exception" if any(b.kind == "exception" for b in bps)
                    else "breakpoint"
                )
                hits.append(_Hit(tid, reason, tuple(b.id for b in bps)))
        if ev.trap_tids:
            self._drain_kernel()  # the uprobe wrote its record before signalling
        for tid in ev.trap_tids:
            kernel_bps = self._bps.by_ids(self._kernel_signals.pop(tid, ()))
            if kernel_bps:  # an in-kernel condition held: its uprobe stopped this thread
                for bp in kernel_bps:
                    bp.hits += 1
                hits.append(_Hit(tid, "function breakpoint"
                                 if all(b.kind == "function" for b in kernel_bps)
                                 else "breakpoint", tuple(b.id for b in kernel_bps)))
                continue
            fired = self._watch.fired(tid) if self._watch.active else []
            if fired:
                owners = set(s.owner for s in fired)
                ws = [w for w in self._watches if w.id in owners and self._should_stop(w, tid)]
                if ws:
                    hits.append(_Hit(tid, "data breakpoint", tuple(w.id for w in ws),
                                     f"{ws[0].name} changed" if ws[0].access == "write"
                                     else f"{ws[0].name} accessed"))
            else:
                hits.append(_Hit(tid, "breakpoint", (), "hardcoded breakpoint"))
        return hits

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

    def _report_hit(self, hit: _Hit) -> None:
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
            )
            self._pending_hits = []
            self._clear_stop_caches()
            self._exceptions = {}
            self._state = "running"
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
            hits = [h for h in out.hits if isinstance(h, _Hit)]
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

    # ----- threads and stacks -----

    def _clear_stop_caches(self) -> None:
        self._tid_of_goroutine = {}
        self._threads_cache = []
        self._frames_cache = {}
        self._g_by_id = None

    def _goroutine_map(self) -> dict[int, Goroutine]:
        return self._goroutine_set().by_id

    def _thread_id_for_tid(self, tid: int) -> int:
        """The DAP thread id for an OS thread: its goroutine's id, else a pseudo id."""
        assert self._goroutines is not None
        try:
            g = self._goroutines.of_thread(tid)
        except (OSError, DebuggerError, KeyError):
            g = None
        if g is not None and g.id:
            return g.id
        return OS_THREAD_ID_BASE + tid

    def threads(self) -> list[ThreadInfo]:
        """Goroutines as threads, filtered and capped as `set_goroutine_options` says (how
        many were left out: `last_threads_omitted`). While the program runs: the last
        answer, or the program is halted briefly. Never raises."""
        with self._lock:
            view = self._goroutine_view()
            try:
                if self._state == "running":
                    if view.last is not None:
                        return list(view.last)
                    out = self._while_halted(self._list_threads)
                    self._g_by_id = None  # read during a brief halt: not this stop's
                    return out
                if self._state != "stopped":
                    return list(self._threads_cache)
                if not self._threads_cache:
                    self._threads_cache = self._ex().call(self._list_threads)
                return list(self._threads_cache)
            except Exception:
                log.exception("listing goroutines failed")
                return list(view.last or [])

    def _list_threads(self) -> list[ThreadInfo]:
        assert self._target is not None
        gs = self._goroutine_set()
        view = self._goroutine_view()
        if not gs.goroutines:  # the runtime has not started: show the OS threads themselves
            view.matched = view.omitted = 0
            out = [ThreadInfo(id=OS_THREAD_ID_BASE + tid, name=f"[Thread {tid}]")
                   for tid in self._target.thread_ids()]
        else:
            selected = self._selected_goroutine()
            out = [ThreadInfo(id=g.id, name=view.thread_name(gs, g, g.id == selected))
                   for g in view.choose(gs, selected)]
        view.last = out
        return out

    def _goroutine_view(self) -> GoroutineView:
        """The goroutine display settings (created on first use)."""
        view: GoroutineView | None = getattr(self, "_gview", None)
        if view is None:
            view = self._gview = GoroutineView()
        return view

    def _goroutine_set(self) -> GoroutineSet:
        """Every goroutine of this stop, read once (batched) until the program runs again."""
        assert self._goroutines is not None
        gs = self._goroutines.current
        if self._g_by_id is None or gs is None or gs.by_id is not self._g_by_id:
            gs = self._goroutines.snapshot()
            self._g_by_id = gs.by_id
        return gs

    def _selected_goroutine(self) -> int | None:
        """The goroutine of the last stop (the one marked `*`)."""
        if self._current_tid is None:
            return None
        gid = self._thread_id_for_tid(self._current_tid)
        return gid if gid < OS_THREAD_ID_BASE else None

    def set_goroutine_options(
        self, show_labels: list[str], hide_system: bool, filters: str, max_goroutines: int
    ) -> None:
        """`showPprofLabels` (keys, or ["*"]), `hideSystemGoroutines`, `goroutineFilters`
        (Delve syntax) and `maxGoroutines`. Raises DebuggerError (FilterError) on a filter
        that does not parse or a bad maximum, keeping the previous settings."""
        with self._lock:
            self._goroutine_view().set(show_labels, hide_system, filters, max_goroutines)
            self._goroutine_view().last = None
            self._threads_cache = []

    @property
    def last_threads_omitted(self) -> int:
        """Goroutines that matched the filters but were left out of the last `threads`
        answer by maxGoroutines (0: none)."""
        return self._goroutine_view().omitted

    def threads_omitted_message(self) -> str:
        """Console text for the last `threads` answer when goroutines were left out."""
        return self._goroutine_view().omitted_message()

    @property
    def goroutine_view_changed(self) -> bool:
        """True when the last `goroutine_command` changed what `threads` shows (send an
        `invalidated` event with areas ["threads"])."""
        return self._goroutine_view().changed

    def goroutine_command(self, args: str) -> str:
        """The `dapgo goroutines ...` REPL command (`args`: the text after `dapgo
        goroutines`); returns the text to print. Raises DebuggerError on bad arguments."""
        with self._lock:
            view = self._goroutine_view()
            view.changed = False
            cmd = parse_command(args)
            if cmd.help:
                return COMMAND_HELP
            if cmd.sets_view:
                view.apply_command(cmd)
                view.last = None
                self._threads_cache = []
            if self._state not in ("stopped", "running"):
                return view.describe() + "\n(no program is stopped: nothing to count)\n"
            if self._state == "running":
                return self._while_halted(lambda: self._goroutine_report(cmd))
            return self._ex().call(self._goroutine_report, cmd)

    def _goroutine_report(self, cmd: GoroutineCommand) -> str:
        gs = self._goroutine_set()
        view = self._goroutine_view()
        text = ""
        if cmd.sets_view:
            text = "goroutine view changed: " + view.describe() + "\n"
        return text + view.report(gs, cmd, self._selected_goroutine())

    def _user_function(self, g: Goroutine) -> str:
        """Name of the innermost non-runtime function of a goroutine (its user location)."""
        return self._goroutine_set().user_location(g).function or "?"

    def _frames_for(self, thread_id: int, limit: int = MAX_FRAMES) -> list[Frame]:
        cached = self._frames_cache.get(thread_id)
        if cached is not None:
            return cached
        target = self._require_target()
        pc, sp = self._registers_for(thread_id)
        frames = unwind(target, pc, sp, limit)
        if limit >= MAX_FRAMES:
            self._frames_cache[thread_id] = frames
        return frames

    def _registers_for(self, thread_id: int) -> tuple[int, int]:
        target = self._require_target()
        if thread_id >= OS_THREAD_ID_BASE:
            tid = thread_id - OS_THREAD_ID_BASE
            if tid not in target.proc.threads:
                raise DebuggerError(f"unknown thread {thread_id}")
            regs = target.registers(tid)
            return regs.pc, regs.sp
        g = self._goroutine_map().get(thread_id)
        if g is None:
            raise DebuggerError(f"unknown goroutine {thread_id}")
        assert self._goroutines is not None
        for tid in target.thread_ids():
            running = self._goroutines.of_thread(tid)
            if running is not None and running.id == g.id:
                regs = target.registers(tid)
                if target.g_of_thread(tid) == g.addr:  # not on the system stack
                    return regs.pc, regs.sp
        return g.pc, g.sp

    def stack_trace(self, thread_id: int, start: int, levels: int) -> tuple[list[FrameInfo], int]:
        with self._lock:
            self._require_stopped()
            frames = self._ex().call(self._frames_for, thread_id)
            end = len(frames) if levels <= 0 else min(len(frames), start + levels)
            out = [
                FrameInfo(
                    function=f.function.name if f.function else f"?{f.pc:#x}",
                    path=f.file, line=f.line, pc=f.pc,
                )
                for f in frames[start:end]
            ]
            return out, len(frames)

    def scopes(
        self, thread_id: int, frame_index: int, show_globals: bool = False
    ) -> list[ScopeInfo]:
        """Arguments and Locals; the frame's package variables when `show_globals`
        (showGlobalVariables); Registers, marked expensive."""
        with self._lock:
            self._require_stopped()
            frames = self._ex().call(self._frames_for, thread_id)
            if not 0 <= frame_index < len(frames):
                raise DebuggerError(f"no frame {frame_index} on goroutine {thread_id}")
            out = [
                ScopeInfo("Arguments", _ScopeRef(thread_id, frame_index, True),
                          presentation_hint="arguments"),
                ScopeInfo("Locals", _ScopeRef(thread_id, frame_index, False),
                          presentation_hint="locals"),
            ]
            fn = frames[frame_index].function
            if show_globals and fn is not None:
                pkg = package_of(fn.name)
                out.append(ScopeInfo(f"Globals ({pkg})", _GlobalsRef(pkg), expensive=True))
            out.append(ScopeInfo("Registers", _RegistersRef(thread_id, frame_index),
                                 expensive=True, presentation_hint="registers"))
            return out

    def variables(
        self, handle: object, start: int | None = None, count: int | None = None
    ) -> list[VariableInfo]:
        with self._lock:
            self._require_stopped()
            values = self._values
            assert values is not None
            if isinstance(handle, _ScopeRef):
                return self._ex().call(self._scope_variables, handle)
            if isinstance(handle, _GlobalsRef):
                return self._ex().call(self._global_variables, handle.package)
            if isinstance(handle, _RegistersRef):
                return self._ex().call(self._register_variables, handle)
            if isinstance(handle, ValueRef):
                return self._ex().call(values.children, handle, start, count)
            raise DebuggerError("unknown variables reference")

    def _global_variables(self, package: str) -> list[VariableInfo]:
        assert self._binary is not None and self._values is not None
        out = []
        for v in self._binary.package_variables(package):
            assert isinstance(v.location, AddrLoc)
            short = v.name[len(package) + 1 :]
            try:
                out.append(self._values.variable(short, v.type, v.location.addr))
            except OSError:
                out.append(self._values.unreadable(short, v.type, "unreadable memory"))
        return out

    def _register_variables(self, ref: _RegistersRef) -> list[VariableInfo]:
        """Frame 0 of a goroutine on a thread: every register; otherwise what unwinding
        knows (pc, sp, and the frame's CFA)."""
        frame = self._frames_for(ref.thread_id)[ref.frame_index]
        regs = self._frame0_registers(ref.thread_id) if ref.frame_index == 0 else None
        if regs is not None:
            return [VariableInfo(name, f"{value:#x}", "uint64")
                    for name, value in regs.values.items()]
        known = {"pc": frame.pc, "sp": frame.sp}
        if frame.cfa is not None:
            known["cfa"] = frame.cfa
        return [VariableInfo(name, f"{value:#x}", "uint64") for name, value in known.items()]

    def _scope_variables(self, ref: _ScopeRef) -> list[VariableInfo]:
        assert self._values is not None
        return [
            self._values.unreadable(shown, v.type, value) if isinstance(value, str)
            else self._values.info(shown, value)
            for shown, v, value in self._scope_values(ref)
        ]

    def _frame_vars(self, ref: _ScopeRef) -> list[tuple[str, VarInfo]]:
        """The scope's variables in scope at the frame's pc, with display names that tell
        shadowed variables apart as Delve does: the visible (innermost) one is `x`, the
        ones it hides are `(x)`, `((x))`... DWARF lists outer blocks before inner ones."""
        assert self._binary is not None
        frame = self._frames_for(ref.thread_id)[ref.frame_index]
        if frame.function is None:
            return []
        pc = frame.pc if ref.frame_index == 0 else frame.pc - 1
        found = [
            v for v in self._binary.frame_variables(frame.function, pc)
            if v.is_arg == ref.args
            # declared further down: not in scope yet (as Delve does)
            and (v.is_arg or not v.decl_line or not frame.line or v.decl_line <= frame.line)
        ]
        total = Counter(v.name for v in found)
        seen: Counter[str] = Counter()
        out = []
        for v in found:
            seen[v.name] += 1
            hidden_by = total[v.name] - seen[v.name]  # inner declarations after this one
            out.append(("(" * hidden_by + v.name + ")" * hidden_by, v))
        return out

    def _frame0_registers(self, thread_id: int) -> Registers | None:
        """Registers of the thread running goroutine `thread_id` (None when parked)."""
        target = self._require_target()
        if thread_id >= OS_THREAD_ID_BASE:
            return target.registers(thread_id - OS_THREAD_ID_BASE)
        if thread_id in self._tid_of_goroutine:
            return target.registers(self._tid_of_goroutine[thread_id])
        assert self._goroutines is not None
        for tid in target.thread_ids():
            g = self._goroutines.of_thread(tid)
            if g is not None and g.id == thread_id:
                return target.registers(tid)
        return None

    # ----- breakpoints in the kernel (eBPF logpoints and conditions) -----

    def _place(self, dropped: list[Breakpoint]) -> None:
        """Decide, for every breakpoint, between a uprobe in the kernel and an int3, then
        make the program match.

        A logpoint or a breakpoint with a condition / hit condition goes to the kernel when
        eBPF is available, every expression can be read there, and no other breakpoint uses
        the same address (an address carries either one uprobe or int3s); otherwise it is
        an int3 (the program stops briefly on each hit) and the console says why."""
        for bp in dropped:
            if bp.in_kernel:
                self._kernel_remove(bp)
        if self._proc is None or self._state not in ("stopped", "running"):
            return
        everything = self._bps.all()
        users = Counter(a for bp in everything for a in bp.addresses)
        joining: list[Breakpoint] = []
        for bp in everything:
            wants = bool(bp.addresses) and (bp.log_message is not None or bool(bp.condition)
                                            or bool(bp.hit_condition))
            spec = (tuple(bp.addresses), bp.log_message, bp.condition, bp.hit_condition)
            if wants and any(users[a] > 1 for a in bp.addresses):
                if bp.in_kernel:
                    self._kernel_remove(bp)
                if bp.kernel_spec != ("shared", *spec):
                    self._say_ptrace(bp, "another breakpoint is at the same address")
                bp.kernel_spec = ("shared", *spec)
                continue
            if not wants:
                if bp.in_kernel:
                    self._kernel_remove(bp)
                bp.kernel_spec = ()
                continue
            if bp.in_kernel and bp.kernel_spec == spec:
                continue  # unchanged
            if bp.in_kernel:
                self._kernel_remove(bp)
            bp.kernel_spec = spec
            bp.in_kernel = True  # tentatively: its int3s go before the uprobe comes
            joining.append(bp)
        self._sync_breakpoints()
        failed = False
        for bp in joining:
            why = self._kernel_add(bp)
            if why is not None:
                bp.in_kernel = False
                failed = True
                self._say_ptrace(bp, why)
        if failed:
            self._sync_breakpoints()

    def _say_ptrace(self, bp: Breakpoint, why: str) -> None:
        what = "logpoint" if bp.log_message is not None else "condition"
        where = f"{bp.path}:{bp.line}" if bp.path else bp.key
        self._emit(Output("console", f"dapgo: the {what} at {where} is evaluated with ptrace "
                                     f"(the program stops briefly on every hit): {why}\n"))

    def _kernel_add(self, bp: Breakpoint) -> str | None:
        """Attach `bp` as a uprobe; the reason when it cannot be."""
        kernel = self._kernel()
        if isinstance(kernel, str):
            return kernel
        stop = bp.log_message is None
        try:
            with self._kernel_lock:
                res = kernel.add(bp.id, list(bp.addresses), message=bp.log_message,
                                 condition=bp.condition, hit_condition=bp.hit_condition,
                                 stop=stop)
        except Exception as exc:  # e.g. no uprobe_multi links in this kernel
            return f"the uprobe could not be attached ({exc})"
        if res.fallback is not None:
            return res.fallback
        self._start_kernel_poller()
        return None

    def _kernel_remove(self, bp: Breakpoint) -> None:
        if self._kernel_state is not None and not isinstance(self._kernel_state, str):
            with self._kernel_lock:
                self._kernel_state.remove(bp.id)
        bp.in_kernel = False

    def _kernel(self) -> BpfLogpoints | str:
        """The eBPF backend for this program, made on first use (bcc compiles the program:
        never on the way to the first stop); a string says why there is none."""
        if self._kernel_state is None:
            assert self._binary is not None and self._proc is not None
            try:
                from dapgo.engine.bpf.logpoints import BpfLogpoints

                self._kernel_state = BpfLogpoints(self._binary, self._proc.pid)
            except Exception as exc:  # no bcc, no BPF permission, no headers, old kernel
                self._kernel_state = f"eBPF is not available here ({exc}); see `dapgo doctor`"
        return self._kernel_state

    def _start_kernel_poller(self) -> None:
        if self._kernel_poller is not None:
            return
        self._kernel_poller_stop.clear()
        self._kernel_poller = threading.Thread(target=self._poll_kernel, daemon=True,
                                               name="dapgo-bpf-poll")
        self._kernel_poller.start()

    def _poll_kernel(self) -> None:
        """Deliver logpoint records as console output, in batches, until the program ends;
        records the kernel had to drop are counted and said, never lost silently."""
        lost_told = 0
        while not self._kernel_poller_stop.is_set():
            kernel = self._kernel_state
            if kernel is None or isinstance(kernel, str):
                return
            with self._kernel_lock:
                events = kernel.poll(0.05)
                lost = kernel.lost()
            self._emit_log_events(events)
            if lost > lost_told:
                self._emit(Output("important", f"dapgo: {lost - lost_told} logpoint records "
                                               "were lost (the kernel's ring buffer was full)\n"))
                lost_told = lost
            if not events:
                time.sleep(0.01)

    def _drain_kernel(self) -> None:
        kernel = self._kernel_state
        if kernel is not None and not isinstance(kernel, str):
            with self._kernel_lock:
                self._emit_log_events(kernel.poll(0))

    def _emit_log_events(self, events: list[LogEvent]) -> None:
        """One output event per logpoint per batch, one line per hit, in order; a record
        of a stopping condition says which thread its uprobe is about to stop."""
        lines: dict[int, list[str]] = {}
        for ev in events:
            if ev.message is None:
                self._kernel_signals.setdefault(ev.tid, []).append(ev.id)
                continue
            lines.setdefault(ev.id, []).append(f"[Go {ev.goroutine}] {ev.message}\n")
        by_id = {bp.id: bp for bp in self._bps.all()}
        for bp_id, texts in lines.items():
            bp = by_id.get(bp_id)
            self._emit(Output("console", "".join(texts), path=bp.path if bp else None,
                              line=bp.line if bp else None))

    def _close_kernel(self) -> None:
        """Remove every uprobe and the BPF program; deliver what is still in the buffer."""
        self._kernel_poller_stop.set()
        if self._kernel_poller is not None:
            self._kernel_poller.join(timeout=2)
            self._kernel_poller = None
        kernel = self._kernel_state
        self._kernel_state = None
        if kernel is not None and not isinstance(kernel, str):
            with self._kernel_lock:
                try:
                    self._emit_log_events(kernel.poll(0))
                    lost = kernel.lost()
                finally:
                    kernel.close()
            if lost:
                self._emit(Output("important", f"dapgo: {lost} logpoint records were lost in "
                                               "all (the kernel's ring buffer was full)\n"))

    # ----- data breakpoints (hardware watchpoints) -----

    def data_breakpoint_info(
        self, handle: object | None, name: str, thread_id: int | None, frame_index: int
    ) -> DataBreakpointInfo:
        """Can `name` (a child of `handle`, or an expression in a frame) be watched?"""
        with self._lock:
            self._require_stopped()
            try:
                target = self._ex().call(self._watch_target, handle, name, thread_id,
                                         frame_index)
            except (DebuggerError, UnreadableError) as exc:
                return DataBreakpointInfo(None, f"{name} cannot be watched: {exc}")
            except (KeyError, LookupError, OSError) as exc:
                return DataBreakpointInfo(None, f"{name} cannot be watched: {exc!r}")
            where = f"on the stack of goroutine {target.goid}" if target.goid else "in memory"
            return DataBreakpointInfo(
                target.encode(),
                f"{name} ({target.type_name}, {target.size} bytes {where}): the CPU traps "
                "writes (write) or any access (readWrite); x86 has no read-only trap",
                ("write", "readWrite"),
            )

    def _watch_target(
        self, handle: object | None, name: str, thread_id: int | None, frame_index: int
    ) -> WatchTarget:
        assert self._binary is not None and self._values is not None
        if isinstance(handle, _ScopeRef):
            thread_id, frame_index = handle.thread_id, handle.frame_index
            found = [v for shown, v in self._frame_vars(handle) if shown == name]
            if not found:
                raise DebuggerError(f"no variable {name} in this scope")
            var = found[0]
            if var.location is None:
                raise DebuggerError("optimized out")
            frame = self._frames_for(thread_id)[frame_index]
            where = self._values.address_of(var.location, frame.cfa, None)
            if not isinstance(where, int):
                raise DebuggerError("it lives in registers, not in memory")
            return self._watch_on(name, where, var.type, thread_id, frame_index)
        if isinstance(handle, ValueRef):
            try:
                child = find_child(self._values, handle, name)
            except EvalError as exc:
                raise DebuggerError(str(exc)) from exc
            if not child.addr:
                raise DebuggerError("it is not in memory")
            return self._watch_on(name, child.addr, child.type, None, 0)
        if handle is not None:
            raise DebuggerError("unknown variables reference")
        if thread_id is not None:  # a plain name in the frame: a local or an argument
            for args in (False, True):
                scope = _ScopeRef(thread_id, frame_index, args)
                if any(shown == name for shown, _ in self._frame_vars(scope)):
                    return self._watch_target(scope, name, None, 0)
        # any addressable Go expression: main.hits, p.count, s[3], *p, m.field.sub
        try:
            value = evaluate(name, self._eval_scope(thread_id, frame_index))
        except EvalError as exc:
            raise DebuggerError(str(exc)) from exc
        if isinstance(value, Const) or not value.addr:
            raise DebuggerError("it is not a value in memory (a constant or a computed value)")
        return self._watch_on(name, value.addr, value.type, thread_id, frame_index)

    def _watch_on(
        self, name: str, addr: int, tref: TypeRef | GoType, thread_id: int | None,
        frame_index: int,
    ) -> WatchTarget:
        """A watch on [addr, addr+size); stack addresses are tied to their frame."""
        assert self._binary is not None
        t = tref if isinstance(tref, GoType) else self._binary.type_info(tref)
        if t.kind in ("ptr", "unsafe.Pointer", "map", "chan", "func") and t.size == 0:
            t = attrs.evolve(t, size=8)  # Go's DWARF gives pointer types no byte size
        if t.size == 0:
            raise DebuggerError("a zero-size value cannot be watched")
        if t.size > 8 * NUM_SLOTS:
            raise DebuggerError(f"it is {t.size} bytes; the debug registers cover at most "
                                f"{8 * NUM_SLOTS}")
        for g in self._goroutine_map().values():
            lo = self._stack_lo(g)
            if lo <= addr < g.stack_hi:
                ret = depth = None
                frames = self._frames_for(g.id)
                # the frame owning the address: the innermost whose CFA is above it
                for i, f in enumerate(frames):
                    if f.cfa is not None and addr < f.cfa and i + 1 < len(frames):
                        ret, depth = frames[i + 1].pc, g.stack_hi - f.cfa
                        break
                return WatchTarget(name, addr, t.size, t.name, g.id, g.stack_hi - addr,
                                   ret, depth)
        return WatchTarget(name, addr, t.size, t.name)

    def _stack_lo(self, g: Goroutine) -> int:
        assert self._binary is not None and self._target is not None
        layout = self._binary.struct_layout("runtime.g")
        assert layout is not None
        return self._target.u64(g.addr + layout.offset("stack.lo"))

    def set_data_breakpoints(self, specs: list[DataBreakpointSpec]) -> list[BreakpointStatus]:
        """Replace every data breakpoint; those that do not fit in the four debug registers
        are answered unverified, saying why."""
        with self._lock:
            self._require_target()
            old = {w.data_id: w for w in self._watches}
            watches: list[DataBreakpoint] = []
            statuses: list[BreakpointStatus] = []
            for spec in specs:
                try:
                    wt = decode_data_id(spec.data_id)
                    if spec.access_type not in ("write", "readWrite"):
                        raise DebuggerError(
                            f"access type {spec.access_type!r} is not supported: x86 debug "
                            "registers trap writes or any access (use write or readWrite)")
                    access: AccessType = "write" if spec.access_type == "write" else "readWrite"
                    prev = old.get(spec.data_id)
                    w = DataBreakpoint(
                        id=prev.id if prev else self._bps.new_id(), data_id=spec.data_id,
                        name=wt.name, addr=wt.addr, size=wt.size, access=access,
                        condition=spec.condition, hit_condition=spec.hit_condition,
                        hits=prev.hits if prev else 0, goid=wt.goid,
                        stack_offset=wt.stack_offset, frame_return=wt.frame_return,
                        frame_depth=wt.frame_depth,
                    )
                    if prev is not None and prev.on_stack:
                        w.addr = prev.addr  # it may have moved with its stack meanwhile
                    allocate([(x.id, x.addr, x.size, x.access) for x in [*watches, w]])
                except (DebuggerError, WatchpointError) as exc:
                    statuses.append(BreakpointStatus(id=self._bps.new_id(), verified=False,
                                                     message=str(exc)))
                    continue
                watches.append(w)
                statuses.append(BreakpointStatus(id=w.id, verified=True))
            self._watches = watches
            self._while_halted(self._program_watches)
            return statuses

    def _program_watches(self) -> None:
        """On the ptrace thread, program stopped: debug registers and scope breakpoints."""
        proc = self._proc
        assert proc is not None
        proc.stop_all()  # debug registers can only be written on stopped threads
        self._watch.slots = allocate([(w.id, w.addr, w.size, w.access) for w in self._watches])
        for tid in list(proc.threads):
            self._watch.apply(tid)
        proc.on_new_thread = self._watch.apply if self._watch.active else None
        proc.before_detach = self._clear_debug_registers
        # internal breakpoints: where stack watches end, and where stacks move
        for addr in [a for a, h in self._internal_bps.items() if h == self._on_scope_end]:
            self._remove_internal_bp(addr)
        for w in self._watches:
            if w.frame_return is not None:
                self._add_internal_bp(w.frame_return, self._on_scope_end)
        copy_fn = self._binary.function("runtime.copystack") if self._binary else None
        if copy_fn is not None:
            if any(w.on_stack for w in self._watches):
                self._add_internal_bp(copy_fn.entry, self._on_copystack)
            else:
                self._remove_internal_bp(copy_fn.entry)

    def _add_internal_bp(self, addr: int, handler: Callable[[int], None]) -> None:
        assert self._proc is not None
        self._internal_bps[addr] = handler
        self._proc.insert_breakpoint(addr)

    def _remove_internal_bp(self, addr: int) -> None:
        assert self._proc is not None
        self._internal_bps.pop(addr, None)
        if addr not in self._bps.wanted_addresses():
            self._proc.remove_breakpoint(addr)

    def _clear_debug_registers(self, tid: int) -> None:
        """Before detaching: DR7 zero on the thread, read back to be sure."""
        self._watch.slots = [None] * NUM_SLOTS
        self._watch.apply(tid)
        if self._watch.dr7(tid) != 0:
            raise ProcessError(f"could not clear the debug registers of thread {tid}")

    def _on_scope_end(self, tid: int) -> None:
        """A watched local's frame returned on its goroutine: the watch ends."""
        assert self._proc is not None and self._goroutines is not None
        pc = self._proc.get_pc(tid)
        g = self._goroutines.of_thread(tid)
        if g is None:
            return
        sp = self._proc.get_regs(tid).rsp
        ended = [w for w in self._watches if w.frame_return == pc and w.goid == g.id
                 and w.frame_depth == g.stack_hi - sp]
        if not ended:
            return
        self._watches = [w for w in self._watches if w not in ended]
        self._program_watches()
        for w in ended:
            self._emit(Output("console", f"data breakpoint on {w.name} removed: the function "
                                         "owning it returned\n"))
            self._emit(BreakpointChanged(BreakpointStatus(
                id=w.id, verified=False, message=f"{w.name} went out of scope")))

    def _on_copystack(self, tid: int) -> None:
        """runtime.copystack(gp, newsize) entry: follow the watched stack when it moves."""
        assert self._proc is not None and self._goroutines is not None
        regs = self._proc.get_regs(tid)
        gp = int(regs.rax)  # first argument under Go's register ABI
        watched = [w for w in self._watches if w.on_stack]
        if not gp or not watched:
            return
        g = self._goroutines.read(gp)
        if not any(w.goid == g.id for w in watched):
            return
        ret = self._target.u64(int(regs.rsp)) if self._target else 0

        def after_copy(t: int) -> None:
            moved = self._goroutines.read(gp) if self._goroutines else None
            self._remove_internal_bp(ret)
            if moved is None or moved.stack_hi == g.stack_hi:
                return
            for w in self._watches:
                if w.goid == g.id and w.stack_offset is not None:
                    w.addr = moved.stack_hi - w.stack_offset
            self._program_watches()

        self._add_internal_bp(ret, after_copy)

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

    # ----- expressions and values (issue 3: Go values, expressions) -----

    def set_value_limits(self, max_string_len: int | None, max_array_values: int | None) -> None:
        """How much of a string to read and how many children to list per page."""
        with self._lock:
            s, a = self._value_limits
            self._value_limits = (max_string_len or s, max_array_values or a)
            if self._values is not None:
                self._values.max_string_len, self._values.max_array_values = \
                    self._value_limits

    def evaluate(
        self, expression: str, thread_id: int | None, frame_index: int, context: str
    ) -> VariableInfo:
        """Evaluate a Go expression in a frame; without one, in the innermost frame of the
        goroutine that stopped (as Delve does), or over globals only when there is none.
        `context` is DAP's (watch, repl, hover, clipboard); all evaluate alike."""
        with self._lock:
            self._require_stopped()
            if thread_id is None:
                thread_id = self._ex().call(self._selected_goroutine)
                frame_index = 0
            try:
                return self._ex().call(self._evaluate, expression, thread_id, frame_index)
            except EvalError as exc:
                raise DebuggerError(str(exc)) from exc

    def _evaluate(self, expression: str, thread_id: int | None, frame_index: int
                  ) -> VariableInfo:
        assert self._values is not None
        result = evaluate(expression, self._eval_scope(thread_id, frame_index))
        if isinstance(result, Const):
            text, tname = result_text(self._values, result)
            return VariableInfo(name=expression, value=text, type=tname)
        return self._values.info(expression, result)

    def _eval_scope(self, thread_id: int | None, frame_index: int) -> FrameScope:
        """Names visible in a frame: its arguments and locals (as Values, or why they
        cannot be read), then package globals."""
        assert self._values is not None
        if thread_id is None:
            return FrameScope(self._values, [], None)
        frames = self._frames_for(thread_id)
        if not 0 <= frame_index < len(frames):
            raise EvalError(f"no frame {frame_index} on goroutine {thread_id}")
        frame = frames[frame_index]
        found: list[tuple[str, Value | str]] = [
            (v.name, value)
            for args in (True, False)
            for _shown, v, value in self._scope_values(_ScopeRef(thread_id, frame_index, args))
        ]
        fn = frame.function.name if frame.function else None
        return FrameScope(self._values, found, fn)

    def set_variable(self, handle: object, name: str, value: str) -> VariableInfo:
        """Assign `value` (a Go expression) to the child `name` of a scope or value:
        numbers, bools, strings no longer than the current one (rewritten in place), and
        nil for pointers, slices, maps, channels, funcs and interfaces."""
        with self._lock:
            self._require_stopped()
            try:
                return self._ex().call(self._set_variable, handle, name, value)
            except EvalError as exc:
                raise DebuggerError(str(exc)) from exc

    def _set_variable(self, handle: object, name: str, value: str) -> VariableInfo:
        assert self._values is not None
        target: Value | str | None
        if isinstance(handle, _ScopeRef):
            scope = self._eval_scope(handle.thread_id, handle.frame_index)
            target = {shown: value for shown, _v, value in self._scope_values(handle)}.get(name)
            if target is None:
                raise EvalError(f"no variable {name} in this scope")
        elif isinstance(handle, Value):
            scope = FrameScope(self._values, [], None)
            target = find_child(self._values, handle, name)
        else:
            raise EvalError("unknown variables reference")
        if isinstance(target, str):
            raise EvalError(f"{name} is not available: {target}")
        assign(self._values, target, evaluate(value, scope))
        return self._values.info(name, self._values.load(target.type, target.addr))

    def _scope_values(self, ref: _ScopeRef) -> list[tuple[str, VarInfo, Value | str]]:
        """The scope's variables: display name, DWARF variable, and its value or why it
        cannot be read (optimized out, unreadable memory...)."""
        assert self._values is not None
        frame = self._frames_for(ref.thread_id)[ref.frame_index]
        if frame.function is None:
            return []
        regs = self._frame0_registers(ref.thread_id) if ref.frame_index == 0 else None
        out: list[tuple[str, VarInfo, Value | str]] = []
        for shown, v in self._frame_vars(ref):
            if v.location is None:
                out.append((shown, v, "optimized out"))
                continue
            try:
                where = self._values.address_of(v.location, frame.cfa, regs)
                out.append((shown, v, self._values.value_at(v.type, where)))
            except (UnreadableError, OSError) as exc:
                out.append((shown, v, str(exc) or "unreadable memory"))
        return out
