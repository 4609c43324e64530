"""A traced process in all-stop mode: its threads, the wait loop, software breakpoints.

Every method here must run on the `PtraceExecutor` thread, except `request_halt`, which any
thread may call (it only sends a signal). The model follows Delve's native backend:

* every thread of the program is traced (PTRACE_O_TRACECLONE); a launched program also gets
  PTRACE_O_EXITKILL, so it never outlives dapgo while traced; one detached on purpose runs
  on, and is reaped when it ends;
* when one thread stops for a reason worth reporting, every other thread is stopped with
  SIGSTOP before the stop is reported; simultaneous breakpoint hits are all collected;
* SIGSTOPs are dapgo's own (halts): they are suppressed, never delivered; other signals
  (Go's SIGURG preemption, SIGPROF, ...) are passed back to the program on resume;
* breakpoints are int3 bytes; resuming a thread that sits on one steps it over the original
  instruction first, with the other threads still stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Literal

import attrs
from ptrace.binding import func as pt

from dapgo.engine.ptrace import syscalls as sc

StopKind = Literal["breakpoint", "halt", "trap", "exited"]
# What one wait status meant, inside this module.
_Kind = Literal[
    "breakpoint", "halt", "trap", "exited", "step", "signal", "sigstop", "clone", "event"
]


class PtraceFailure(Exception):
    """A ptrace operation failed; the message says which and why."""


@attrs.define
class Thread:
    tid: int
    stopped: bool = False
    pending_signal: int = 0  # signal to deliver when the thread resumes
    sigstop_expected: bool = False  # a SIGSTOP we sent has not yet been seen
    trap: bool = False  # stopped on a SIGTRAP that is not a breakpoint of ours
    new: bool = False  # cloned, its first stop not yet seen
    pc: int | None = None  # rip while stopped, once read (a resume forgets it)


@attrs.frozen
class StopEvent:
    kind: StopKind
    tid: int = 0
    exit_code: int | None = None
    breakpoint_tids: tuple[int, ...] = ()  # threads sitting on one of our breakpoints
    trap_tids: tuple[int, ...] = ()  # threads stopped by a foreign SIGTRAP (e.g. hardware)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _decode_exit(status: int) -> int:
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status)


class TracedProcess:
    """A process whose threads are all traced by the calling (executor) thread."""

    def __init__(self, pid: int, launched: bool) -> None:
        self.pid = pid
        self.launched = launched
        self.threads: dict[int, Thread] = {}
        self.breakpoints: dict[int, bytes] = {}  # address -> original byte
        self.exit_code: int | None = None
        self.mem = sc.ProcMem(pid)
        self._halt_requested = threading.Event()
        self._lock = threading.Lock()  # guards `threads` against request_halt readers
        self._stepping: int | None = None
        # Hooks for per-thread state (debug registers): called on the ptrace thread with the
        # thread stopped, for each new thread at its first stop, and for each thread before
        # detaching.
        self.on_new_thread: Callable[[int], None] | None = None
        self.before_detach: Callable[[int], None] | None = None

    # ----- starting -----

    @classmethod
    def launch(
        cls,
        argv: Sequence[str],
        env: dict[str, str],
        cwd: str | None,
        stdout: int,
        stderr: int,
    ) -> TracedProcess:
        """Fork and exec `argv` traced; returns with the program stopped before its first
        instruction. `stdout`/`stderr` are file descriptors for the child."""
        if cwd is not None and not os.path.isdir(cwd):
            raise PtraceFailure(f"working directory does not exist: {cwd}")
        exe = argv[0]
        env_list = [f"{k}={v}".encode() for k, v in env.items()]
        devnull = os.open(os.devnull, os.O_RDONLY)
        pid = os.fork()
        if pid == 0:  # child: only async-signal-safe work until exec
            try:
                os.setpgid(0, 0)  # the terminal's Ctrl-C is for dapgo, not the program
                os.dup2(devnull, 0)
                os.dup2(stdout, 1)
                os.dup2(stderr, 2)
                if cwd is not None:
                    os.chdir(cwd)
                sc.child_prepare_for_trace()
                os.execve(exe, list(argv), dict(e.decode().split("=", 1) for e in env_list))
            finally:
                os._exit(127)
        os.close(devnull)
        _, status = os.waitpid(pid, sc.WALL)
        if not os.WIFSTOPPED(status):
            raise PtraceFailure(f"{exe} did not start (exit status {_decode_exit(status)})")
        proc = cls(pid, launched=True)
        proc.threads[pid] = Thread(pid, stopped=True)
        pt.ptrace_setoptions(pid, sc.PTRACE_O_TRACECLONE | sc.PTRACE_O_EXITKILL)
        return proc

    @classmethod
    def attach(cls, pid: int) -> TracedProcess:
        """Attach to every thread of a running process and leave them all stopped."""
        if not os.path.exists(f"/proc/{pid}"):
            raise PtraceFailure(f"no process with id {pid}")
        proc = cls(pid, launched=False)
        try:
            proc._attach_all()
        except BaseException:
            proc.detach()
            raise
        return proc

    def _attach_all(self) -> None:
        while True:
            tids = {int(t) for t in os.listdir(f"/proc/{self.pid}/task")}
            new = tids - set(self.threads)
            if not new:
                return
            for tid in sorted(new):
                try:
                    pt.ptrace_attach(tid)
                except Exception as exc:
                    if tid == self.pid:
                        raise PtraceFailure(
                            f"cannot attach to process {self.pid}: {exc} (is it traced already, "
                            "or owned by another user?)"
                        ) from exc
                    continue  # thread exited meanwhile
                self.threads[tid] = Thread(tid, sigstop_expected=True)
                self._wait_thread_stopped(tid)
                pt.ptrace_setoptions(tid, sc.PTRACE_O_TRACECLONE)

    # ----- waiting -----

    def _wait(self, tid: int = -1) -> tuple[int, int]:
        while True:
            try:
                return os.waitpid(tid, sc.WALL | sc.WNOTHREAD)
            except ChildProcessError:
                raise
            except InterruptedError:
                continue

    def _handle_status(self, tid: int, status: int) -> _Kind | None:
        """Book-keep one wait status. Returns a stop worth reporting, or None when the
        thread has been resumed (or is gone) and waiting should go on."""
        th = self.threads.get(tid)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            with self._lock:
                self.threads.pop(tid, None)
            if tid == self.pid:
                self.exit_code = _decode_exit(status)
                return "exited"
            return None
        if not os.WIFSTOPPED(status):
            return None
        if th is None:  # a new thread whose clone event we have not seen yet
            th = Thread(tid, sigstop_expected=True, new=True)
            with self._lock:
                self.threads[tid] = th
        th.stopped = True
        if th.new:
            th.new = False
            if self.on_new_thread is not None:
                self.on_new_thread(tid)
        sig = os.WSTOPSIG(status)
        event = status >> 16
        if event == sc.PTRACE_EVENT_CLONE:
            new_tid = pt.ptrace_geteventmsg(tid)
            with self._lock:
                if new_tid not in self.threads:
                    self.threads[new_tid] = Thread(new_tid, sigstop_expected=True, new=True)
            return "clone"
        if event:
            return "event"
        if sig == signal.SIGSTOP:
            # Every SIGSTOP is dapgo's own: it is suppressed, never delivered.
            th.sigstop_expected = False
            return "halt" if self._halt_requested.is_set() else "sigstop"
        if sig == signal.SIGTRAP:
            if tid == self._stepping:
                return "step"
            code = pt.ptrace_getsiginfo(tid).si_code
            pc = self.get_pc(tid)
            if code in (sc.SI_KERNEL, sc.TRAP_BRKPT) and pc - 1 in self.breakpoints:
                self.set_pc(tid, pc - 1)
                return "breakpoint"
            th.trap = True
            return "trap"
        th.pending_signal = sig
        return "signal"

    def _cont(self, tid: int) -> None:
        th = self.threads[tid]
        sig, th.pending_signal = th.pending_signal, 0
        th.trap = False
        try:
            th.pc = None
            pt.ptrace_cont(tid, sig)
        except Exception:  # the thread died under us; its exit status comes by wait
            pass
        th.stopped = False

    def _wait_thread_stopped(self, tid: int) -> None:
        """Wait until `tid` is stopped, book-keeping whatever it reports meanwhile."""
        while True:
            wtid, status = self._wait(tid)
            kind = self._handle_status(wtid, status)
            th = self.threads.get(tid)
            if th is None:
                return
            if kind in ("clone", "event"):
                self._cont(tid)
                continue
            if kind is not None:
                return  # stopped; a SIGSTOP we sent may still be pending (sigstop_expected)

    def wait_for_stop(self) -> StopEvent:
        """Let the running program run until something is worth reporting, then stop every
        thread and say what happened."""
        ev = self.wait_event()
        return ev if ev.kind == "exited" else self.stop_others(ev)

    def wait_event(self) -> StopEvent:
        """Wait for the next breakpoint, trap, halt or exit. Only the thread that reports
        it is stopped: the caller either lets it go on (`resume_thread`) or stops the rest
        (`stop_others`)."""
        while True:
            try:
                tid, status = self._wait(-1)
            except ChildProcessError:
                self.exit_code = self.exit_code if self.exit_code is not None else 0
                return StopEvent("exited", exit_code=self.exit_code)
            kind = self._handle_status(tid, status)
            if kind == "exited":
                return StopEvent("exited", tid=tid, exit_code=self.exit_code)
            if kind is None:
                continue
            if kind in ("breakpoint", "trap", "halt"):
                return StopEvent(kind, tid=tid)
            # clone events, our own SIGSTOPs, ordinary signals: the thread goes on
            self._cont(tid)

    def stop_others(self, ev: StopEvent) -> StopEvent:
        """Stop every thread after `wait_event` and list every thread that sits on one of our
        breakpoints or stopped on a trap (simultaneous hits included), `ev.tid` first."""
        self._halt_requested.clear()
        self.stop_all()
        bps = self._tids_at_breakpoints()
        traps = tuple(t.tid for t in self.threads.values() if t.trap)
        first = (ev.tid,)
        return StopEvent(
            ev.kind, tid=ev.tid,
            breakpoint_tids=(first + tuple(t for t in bps if t != ev.tid)) if ev.tid in bps
            else bps,
            trap_tids=(first + tuple(t for t in traps if t != ev.tid)) if ev.tid in traps
            else traps,
        )

    def resume_thread(self, tid: int) -> None:
        """Let one stopped thread go on while the others run. A thread sitting on one of our
        breakpoints is stepped over it with every other thread stopped, so no thread can run
        past the address while its original instruction is restored; if anything stopped
        the other threads meanwhile, everything resumes."""
        others_stopped = any(t.stopped for t in self.threads.values() if t.tid != tid)
        if others_stopped or self._safe_pc(tid) in self.breakpoints:
            self.stop_all()
            self.resume()
            return
        self._cont(tid)

    def _tids_at_breakpoints(self) -> tuple[int, ...]:
        return tuple(
            t.tid for t in self.threads.values()
            if t.stopped and not t.trap and self._safe_pc(t.tid) in self.breakpoints
        )

    def _safe_pc(self, tid: int) -> int | None:
        try:
            return self.get_pc(tid)
        except Exception:
            return None

    # ----- all-stop -----

    def stop_all(self) -> None:
        """Stop every thread (new threads included) and wait until each is stopped."""
        while True:
            running = [t for t in self.threads.values() if not t.stopped]
            if not running:
                return
            for th in running:
                if not th.sigstop_expected:
                    th.sigstop_expected = True
                    if not sc.tgkill(self.pid, th.tid, signal.SIGSTOP):
                        th.sigstop_expected = False
            for th in running:
                if th.tid in self.threads and not th.stopped:
                    try:
                        self._wait_thread_stopped(th.tid)
                    except ChildProcessError:
                        with self._lock:
                            self.threads.pop(th.tid, None)

    def request_halt(self) -> None:
        """From any thread: make a running program stop; `wait_for_stop` reports "halt"."""
        self._halt_requested.set()
        with self._lock:
            tids = [self.pid, *self.threads]
        for tid in tids:
            if sc.tgkill(self.pid, tid, signal.SIGSTOP):
                return

    def resume(self) -> None:
        """Resume every thread, stepping those on breakpoints over the original instruction."""
        for th in list(self.threads.values()):
            if th.stopped and self._safe_pc(th.tid) in self.breakpoints:
                self.step_instruction(th.tid)
        for th in list(self.threads.values()):
            if th.stopped:
                self._cont(th.tid)


    def step_instruction(self, tid: int) -> bool:
        """Execute the instruction at `tid`'s pc (the original one, if a breakpoint of ours
        sits there) with every other thread stopped."""
        pc = self.get_pc(tid)
        if pc in self.breakpoints:
            self.mem.write(pc, self.breakpoints[pc])
            try:
                return self.single_step(tid)
            finally:
                if pc in self.breakpoints and self.exit_code is None:
                    self.mem.write(pc, b"\xcc")
        return self.single_step(tid)

    def single_step(self, tid: int) -> bool:
        """Execute one instruction of `tid` while every other thread stays stopped.
        Signals that arrive meanwhile are kept for the thread's next resume. Returns False
        when the thread (or the process) ended instead."""
        th = self.threads[tid]
        deferred, th.pending_signal = th.pending_signal, 0
        self._stepping = tid
        try:
            while True:
                th.pc = None
                pt.ptrace(pt.PTRACE_SINGLESTEP, tid, 0, 0)
                th.stopped = False
                wtid, status = self._wait(tid)
                kind = self._handle_status(wtid, status)
                if kind == "step":
                    return True
                if kind is None or kind == "exited":
                    return False
                if kind == "signal":
                    deferred, th.pending_signal = th.pending_signal or deferred, 0
        finally:
            self._stepping = None
            if tid in self.threads:
                self.threads[tid].pending_signal = deferred

    # ----- breakpoints -----

    def insert_breakpoint(self, addr: int) -> None:
        if addr in self.breakpoints:
            return
        original = self.mem.read(addr, 1)
        self.mem.write(addr, b"\xcc")
        self.breakpoints[addr] = original

    def remove_breakpoint(self, addr: int) -> None:
        original = self.breakpoints.pop(addr, None)
        if original is not None and self.exit_code is None:
            self.mem.write(addr, original)

    def read_memory(self, addr: int, size: int) -> bytes:
        """Program memory as the program sees it (our int3 bytes hidden)."""
        data = self.mem.read(addr, size)
        if not self.breakpoints:
            return data
        patched = bytearray(data)
        for bp, orig in self.breakpoints.items():
            if addr <= bp < addr + size:
                patched[bp - addr] = orig[0]
        return bytes(patched)

    def write_memory(self, addr: int, data: bytes) -> None:
        self.mem.write(addr, data)

    # ----- registers -----

    def get_regs(self, tid: int) -> pt.ptrace_registers_t:
        return pt.ptrace_getregs(tid)

    def set_regs(self, tid: int, regs: pt.ptrace_registers_t) -> None:
        pt.ptrace_setregs(tid, regs)
        self._forget_pc(tid)

    def get_pc(self, tid: int) -> int:
        """rip of a stopped thread (read once per stop: every decision on a hot trap or
        breakpoint path asks for it)."""
        th = self.threads.get(tid)
        if th is not None and th.pc is not None:
            return th.pc
        pc = int(pt.ptrace_getregs(tid).rip)
        if th is not None and th.stopped:
            th.pc = pc
        return pc

    def set_pc(self, tid: int, pc: int) -> None:
        regs = pt.ptrace_getregs(tid)
        regs.rip = pc
        pt.ptrace_setregs(tid, regs)
        self._forget_pc(tid)

    def _forget_pc(self, tid: int) -> None:
        th = self.threads.get(tid)
        if th is not None:
            th.pc = None

    def peek_user(self, tid: int, offset: int) -> int:
        return int(pt.ptrace_peekuser(tid, offset))

    def poke_user(self, tid: int, offset: int, value: int) -> None:
        pt.ptrace_pokeuser(tid, offset, value)

    # ----- ending -----

    def detach(self) -> None:
        """Leave the program running untraced: breakpoints removed, no stop left pending."""
        if self.exit_code is not None:
            self.mem.close()
            return
        self.stop_all()
        for addr in list(self.breakpoints):
            self.remove_breakpoint(addr)
        # A SIGSTOP we sent but never saw would stop the program once untraced: drain it.
        for th in list(self.threads.values()):
            if th.sigstop_expected:
                self._cont(th.tid)
                try:
                    self._wait_thread_stopped(th.tid)
                except ChildProcessError:
                    pass
        if self.before_detach is not None:
            for tid in list(self.threads):
                self.before_detach(tid)
        for th in list(self.threads.values()):
            try:
                pt.ptrace_detach(th.tid, th.pending_signal)
            except Exception:
                pass
        self.threads.clear()
        self.mem.close()
        if self.launched:  # our child runs on untraced: reap it when it ends, no zombie
            threading.Thread(target=_reap, args=(self.pid,), daemon=True,
                             name=f"dapgo-reap-{self.pid}").start()

    def kill(self) -> int:
        """Kill the program and reap it; returns its exit code (128+9 for SIGKILL)."""
        if self.exit_code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while self.exit_code is None:
                try:
                    tid, status = self._wait(-1)
                except ChildProcessError:
                    self.exit_code = 128 + signal.SIGKILL
                    break
                self._handle_status(tid, status)
        self.threads.clear()
        self.mem.close()
        return self.exit_code

    def each_thread(self, fn: Callable[[int], None]) -> None:
        for tid in list(self.threads):
            fn(tid)
