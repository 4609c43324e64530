"""The engine facade: the one module that combines the backends into a debugger.

It owns the debug session's state machine (nothing -> stopped <-> running -> exited), runs
the wait loop on the ptrace thread while the program runs, and reports what happens as
`EngineEvent`s through the `on_event` callback (called from engine threads). Every method is
blocking and safe to call from any thread; callers in asyncio use `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
from collections.abc import Callable
from typing import Literal, TypeVar

import attrs

from dapgo.engine import build as gobuild
from dapgo.engine.breakpoints import Breakpoint, BreakpointTable
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import DebuggerError, NotStoppedError, ProcessError, ProgramNotFoundError
from dapgo.engine.goroutines import Goroutine, GoroutineReader
from dapgo.engine.model import (
    BreakpointChanged,
    BreakpointStatus,
    EngineEvent,
    Exited,
    FrameInfo,
    FunctionBreakpointSpec,
    LaunchConfig,
    ScopeInfo,
    SourceBreakpointSpec,
    Stopped,
    StopReason,
    ThreadInfo,
    VariableInfo,
)
from dapgo.engine.output import OutputPump
from dapgo.engine.ptrace.executor import PtraceExecutor
from dapgo.engine.ptrace.process import PtraceFailure, StopEvent, TracedProcess
from dapgo.engine.stack import MAX_FRAMES, Frame, unwind
from dapgo.engine.stepping import StepKind, Stepper, SteppingError
from dapgo.engine.target import Target
from dapgo.engine.values import UnreadableError, ValueReader, ValueRef

log = logging.getLogger(__name__)
T = TypeVar("T")
State = Literal["idle", "stopped", "running", "exited"]

# OS threads with no goroutine (before the runtime starts) are shown with ids above this.
OS_THREAD_ID_BASE = 1 << 30
FUNCTION_GROUP = "<function>"
EXCEPTION_FILTERS: frozenset[str] = frozenset()  # panics: see the "Go values" issue


@attrs.frozen
class _ScopeRef:
    thread_id: int
    frame_index: int
    args: bool


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
        self._bps = BreakpointTable()
        self._stop_on_entry = False
        self._tmpdir: str | None = None
        self._pump: OutputPump | None = None
        self._pause_requested = False
        self._internal_halt = False
        self._pending_hits: list[int] = []  # threads on a breakpoint not yet reported
        self._current_tid: int | None = None  # OS thread of the last stop
        # caches valid for one stop
        self._threads_cache: list[ThreadInfo] = []
        self._frames_cache: dict[int, list[Frame]] = {}
        self._g_by_id: dict[int, Goroutine] | None = None

    # ----- properties -----

    @property
    def is_running(self) -> bool:
        return self._state == "running"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _ex(self) -> PtraceExecutor:
        if self._executor is None:
            self._executor = PtraceExecutor()
        return self._executor

    def _require_target(self) -> Target:
        if self._target is None or self._state in ("idle", "exited"):
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
            if cfg.mode == "exec":
                binary_path = os.path.abspath(os.path.join(cfg.cwd or os.getcwd(), cfg.program))
                if not os.path.isfile(binary_path):
                    raise ProgramNotFoundError(f"program not found: {cfg.program}")
                cwd = cfg.cwd or os.getcwd()
            else:
                binary_path, self._tmpdir = gobuild.build(cfg)
                cwd = cfg.cwd or gobuild.package_dir(cfg)
            binary = BinaryInfo.open(binary_path)
            env = dict(os.environ)
            for k, v in cfg.env:
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v
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
        self._values = ValueReader(self._target)
        self._state = "stopped"
        self._current_tid = proc.pid

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
                if self._binary is None:
                    bp.message = "no program loaded yet"
                else:
                    found = self._binary.addresses_for_line(path, spec.line)
                    bp.addresses = list(found.addresses)
                    bp.message = found.message
                bps.append(bp)
            self._bps.replace_group(path, bps)
            self._sync_breakpoints()
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
            self._bps.replace_group(FUNCTION_GROUP, bps)
            self._sync_breakpoints()
            return [bp.status() for bp in bps]

    def set_exception_breakpoints(self, filters: list[str]) -> None:
        unknown = [f for f in filters if f not in EXCEPTION_FILTERS]
        if unknown:
            raise DebuggerError(f"unknown exception filter(s): {', '.join(unknown)}")

    def _sync_breakpoints(self) -> None:
        """Make the int3 bytes in the program match the breakpoint table."""
        proc = self._proc
        if proc is None or self._state in ("idle", "exited"):
            return
        wanted = self._bps.wanted_addresses()

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
            while self._pending_hits:
                tid = self._pending_hits.pop(0)
                if tid in proc.threads and self._ex().call(proc.get_pc, tid) in proc.breakpoints:
                    pc = self._ex().call(proc.get_pc, tid)
                    self._clear_stop_caches()
                    self._report_breakpoint(tid, pc)
                    return
            self._clear_stop_caches()
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
                ev = proc.wait_for_stop()
            except Exception:
                log.exception("wait loop failed")
                self._on_exit(-1)
                return
            if ev.kind == "exited":
                self._on_exit(ev.exit_code if ev.exit_code is not None else -1)
                return
            if ev.kind == "halt":
                if self._pause_requested:
                    self._pause_requested = False
                    self._internal_halt = False
                    self._report_stop("pause", ev.tid, ())
                    return
                if self._internal_halt:
                    return  # `_while_halted` work runs next, then resumes
                proc.resume()  # a late halt signal from an earlier request
                continue
            self._pause_requested = False
            self._internal_halt = False
            if ev.kind == "breakpoint":
                self._pending_hits = [t for t in ev.breakpoint_tids if t != ev.tid]
                self._report_breakpoint(ev.tid, proc.get_pc(ev.tid))
                return
            self._report_stop_trap(ev)
            return

    def _report_stop_trap(self, ev: StopEvent) -> None:
        self._report_stop("breakpoint", ev.tid, (), description="hardcoded breakpoint")

    def _report_breakpoint(self, tid: int, pc: int) -> None:
        hit = self._bps.at(pc)
        for bp in hit:
            bp.hits += 1
        reason: StopReason = (
            "function breakpoint" if hit and all(b.kind == "function" for b in hit)
            else "breakpoint"
        )
        self._report_stop(reason, tid, tuple(b.id for b in hit))

    def _report_stop(
        self, reason: StopReason, tid: int, bp_ids: tuple[int, ...],
        description: str | None = None,
    ) -> None:
        self._state = "stopped"
        self._current_tid = tid
        self._clear_stop_caches()
        thread_id = self._thread_id_for_tid(tid)
        self._emit(Stopped(reason=reason, thread_id=thread_id, hit_breakpoint_ids=bp_ids,
                           description=description))

    def _on_exit(self, code: int) -> None:
        self._state = "exited"
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
                user_breakpoint_at=lambda pc: bool(self._bps.at(pc)),
                pause_requested=lambda: self._pause_requested,
            )
            self._pending_hits = []
            self._clear_stop_caches()
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
            assert self._proc is not None
            self._report_breakpoint(out.tid, self._proc.get_pc(out.tid))
        elif out.kind == "pause":
            self._report_stop("pause", out.tid, ())
        elif out.kind == "trap":
            self._report_stop("breakpoint", out.tid, (), description="hardcoded breakpoint")
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
        self._threads_cache = []
        self._frames_cache = {}
        self._g_by_id = None

    def _goroutine_map(self) -> dict[int, Goroutine]:
        if self._g_by_id is None:
            assert self._goroutines is not None
            self._g_by_id = {g.id: g for g in self._goroutines.all()}
        return self._g_by_id

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
        with self._lock:
            if self._state == "running":
                if self._threads_cache:
                    return list(self._threads_cache)
                return self._while_halted(self._list_threads)
            if self._state != "stopped":
                return list(self._threads_cache)
            if not self._threads_cache:
                self._threads_cache = self._ex().call(self._list_threads)
            return list(self._threads_cache)

    def _list_threads(self) -> list[ThreadInfo]:
        assert self._binary is not None and self._target is not None
        gmap = self._goroutine_map()
        out = []
        for g in gmap.values():
            where = self._user_function(g)
            name = f"[Go {g.id}] {where}"
            if g.thread_id:
                name += f" (Thread {g.thread_id})"
            out.append(ThreadInfo(id=g.id, name=name))
        if not out:  # the runtime has not started: show the OS threads themselves
            for tid in self._target.thread_ids():
                out.append(ThreadInfo(id=OS_THREAD_ID_BASE + tid, name=f"[Thread {tid}]"))
        return out

    def _user_function(self, g: Goroutine) -> str:
        """Name of the innermost non-runtime function of a goroutine (its user location)."""
        frames = self._frames_for(g.id, limit=32)
        for f in frames:
            if f.function and not f.function.name.startswith("runtime."):
                return f.function.name
        return frames[0].function.name if frames and frames[0].function else "?"

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

    def scopes(self, thread_id: int, frame_index: int) -> list[ScopeInfo]:
        with self._lock:
            self._require_stopped()
            frames = self._ex().call(self._frames_for, thread_id)
            if not 0 <= frame_index < len(frames):
                raise DebuggerError(f"no frame {frame_index} on goroutine {thread_id}")
            return [
                ScopeInfo("Arguments", _ScopeRef(thread_id, frame_index, True),
                          presentation_hint="arguments"),
                ScopeInfo("Locals", _ScopeRef(thread_id, frame_index, False),
                          presentation_hint="locals"),
            ]

    def variables(
        self, handle: object, start: int | None = None, count: int | None = None
    ) -> list[VariableInfo]:
        with self._lock:
            self._require_stopped()
            values = self._values
            assert values is not None
            if isinstance(handle, _ScopeRef):
                return self._ex().call(self._scope_variables, handle)
            if isinstance(handle, ValueRef):
                return self._ex().call(values.children, handle, start, count)
            raise DebuggerError("unknown variables reference")

    def _scope_variables(self, ref: _ScopeRef) -> list[VariableInfo]:
        assert self._binary is not None and self._values is not None
        frames = self._frames_for(ref.thread_id)
        frame = frames[ref.frame_index]
        if frame.function is None:
            return []
        regs = None
        if ref.frame_index == 0:
            regs = self._frame0_registers(ref.thread_id)
        pc = frame.pc if ref.frame_index == 0 else frame.pc - 1
        out = []
        seen: dict[str, int] = {}
        for v in self._binary.frame_variables(frame.function, pc):
            if v.is_arg != ref.args:
                continue
            if not v.is_arg and v.decl_line and frame.line and v.decl_line > frame.line:
                continue  # declared further down: not in scope yet (as Delve does)
            name = v.name
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name} (shadowed {seen[name] - 1})"
            if v.location is None:
                out.append(self._values.unreadable(name, v.type, "optimized out"))
                continue
            try:
                where = self._values.address_of(v.location, frame.cfa, regs)
                out.append(self._values.variable(name, v.type, where))
            except UnreadableError as exc:
                out.append(self._values.unreadable(name, v.type, str(exc)))
            except OSError:
                out.append(self._values.unreadable(name, v.type, "unreadable memory"))
        return out

    def _frame0_registers(self, thread_id: int):  # type: ignore[no-untyped-def]
        target = self._require_target()
        if thread_id >= OS_THREAD_ID_BASE:
            return target.registers(thread_id - OS_THREAD_ID_BASE)
        assert self._goroutines is not None
        for tid in target.thread_ids():
            g = self._goroutines.of_thread(tid)
            if g is not None and g.id == thread_id:
                return target.registers(tid)
        return None

    # ----- ending -----

    def terminate(self) -> None:
        """Kill the program; an Exited event follows."""
        with self._lock:
            if self._proc is None or self._state in ("idle", "exited"):
                return
            if self._state == "running":
                os.kill(self._proc.pid, signal.SIGKILL)  # the wait loop reports the exit
                return
            code = self._ex().call(self._proc.kill)
            self._on_exit(code)

    def disconnect(self, terminate: bool) -> None:
        """End debugging: kill the program (`terminate`) or detach and let it run on."""
        with self._lock:
            proc = self._proc
            try:
                if proc is not None and self._state in ("stopped", "running"):
                    if terminate:
                        if self._state == "running":
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
