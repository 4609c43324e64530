"""The facade's shared state and helpers: the ptrace thread, stop caches, int3 syncing."""

from __future__ import annotations

import abc
import logging
import subprocess
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

import attrs

from dapgo.engine import build as gobuild
from dapgo.engine.breakpoints import BreakpointTable
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import DebuggerError, NotStoppedError
from dapgo.engine.goroutines import (
    Goroutine,
    GoroutineReader,
)
from dapgo.engine.hwbreak import (
    DebugRegisterSet,
)
from dapgo.engine.model import (
    BreakpointChanged,
    EngineEvent,
    ExceptionInfo,
    StopReason,
    ThreadInfo,
)
from dapgo.engine.output import OutputPump
from dapgo.engine.ptrace.executor import PtraceExecutor
from dapgo.engine.ptrace.process import TracedProcess
from dapgo.engine.stack import Frame
from dapgo.engine.target import Target
from dapgo.engine.values import (
    MAX_ARRAY_VALUES,
    MAX_STRING_LEN,
    ValueReader,
)
from dapgo.engine.watchpoints import DataBreakpoint

if TYPE_CHECKING:  # the eBPF backend is imported on first use: bcc is slow to import
    from dapgo.engine.bpf.logpoints import BpfLogpoints

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
class Hit:
    """A stopped thread to report: why, and which breakpoints."""

    tid: int
    reason: StopReason
    bp_ids: tuple[int, ...] = ()
    description: str | None = None
    text: str | None = None


@attrs.frozen
class ScopeRef:
    thread_id: int
    frame_index: int
    args: bool


@attrs.frozen
class GlobalsRef:
    package: str


@attrs.frozen
class RegistersRef:
    thread_id: int
    frame_index: int


def package_of(function: str) -> str:
    """The package path of a Go function name: "net/http.(*Client).Do" -> "net/http"."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    return function[:dot] if dot > 0 else function



class FacadeState(abc.ABC):
    """The facade's state, and what every part of it needs: the ptrace thread, the
    program-stopped checks, one-stop caches, putting breakpoints into the program."""

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
        self._pending_hits: list[Hit] = []  # simultaneous hits not yet reported
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

    def _submit_wait(self) -> None:
        # queued, not awaited: the ptrace thread runs the loop until the next stop, while
        # requests queued behind it (after a halt) wait their turn
        self._ex().submit(self._wait_loop)

    @abc.abstractmethod
    def _wait_loop(self) -> None:
        """On the ptrace thread: wait for the running program's next reportable stop
        (the running part of the facade, dapgo.engine.debugger, says what to report)."""

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

    # ----- threads and stacks -----

    def _clear_stop_caches(self) -> None:
        self._tid_of_goroutine = {}
        self._threads_cache = []
        self._frames_cache = {}
        self._g_by_id = None

