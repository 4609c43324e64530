"""followExec: the program and the children it starts, each debugged by an engine of its own.

`Family` is what a session gets as its dapgo.engine.api.Debugger. Without followExec (or
before any child is followed) it hands every request to the program's own facade
(dapgo.engine.debugger.Debugger) unchanged. With followExec (Delve's `followExec`,
`followExecRegex`), the program's backend traces each child from its fork to its exec; a
child whose command line matches is handed over, stopped, to a new facade with an owner
thread of its own, which attaches to it, is given the session's breakpoints and options,
and lets it run. So each followed child is a program of its own: its own binary (PIE or
not), its own breakpoints placed at its own addresses, its own stops.

What the client sees, one session:
- thread ids: the program's goroutine g is thread g; child k's is k * CHILD_STRIDE + g, and
  its thread names start with "[pid PID NAME]";
- frame, scope and variable handles of a child are wrapped with the child's number, so
  every request goes back to the engine that made them;
- a breakpoint request goes to every engine; its status is the program's, or a child's
  where only the child has the code; a child's hit names the ids the client knows;
- continue, pause, terminate and disconnect reach every engine; a step, its thread's;
- a child's exit is a console message, not the session's end. Data breakpoints,
  instruction breakpoints, disassembly, memory, `dapgo goroutines`, `dapgo metrics` and
  `dapgo dump` are the program's only.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import attrs

from dapgo.engine.bpf.ahead import CompileAhead, configured_ringbuf_pages
from dapgo.engine.debugger import Debugger
from dapgo.engine.errors import DebuggerError
from dapgo.engine.model import (
    BreakpointChanged,
    BreakpointStatus,
    CommandAnswer,
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
    LaunchConfig,
    Output,
    ProcessStarted,
    RunInTerminal,
    ScopeInfo,
    SourceBreakpointSpec,
    StepKind,
    Stopped,
    ThreadInfo,
    ThreadsAnswer,
    VariableInfo,
)

T = TypeVar("T")
CHILD_STRIDE = 10**12  # above every engine thread id (goroutines; OS threads: 2**30+)
CHILD_REPORT_SECONDS = 5.0  # how long the program's exit waits for ended children's events
_FUNCTIONS = "\0functions"  # key of the function breakpoints among the replayed requests


@attrs.frozen
class _Routed:
    """A child engine's handle (scope, variable), with the child's number."""

    index: int
    handle: object


@attrs.define(eq=False)
class _Child:
    index: int
    pid: int
    label: str  # "pid 1234 worker"
    debugger: Debugger
    ids: dict[int, int] = attrs.field(factory=dict)  # child breakpoint id -> client's id

    def tid(self, local: int) -> int:
        return self.index * CHILD_STRIDE + local


def _gone(pid: int) -> bool:
    """Has process `pid` ended (a zombie, or reaped)?"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"Z", b"X")


def _done(value: T) -> Future[T]:
    f: Future[T] = Future()
    f.set_result(value)
    return f


def _failed(exc: BaseException) -> Future[Any]:
    f: Future[Any] = Future()
    f.set_exception(exc)
    return f


def _then(fut: Future[T], fn: Callable[[T], Any]) -> Future[Any]:
    out: Future[Any] = Future()

    def cb(f: Future[T]) -> None:
        try:
            out.set_result(fn(f.result()))
        except BaseException as exc:
            out.set_exception(exc)

    fut.add_done_callback(cb)
    return out


def _all(futs: list[Future[Any]]) -> Future[list[Any]]:
    """Every future's result (or exception object), once all are done."""
    out: Future[list[Any]] = Future()
    if not futs:
        out.set_result([])
        return out
    left = [len(futs)]
    lock = threading.Lock()

    def cb(_f: Future[Any]) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        out.set_result([f.exception() or f.result() for f in futs])

    for f in futs:
        f.add_done_callback(cb)
    return out


def _first_ok(results: list[Any]) -> None:
    """For requests sent to every engine: fine if one took it; else the program's error."""
    if results and all(isinstance(r, BaseException) for r in results):
        raise results[0]


class Family:
    """The session's Debugger: the program's facade, plus one per followed child."""

    def __init__(self, on_event: Callable[[EngineEvent], None]) -> None:
        self._emit = on_event
        self.main = Debugger(self._main_event)
        self._children: dict[int, _Child] = {}
        self._child_ended = threading.Condition()  # notified when a child's engine ends
        self._next = 1
        self._regex: re.Pattern[str] | None = None
        self._ended = False
        # what a child is given when it is followed: the session's current settings
        self._config_lock = threading.Lock()
        self._requests: dict[str, tuple[list[Any], list[BreakpointStatus]]] = {}
        self._exception_filters: list[str] | None = None
        self._goroutine_options: tuple[list[str], bool, str, int] | None = None
        self._value_limits: tuple[int | None, int | None] | None = None
        # a BPF program compiled for the next child (an attached child's breakpoints are
        # uprobes; a compile takes ~2 s, which the child would wait for stopped)
        self._following = False
        self._executable: str | None = None  # the program's, for the spare's layout
        self._spare: CompileAhead | None = None

    # ----- followExec -----

    def set_follow_exec(self, follow: bool, regex: str | None) -> Future[None]:
        """Before launch/attach: follow the children whose command line matches `regex`
        (re.search; every child when None)."""
        if not follow:
            return _done(None)
        self._regex = re.compile(regex) if regex else None
        self._following = True
        self.main.follow_children(self._decide, self._adopt)
        return _done(None)

    def _restock(self) -> None:
        """Compile a spare BPF program for the next child, if none is waiting."""
        with self._config_lock:
            if self._ended or self._spare is not None or self._executable is None:
                return
            self._spare = CompileAhead(self._executable, configured_ringbuf_pages(),
                                       signal.SIGURG)

    def _take_spare(self) -> CompileAhead | None:
        with self._config_lock:
            spare, self._spare = self._spare, None
        return spare

    def _decide(self, pid: int) -> bool:
        if self._ended:
            return False
        if self._regex is None:
            return True
        return self._regex.search(_command_line(pid)) is not None

    def _adopt(self, pid: int) -> None:
        """On the program's owner thread: a child to follow, stopped and untraced."""
        index = self._next
        self._next += 1
        threading.Thread(target=self._follow, args=(index, pid), daemon=True,
                         name=f"dapgo-follow-{pid}").start()

    def _follow(self, index: int, pid: int) -> None:
        cmd = _command_line(pid)
        name = os.path.basename(cmd.split(" ", 1)[0]) if cmd else "?"
        holder: list[_Child] = []
        child = _Child(index, pid, f"pid {pid} {name}",
                       Debugger(lambda ev: self._child_event(holder[0], ev)))
        holder.append(child)
        try:
            child.debugger.attach(pid, ahead=self._take_spare()).result()
            self._restock()  # for the next one
            # It was stopped (SIGSTOP) untraced: the job-control stop outlives the attach
            # and would stop it again at a detach; SIGCONT ends it now (the tracer holds it).
            os.kill(pid, signal.SIGCONT)
            with self._config_lock:
                self._configure(child)
                self._children[index] = child
            if self._ended:  # the session ended meanwhile
                self._children.pop(index, None)
                child.debugger.disconnect(False).result()
                return
            self._say(f"dapgo: following child process {pid} ({cmd}) as threads "
                      f"{child.tid(1)}...\n")
            child.debugger.configuration_done().result()
        except BaseException as exc:
            self._children.pop(index, None)
            self._say(f"dapgo: cannot follow child process {pid} ({cmd}): {exc}\n")
            child.debugger.disconnect(False)  # detached (if it was attached), running
            try:
                os.kill(pid, signal.SIGCONT)  # never leave it stopped
            except OSError:
                pass

    def _configure(self, child: _Child) -> None:
        """Give a new child the session's options and breakpoints (ids mapped)."""
        d = child.debugger
        if self._goroutine_options is not None:
            d.set_goroutine_options(*self._goroutine_options).result()
        if self._value_limits is not None:
            d.set_value_limits(*self._value_limits).result()
        if self._exception_filters is not None:
            d.set_exception_breakpoints(self._exception_filters).result()
        for key, (specs, statuses) in self._requests.items():
            if key == _FUNCTIONS:
                got = d.set_function_breakpoints(specs).result()
            else:
                got = d.set_breakpoints(key, specs).result()
            self._map_ids(child, got, statuses)
            for i, (mine, theirs) in enumerate(zip(got, statuses, strict=False)):
                if mine.verified and not theirs.verified:  # only the child has that code
                    statuses[i] = attrs.evolve(mine, id=theirs.id)
                    self._emit(BreakpointChanged(statuses[i]))

    @staticmethod
    def _map_ids(child: _Child, got: list[BreakpointStatus],
                 statuses: list[BreakpointStatus]) -> None:
        for mine, theirs in zip(got, statuses, strict=False):
            child.ids[mine.id] = theirs.id

    def _say(self, text: str) -> None:
        self._emit(Output("console", text))

    def _main_event(self, ev: EngineEvent) -> None:
        if isinstance(ev, Exited):
            self._children_reported()
        elif isinstance(ev, ProcessStarted) and self._following:
            self._executable = ev.name
            self._restock()
        self._emit(ev)

    def _children_reported(self, timeout: float = CHILD_REPORT_SECONDS) -> None:
        """The program exited: a followed child that ended before it (the program waited
        for it) gets its engine's last events out first (its logpoints' records, its exit),
        so none arrives after the session's end. Its engine learned of the end first (the
        program's wait returns only once the tracer has reaped the child) but has more to
        do with it than the program's engine with the program's. A child still running
        is not waited for."""
        deadline = time.monotonic() + timeout
        with self._child_ended:
            while any(_gone(c.pid) for c in list(self._children.values())):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._child_ended.wait(min(left, 0.05))

    def _child_event(self, child: _Child, ev: EngineEvent) -> None:
        if isinstance(ev, Stopped):
            self._emit(attrs.evolve(
                ev, thread_id=child.tid(ev.thread_id),
                hit_breakpoint_ids=tuple(child.ids[i] for i in ev.hit_breakpoint_ids
                                         if i in child.ids)))
        elif isinstance(ev, Continued):
            self._emit(Continued(child.tid(ev.thread_id)))
        elif isinstance(ev, Exited):
            self._say(f"dapgo: child process {child.pid} exited with code {ev.exit_code}\n")
            with self._child_ended:
                self._children.pop(child.index, None)
                self._child_ended.notify_all()
            child.debugger.disconnect(False)
        elif isinstance(ev, BreakpointChanged):
            theirs = child.ids.get(ev.status.id)
            if theirs is not None and ev.status.verified:
                self._emit(BreakpointChanged(attrs.evolve(ev.status, id=theirs)))
        else:
            self._emit(ev)

    # ----- routing -----

    def _route(self, thread_id: int | None) -> tuple[Debugger, int | None, _Child | None]:
        if thread_id is None or thread_id < CHILD_STRIDE:
            return self.main, thread_id, None
        child = self._children.get(thread_id // CHILD_STRIDE)
        if child is None:
            raise DebuggerError(f"thread {thread_id} belongs to a child process that has "
                                "ended")
        return child.debugger, thread_id % CHILD_STRIDE, child

    def _unwrap(self, handle: object) -> tuple[Debugger, object, _Child | None]:
        if isinstance(handle, _Routed):
            child = self._children.get(handle.index)
            if child is None:
                raise DebuggerError("that value belongs to a child process that has ended")
            return child.debugger, handle.handle, child
        return self.main, handle, None

    @staticmethod
    def _wrap(child: _Child | None, v: T) -> T:
        handle = getattr(v, "handle", None)
        if child is None or handle is None:
            return v
        return attrs.evolve(v, handle=_Routed(child.index, handle))  # type: ignore[misc]

    def _everyone(self, call: Callable[[Debugger], Future[Any]]) -> Future[None]:
        futs = [call(self.main)] + [call(c.debugger) for c in list(self._children.values())]
        return _then(_all(futs), _first_ok)

    # ----- starting -----

    def launch(self, cfg: LaunchConfig, stop_on_entry: bool,
               terminal: RunInTerminal | None = None) -> Future[None]:
        return self.main.launch(cfg, stop_on_entry, terminal)

    def restart(self, cfg: LaunchConfig, stop_on_entry: bool,
                terminal: RunInTerminal | None = None) -> Future[None]:
        return self.main.restart(cfg, stop_on_entry, terminal)

    def attach(self, pid: int, stop_on_entry: bool = False) -> Future[None]:
        return self.main.attach(pid, stop_on_entry)

    # ----- the program's own (memory and instructions are a process's) -----

    def set_instruction_breakpoints(self, specs: list[InstructionBreakpointSpec]
                                    ) -> Future[list[BreakpointStatus]]:
        return self.main.set_instruction_breakpoints(specs)

    def disassemble(self, address: int, instruction_offset: int, count: int,
                    flavor: DisassemblyFlavor) -> Future[list[Instruction]]:
        return self.main.disassemble(address, instruction_offset, count, flavor)

    def read_memory(self, address: int, count: int) -> Future[tuple[bytes, int]]:
        return self.main.read_memory(address, count)

    def write_memory(self, address: int, data: bytes, allow_partial: bool) -> Future[int]:
        return self.main.write_memory(address, data, allow_partial)

    def source_files(self) -> Future[list[str]]:
        return self.main.source_files()

    def configuration_done(self) -> Future[None]:
        return self.main.configuration_done()

    # ----- breakpoints -----

    def _set(self, key: str, specs: list[Any],
             call: Callable[[Debugger], Future[list[BreakpointStatus]]]
             ) -> Future[list[BreakpointStatus]]:
        with self._config_lock:
            children = list(self._children.values())
            main = call(self.main)
            futs = [call(c.debugger) for c in children]
        out: Future[list[BreakpointStatus]] = Future()

        def merge(results: list[Any]) -> None:
            try:
                _merge(results)
            except BaseException as exc:  # never leave the request unanswered
                if not out.done():
                    out.set_exception(exc)

        def _merge(results: list[Any]) -> None:
            mine = results[0]
            if isinstance(mine, BaseException):
                out.set_exception(mine)
                return
            statuses: list[BreakpointStatus] = list(mine)
            with self._config_lock:
                self._requests[key] = (specs, statuses)
            for child, got in zip(children, results[1:], strict=True):
                if isinstance(got, BaseException):
                    continue
                self._map_ids(child, got, statuses)
                for i, s in enumerate(got):
                    if i < len(statuses) and s.verified and not statuses[i].verified:
                        statuses[i] = attrs.evolve(s, id=statuses[i].id)
            out.set_result(statuses)

        _all([main, *futs]).add_done_callback(lambda f: merge(f.result()))
        return out

    def set_breakpoints(self, path: str, specs: list[SourceBreakpointSpec]
                        ) -> Future[list[BreakpointStatus]]:
        return self._set(path, specs, lambda d: d.set_breakpoints(path, specs))

    def set_function_breakpoints(self, specs: list[FunctionBreakpointSpec]
                                 ) -> Future[list[BreakpointStatus]]:
        return self._set(_FUNCTIONS, specs, lambda d: d.set_function_breakpoints(specs))

    def set_exception_breakpoints(self, filters: list[str]) -> Future[None]:
        self._exception_filters = list(filters)
        return self._everyone(lambda d: d.set_exception_breakpoints(filters))

    def data_breakpoint_info(self, handle: object | None, name: str, thread_id: int | None,
                             frame_index: int) -> Future[DataBreakpointInfo]:
        try:
            _d, local, child = self._route(thread_id)
            if handle is not None:
                _d2, handle, child2 = self._unwrap(handle)
                child = child or child2
        except DebuggerError as exc:
            return _failed(exc)
        if child is not None:
            return _done(DataBreakpointInfo(None, "data breakpoints are set only in the "
                                            "program itself, not in a followed child"))
        return self.main.data_breakpoint_info(handle, name, local, frame_index)

    def set_data_breakpoints(self, specs: list[DataBreakpointSpec]
                             ) -> Future[list[BreakpointStatus]]:
        return self.main.set_data_breakpoints(specs)

    def exception_info(self, thread_id: int) -> Future[ExceptionInfo]:
        try:
            d, local, _ = self._route(thread_id)
        except DebuggerError as exc:
            return _failed(exc)
        assert local is not None
        return d.exception_info(local)

    # ----- running -----

    def resume(self) -> Future[None]:
        return self._everyone(lambda d: d.resume())

    def step(self, thread_id: int, kind: StepKind, instruction: bool = False
             ) -> Future[None]:
        try:
            d, local, _ = self._route(thread_id)
        except DebuggerError as exc:
            return _failed(exc)
        assert local is not None
        return d.step(local, kind, instruction)

    def pause(self) -> Future[None]:
        return self._everyone(lambda d: d.pause())

    # ----- inspecting -----

    def threads(self) -> Future[ThreadsAnswer]:
        children = list(self._children.values())
        futs: list[Future[Any]] = [self.main.threads()] + [c.debugger.threads()
                                                           for c in children]

        def merge(results: list[Any]) -> ThreadsAnswer:
            main = results[0]
            if isinstance(main, BaseException):
                raise main
            threads = list(main.threads)
            for child, got in zip(children, results[1:], strict=True):
                if isinstance(got, BaseException):
                    continue
                threads += [ThreadInfo(child.tid(t.id), f"[{child.label}] {t.name}")
                            for t in got.threads]
            return attrs.evolve(main, threads=threads)

        return _then(_all(futs), merge)

    def stack_trace(self, thread_id: int, start: int, levels: int
                    ) -> Future[tuple[list[FrameInfo], int]]:
        try:
            d, local, _ = self._route(thread_id)
        except DebuggerError as exc:
            return _failed(exc)
        assert local is not None
        return d.stack_trace(local, start, levels)

    def scopes(self, thread_id: int, frame_index: int, show_globals: bool = False,
               show_registers: bool = True) -> Future[list[ScopeInfo]]:
        try:
            d, local, child = self._route(thread_id)
        except DebuggerError as exc:
            return _failed(exc)
        assert local is not None
        scopes = d.scopes(local, frame_index, show_globals, show_registers)
        if child is None:
            return scopes
        return _then(scopes, lambda ss: [self._wrap(child, s) for s in ss])

    def variables(self, handle: object, start: int | None = None, count: int | None = None
                  ) -> Future[list[VariableInfo]]:
        try:
            d, h, child = self._unwrap(handle)
        except DebuggerError as exc:
            return _failed(exc)
        found = d.variables(h, start, count)
        if child is None:
            return found
        return _then(found, lambda vs: [self._wrap(child, v) for v in vs])

    def evaluate(self, expression: str, thread_id: int | None, frame_index: int,
                 context: str) -> Future[VariableInfo]:
        try:
            d, local, child = self._route(thread_id)
        except DebuggerError as exc:
            return _failed(exc)
        found = d.evaluate(expression, local, frame_index, context)
        if child is None:
            return found
        return _then(found, lambda v: self._wrap(child, v))

    def set_variable(self, handle: object, name: str, value: str) -> Future[VariableInfo]:
        try:
            d, h, child = self._unwrap(handle)
        except DebuggerError as exc:
            return _failed(exc)
        return _then(d.set_variable(h, name, value), lambda v: self._wrap(child, v))

    def set_goroutine_options(self, show_labels: list[str], hide_system: bool, filters: str,
                              max_goroutines: int) -> Future[None]:
        options = (show_labels, hide_system, filters, max_goroutines)
        self._goroutine_options = options
        return self._everyone(lambda d: d.set_goroutine_options(*options))

    def set_value_limits(self, max_string_len: int | None, max_array_values: int | None
                         ) -> Future[None]:
        self._value_limits = (max_string_len, max_array_values)
        return self._everyone(lambda d: d.set_value_limits(max_string_len, max_array_values))

    def goroutine_command(self, args: str, frame: tuple[int, int] | None = None
                          ) -> Future[CommandAnswer]:
        return self.main.goroutine_command(args, frame)

    def dump(self, path: str) -> Future[CommandAnswer]:
        return self.main.dump(path)

    def metrics_command(self, args: str) -> Future[CommandAnswer]:
        return self.main.metrics_command(args)

    # ----- ending -----

    def terminate(self) -> Future[None]:
        return self._everyone(lambda d: d.terminate())

    def disconnect(self, terminate: bool) -> Future[None]:
        """Children first (killed with the program, or detached), then the program."""
        self._ended = True
        spare = self._take_spare()
        if spare is not None:
            threading.Thread(target=spare.discard, daemon=True,  # it may be compiling
                             name="dapgo-bpf-discard").start()
        children = list(self._children.values())
        self._children.clear()
        futs = [c.debugger.disconnect(terminate) for c in children]
        out: Future[None] = Future()

        def finish(f: Future[None]) -> None:
            exc = f.exception()
            if exc is not None:
                out.set_exception(exc)
            else:
                out.set_result(None)

        _all(futs).add_done_callback(
            lambda _f: self.main.disconnect(terminate).add_done_callback(finish))
        return out


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""
