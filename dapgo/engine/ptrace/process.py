"""The live backend: a traced process in all-stop mode, its threads, software breakpoints.

`TracedProcess` implements the engine's process interface (dapgo.engine.backend.Process).
Linux ties a tracee to the thread that attached to (or forked) it: every method here runs on
that thread, the engine's owner thread. The model follows Delve's native backend:

* every thread of the program is traced (PTRACE_O_TRACECLONE); a launched program also gets
  PTRACE_O_EXITKILL, so it never outlives dapgo while traced; one detached on purpose runs
  on, and is reaped when it ends;
* when one thread stops for a reason worth reporting, every other thread is stopped with
  SIGSTOP before the stop is reported; simultaneous breakpoint hits are all collected;
* SIGSTOPs are dapgo's own: they are suppressed, never delivered; other signals
  (Go's SIGURG preemption, SIGPROF, ...) are passed back to the program on resume;
* breakpoints are int3 bytes; resuming a thread that sits on one steps it over the original
  instruction first, with the other threads still stopped;
* the program's children (fork, vfork: os/exec) are not traced, unless `follow_children`
  was called (followExec): then each is traced from its fork to its exec, where it is either
  let go untraced or, when `follow` says so, handed stopped (SIGSTOP, no longer traced by
  this thread) to `adopt`, which traces it as a program of its own;
* `wait_event` also returns when the owner thread's doorbell rings (dapgo.engine.ptrace
  .doorbell): a request arrived while the program runs.

An attached program must outlive a dapgo killed with SIGKILL, in any state: the kernel then
detaches every thread and resumes it, delivering the signal of a signal-delivery-stop. So an
attached program is seized (PTRACE_SEIZE): its threads are stopped with PTRACE_INTERRUPT,
never SIGSTOP (a SIGSTOP left pending would stop the program for good); its breakpoints are
uprobes that stop a thread with SIGURG (`STOP_SIGNAL_ATTACHED`), which a Go program ignores
(the runtime's own preemption signal; a spurious one is harmless), never int3 bytes; and
while the user looks at a stop, a thread that stopped on a SIGTRAP (a data breakpoint, a
single step) is parked again in an interrupt stop (`park`), so no SIGTRAP is left to
deliver.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

import attrs
from ptrace.binding import func as pt
from ptrace.error import PtraceError

from dapgo.engine.backend import (
    MemoryRegion,
    RawRead,
    Registers,
    StopEvent,
    TracerThreadOnly,
    VectorRead,
    parse_auxv,
)
from dapgo.engine.ptrace import syscalls as sc
from dapgo.engine.ptrace.adopt import AdoptFailure, trace_to_exec
from dapgo.engine.ptrace.doorbell import Doorbell

# What one wait status meant, inside this module.
_Kind = Literal[
    "breakpoint", "trap", "exited", "step", "signal", "sigstop", "clone", "event", "wake",
    "held"
]
WUNTRACED = 2  # report the doorbell's stop (it is a child, not a tracee)
STOP_SIGNAL_ATTACHED = signal.SIGURG  # what an attached program's uprobes stop threads with
_HAZARDS = (signal.SIGTRAP, signal.SIGSTOP)  # deadly or stopping if delivered untraced


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
    regs: Registers | None = None  # all of them while stopped, once read (likewise)
    stop_sig: int = 0  # the signal of its signal-delivery-stop (0: another kind of stop)


def _is_new_process(tid: int, pid: int) -> bool:
    """Whether a task we never saw is a process of its own (a forked child), not a new
    thread of process `pid`."""
    try:
        with open(f"/proc/{tid}/status") as f:
            for line in f:
                if line.startswith("Tgid:"):
                    return int(line.split()[1]) != pid
    except (OSError, ValueError):
        pass
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _decode_exit(status: int) -> int:
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status)


class TracedProcess:
    """A process whose threads are all traced by the calling (owner) thread."""

    read_only = False

    def __init__(self, pid: int, launched: bool) -> None:
        self.pid = pid
        self._tracer = threading.get_ident()  # made by the thread that traces it
        self.launched = launched
        self.seized = not launched  # threads stopped with PTRACE_INTERRUPT (see above)
        self.threads: dict[int, Thread] = {}
        self._saved: dict[int, bytes] = {}  # breakpoint address -> original byte
        self.exit_code: int | None = None
        self.mem = sc.ProcMem(pid)
        self._stepping: int | None = None
        self.doorbell = Doorbell()  # wakes `wait_event` for the owner thread
        # Hooks for per-thread state (debug registers): called with the thread stopped, for
        # each new thread at its first stop, and for each thread before detaching.
        self.on_new_thread: Callable[[int], None] | None = None
        self.before_detach: Callable[[int], None] | None = None
        # followExec (see follow_children): children between their fork and their exec
        self.follow: Callable[[int], bool] | None = None
        self.hand_over: Callable[[int], None] | None = None
        self._forks: set[int] = set()
        # New threads stay stopped at their first stop (while a function call runs alone)
        self.hold_new_threads = False

    # ----- starting -----

    @classmethod
    def launch(
        cls,
        argv: Sequence[str],
        env: dict[str, str],
        cwd: str | None,
        stdout: int,
        stderr: int,
        stdin: int | None = None,
    ) -> TracedProcess:
        """Fork and exec `argv` traced; returns with the program stopped before its first
        instruction. `stdin`/`stdout`/`stderr` are file descriptors for the child (stdin
        /dev/null when None)."""
        if cwd is not None and not os.path.isdir(cwd):
            raise PtraceFailure(f"working directory does not exist: {cwd}")
        exe = argv[0]
        prepared = sc.PreparedExec(exe, list(argv), env)  # built here, not in the child
        cwd_b = os.fsencode(cwd) if cwd is not None else None
        devnull = os.open(os.devnull, os.O_RDONLY) if stdin is None else -1
        child_in = devnull if stdin is None else stdin
        pid = os.fork()
        if pid == 0:  # child: system calls only until exec
            try:
                os.setpgid(0, 0)  # the terminal's Ctrl-C is for dapgo, not the program
                os.dup2(child_in, 0)
                os.dup2(stdout, 1)
                os.dup2(stderr, 2)
                if cwd_b is not None:
                    os.chdir(cwd_b)
                sc.child_prepare_for_trace()
                prepared.exec()
            finally:
                os._exit(127)
        if devnull >= 0:
            os.close(devnull)
        _, status = os.waitpid(pid, sc.WALL)
        if not os.WIFSTOPPED(status):
            raise PtraceFailure(f"{exe} did not start (exit status {_decode_exit(status)})")
        proc = cls(pid, launched=True)
        proc.threads[pid] = Thread(pid, stopped=True)
        pt.ptrace_setoptions(pid, proc._options())
        return proc

    def _options(self) -> int:
        opts = sc.PTRACE_O_TRACECLONE
        if self.launched:
            opts |= sc.PTRACE_O_EXITKILL
        if self.follow is not None:
            opts |= sc.PTRACE_O_TRACEFORK | sc.PTRACE_O_TRACEVFORK | sc.PTRACE_O_TRACEEXEC
        return opts

    def follow_children(self, follow: Callable[[int], bool], adopt: Callable[[int], None]
                        ) -> None:
        """followExec: trace the program's children from their fork; at a child's exec,
        `follow(pid)` decides: False lets it run on untraced; True detaches it stopped
        (SIGSTOP) and gives it to `adopt(pid)`. Called with every thread stopped."""
        self.follow, self.hand_over = follow, adopt
        for tid in self.threads:
            with contextlib.suppress(Exception):
                pt.ptrace_setoptions(tid, self._options())

    @classmethod
    def adopt(cls, pid: int, go_ahead: Callable[[], None]) -> TracedProcess:
        """Trace a process someone else started (the editor's terminal) from the first
        instruction of the program it execs once `go_ahead` is called; it is then treated as
        launched (killed at terminate). See dapgo.engine.ptrace.adopt."""
        try:
            trace_to_exec(pid, go_ahead)
        except AdoptFailure as exc:
            raise PtraceFailure(str(exc)) from exc
        proc = cls(pid, launched=True)
        proc.threads[pid] = Thread(pid, stopped=True)
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
                    pt.ptrace(sc.PTRACE_SEIZE, tid, 0, sc.PTRACE_O_TRACECLONE)
                    pt.ptrace(sc.PTRACE_INTERRUPT, tid, 0, 0)
                except Exception as exc:
                    if tid == self.pid:
                        raise PtraceFailure(
                            f"cannot attach to process {self.pid}: {exc} (is it traced already, "
                            "or owned by another user?)"
                        ) from exc
                    continue  # thread exited meanwhile
                self.threads[tid] = Thread(tid, sigstop_expected=True)
                self._wait_thread_stopped(tid)
                pt.ptrace_setoptions(tid, self._options())

    def wake(self) -> None:
        """From any thread: make `wait_event` return a "wake" event (the owner thread has
        requests to serve)."""
        self.doorbell.ring()

    # ----- threads -----

    def thread_ids(self) -> list[int]:
        return sorted(self.threads)

    def has_thread(self, tid: int) -> bool:
        return tid in self.threads

    # ----- waiting -----

    def _wait(self, tid: int = -1) -> tuple[int, int]:
        while True:
            try:
                if tid != -1 and self._forks:
                    return self._wait_serving_forks(tid)
                return os.waitpid(tid, sc.WALL | sc.WNOTHREAD | WUNTRACED)
            except InterruptedError:
                continue

    def _wait_serving_forks(self, tid: int) -> tuple[int, int]:
        """Wait for one thread while children are on their way to exec (followExec): a
        thread in vfork cannot stop until its child has exec'd, and the child needs us to
        get there, so the children are served meanwhile."""
        flags = sc.WALL | sc.WNOTHREAD | WUNTRACED | os.WNOHANG
        while True:
            got, status = os.waitpid(tid, flags)
            if got:
                return got, status
            for pid in list(self._forks):
                try:
                    cpid, cstatus = os.waitpid(pid, flags)
                except ChildProcessError:
                    self._forks.discard(pid)
                    continue
                if cpid:
                    self._child_status(cpid, cstatus)
            if not self._forks:
                return os.waitpid(tid, flags & ~os.WNOHANG)
            time.sleep(0.0005)

    def _handle_status(self, tid: int, status: int) -> _Kind | None:
        """Book-keep one wait status. Returns a stop worth reporting, or None when the
        thread has been resumed (or is gone) and waiting should go on."""
        if tid == self.doorbell.pid:
            if os.WIFSTOPPED(status):
                self.doorbell.answer()  # before the owner looks at what woke it
                return "wake"
            return None  # it ended (closed)
        if tid in self._forks or (self.follow is not None and tid not in self.threads
                                  and _is_new_process(tid, self.pid)):
            self._child_status(tid, status)
            return None
        th = self.threads.get(tid)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            self.threads.pop(tid, None)
            if tid == self.pid:
                self.exit_code = _decode_exit(status)
                return "exited"
            return None
        if not os.WIFSTOPPED(status):
            return None
        if th is None:  # a new thread whose clone event we have not seen yet
            th = Thread(tid, sigstop_expected=True, new=True)
            self.threads[tid] = th
        th.stopped = True
        first = th.new
        if th.new:
            th.new = False
            if self.on_new_thread is not None:
                self.on_new_thread(tid)
        sig = os.WSTOPSIG(status)
        event = status >> 16
        th.stop_sig = 0 if event else sig
        if event == sc.PTRACE_EVENT_STOP and self.seized:
            # our PTRACE_INTERRUPT, or a seized clone's first stop (a group-stop by someone
            # else's SIGSTOP too: resumed like one of ours)
            th.sigstop_expected = False
            return "sigstop"
        if event == sc.PTRACE_EVENT_CLONE:
            new_tid = pt.ptrace_geteventmsg(tid)
            if new_tid not in self.threads:
                self.threads[new_tid] = Thread(new_tid, sigstop_expected=True, new=True)
            return "clone"
        if event in (sc.PTRACE_EVENT_FORK, sc.PTRACE_EVENT_VFORK):
            self._forks.add(pt.ptrace_geteventmsg(tid))
            return "event"
        if event:
            return "event"
        if sig == signal.SIGSTOP:
            # Every SIGSTOP is dapgo's own (or a stray one): suppressed, never delivered.
            th.sigstop_expected = False
            return "held" if first and self.hold_new_threads else "sigstop"
        if sig == signal.SIGTRAP:
            if tid == self._stepping:
                return "step"
            code = pt.ptrace_getsiginfo(tid).si_code
            pc = self.pc(tid)
            if code in (sc.SI_KERNEL, sc.TRAP_BRKPT) and pc - 1 in self._saved:
                self.set_pc(tid, pc - 1)
                return "breakpoint"
            th.trap = True
            return "trap"
        if sig == STOP_SIGNAL_ATTACHED and self.seized:
            # A uprobe's stop (sent by the kernel), or the Go runtime's preemption signal,
            # or both merged into one: the engine asks the kernel which (a trap); the
            # runtime's is passed on when the thread resumes.
            if pt.ptrace_getsiginfo(tid).si_code != sc.SI_KERNEL:
                th.pending_signal = sig
            th.trap = True
            return "trap"
        th.pending_signal = sig
        return "signal"

    def _child_status(self, pid: int, status: int) -> None:
        """A wait status of a child between its fork and its exec (followExec): let it run
        to its exec, then let it go or hand it to `adopt`."""
        if os.WIFEXITED(status) or os.WIFSIGNALED(status) or not os.WIFSTOPPED(status):
            self._forks.discard(pid)
            return
        self._forks.add(pid)
        event = status >> 16
        if event == sc.PTRACE_EVENT_EXEC:
            self._forks.discard(pid)
            try:
                follow = self.follow is not None and self.hand_over is not None \
                    and self.follow(pid)
            except Exception:
                follow = False
            if follow:  # a signal given to PTRACE_DETACH in an event stop is ignored
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGSTOP)
            try:
                pt.ptrace_detach(pid, 0)
            except Exception:
                return
            if follow and self.hand_over is not None:
                self.hand_over(pid)
            return
        sig = os.WSTOPSIG(status)
        deliver = 0 if event or sig in (signal.SIGSTOP, signal.SIGTRAP) else sig
        with contextlib.suppress(Exception):
            pt.ptrace_cont(pid, deliver)

    def _cont(self, tid: int) -> None:
        th = self.threads[tid]
        sig, th.pending_signal = th.pending_signal, 0
        th.trap = False
        th.stop_sig = 0
        try:
            th.pc = th.regs = None
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

    def wait_event(self) -> StopEvent:
        """Wait for the next breakpoint, trap or exit, or for the doorbell ("wake"). Only
        the thread that reports it is stopped: the caller either lets it go on
        (`resume_thread`) or stops the rest (`stop_others`)."""
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
            if kind in ("breakpoint", "trap", "wake"):
                return StopEvent(kind, tid=tid)
            if kind == "held":
                continue  # a new thread kept stopped (hold_new_threads)
            # clone events, our own SIGSTOPs, ordinary signals: the thread goes on
            self._cont(tid)

    def event_pending(self) -> bool:
        """Would `wait_event` find a status waiting (a thread's stop, an exit, the
        doorbell)? waitid with WNOWAIT leaves it to be collected."""
        try:
            return os.waitid(os.P_ALL, 0, os.WEXITED | os.WSTOPPED | os.WNOHANG | os.WNOWAIT
                             | sc.WALL | sc.WNOTHREAD) is not None
        except ChildProcessError:
            return True  # no child left: wait_event says the program exited
        except InterruptedError:
            return True

    def stop_others(self, ev: StopEvent) -> StopEvent:
        """Stop every thread after `wait_event` and list every thread that sits on one of our
        breakpoints or stopped on a trap (simultaneous hits included), `ev.tid` first."""
        self.stop_all()
        found = self.stopped_at_events()
        bps = found.breakpoint_tids if found else ()
        traps = found.trap_tids if found else ()
        first = (ev.tid,)
        return StopEvent(
            ev.kind, tid=ev.tid,
            breakpoint_tids=(first + tuple(t for t in bps if t != ev.tid)) if ev.tid in bps
            else bps,
            trap_tids=(first + tuple(t for t in traps if t != ev.tid)) if ev.tid in traps
            else traps,
        )

    def stopped_at_events(self) -> StopEvent | None:
        """With every thread stopped: those that sit on a breakpoint of ours or stopped on a
        trap (they would lose that stop if simply resumed); None when there are none."""
        bps = tuple(t.tid for t in self.threads.values()
                    if t.stopped and not t.trap and self._safe_pc(t.tid) in self._saved)
        traps = tuple(t.tid for t in self.threads.values() if t.stopped and t.trap)
        if not bps and not traps:
            return None
        return StopEvent("breakpoint" if bps else "trap", tid=(bps or traps)[0],
                         breakpoint_tids=bps, trap_tids=traps)

    def resume_thread(self, tid: int) -> None:
        """Let one stopped thread go on while the others run. A thread sitting on one of our
        breakpoints is stepped over it with every other thread stopped, so no thread can run
        past the address while its original instruction is restored; if anything stopped
        the other threads meanwhile, everything resumes."""
        others_stopped = any(t.stopped for t in self.threads.values() if t.tid != tid)
        if others_stopped or self._safe_pc(tid) in self._saved:
            self.stop_all()
            self.resume()
            return
        self._cont(tid)

    def thread_sleeping(self, tid: int) -> bool:
        """Whether running thread `tid` sleeps in the kernel (state S or D)."""
        try:
            with open(f"/proc/{self.pid}/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return False
        return stat[stat.rfind(b")") + 2:][:1] in (b"S", b"D")

    def _safe_pc(self, tid: int) -> int | None:
        try:
            return self.pc(tid)
        except Exception:
            return None

    # ----- all-stop -----

    def stop_all(self) -> list[int]:
        """Stop every thread (new threads included) and wait until each is stopped; returns
        the threads that were running."""
        was_running: list[int] = []
        while True:
            running = [t for t in self.threads.values() if not t.stopped]
            if not running:
                return was_running
            was_running.extend(t.tid for t in running)
            for th in running:
                if not th.sigstop_expected:
                    th.sigstop_expected = True
                    if not self._interrupt(th.tid):
                        th.sigstop_expected = False
            for th in running:
                if th.tid in self.threads and not th.stopped:
                    try:
                        self._wait_thread_stopped(th.tid)
                    except ChildProcessError:
                        self.threads.pop(th.tid, None)

    def _interrupt(self, tid: int) -> bool:
        """Ask a thread to stop: PTRACE_INTERRUPT when seized, else SIGSTOP. False when the
        thread is gone."""
        if not self.seized:
            return sc.tgkill(self.pid, tid, signal.SIGSTOP)
        try:
            pt.ptrace(sc.PTRACE_INTERRUPT, tid, 0, 0)
        except Exception:
            return False
        return True

    def trap_signal(self, tid: int) -> int:
        """The signal a thread stopped on a trap took (SIGTRAP, or STOP_SIGNAL_ATTACHED)."""
        th = self.threads.get(tid)
        return th.stop_sig if th is not None and th.stop_sig else signal.SIGTRAP

    def park(self) -> None:
        """Seized only, every thread stopped: move each thread whose stop would deliver a
        SIGTRAP or SIGSTOP if dapgo died now into an interrupt stop, which delivers
        nothing. No instruction runs meanwhile: the thread's pending interrupt traps
        before it returns to user mode."""
        if not self.seized or self.exit_code is not None:
            return
        for th in list(self.threads.values()):
            if not th.stopped or th.stop_sig not in _HAZARDS or th.pending_signal:
                continue
            trap, pc, regs = th.trap, th.pc, th.regs
            try:
                pt.ptrace(sc.PTRACE_INTERRUPT, th.tid, 0, 0)
                th.sigstop_expected = True
                pt.ptrace_cont(th.tid, 0)
            except Exception:
                continue
            th.stopped = False
            try:
                self._wait_thread_stopped(th.tid)
            except ChildProcessError:
                self.threads.pop(th.tid, None)
                continue
            if th.tid in self.threads:
                # the same stop (no instruction ran), now harmless; a stale probe signal
                # that was pending may have come first: the interrupt then stays pending
                th.trap, th.pc, th.regs = trap, pc, regs

    def resume(self, tids: list[int] | None = None) -> None:
        """Resume the stopped threads `tids` (all when None), stepping those on breakpoints
        over the original instruction first."""
        chosen = [th for th in list(self.threads.values())
                  if th.stopped and (tids is None or th.tid in tids)]
        for th in chosen:
            if th.tid in self.threads and self._safe_pc(th.tid) in self._saved:
                self.step_instruction(th.tid)
        for th in chosen:
            if th.tid in self.threads and th.stopped:
                self._cont(th.tid)

    def step_instruction(self, tid: int) -> bool:
        """Execute the instruction at `tid`'s pc (the original one, if a breakpoint of ours
        sits there) with every other thread stopped."""
        pc = self.pc(tid)
        if pc in self._saved:
            self.mem.write(pc, self._saved[pc])
            try:
                return self.single_step(tid)
            finally:
                if pc in self._saved and self.exit_code is None:
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
                th.pc = th.regs = None
                pt.ptrace(pt.PTRACE_SINGLESTEP, tid, 0, 0)
                th.stopped = False
                wtid, status = self._wait(tid)
                kind = self._handle_status(wtid, status)
                if kind == "step":
                    return True
                if kind == "trap" and th.stop_sig == STOP_SIGNAL_ATTACHED:
                    # a uprobe's stop on the stepped instruction (the engine asks the kernel
                    # which, after the step) or the runtime's signal: step on, keeping it
                    th.trap = False
                    if th.pending_signal:
                        deferred, th.pending_signal = th.pending_signal, 0
                if kind is None or kind == "exited":
                    return False
                if kind == "signal":
                    deferred, th.pending_signal = th.pending_signal or deferred, 0
        finally:
            self._stepping = None
            if tid in self.threads:
                self.threads[tid].pending_signal = deferred

    # ----- breakpoints -----

    @property
    def breakpoints(self) -> frozenset[int]:
        return frozenset(self._saved)

    def insert_breakpoint(self, addr: int) -> None:
        if addr in self._saved:
            return
        original = self.mem.read(addr, 1)
        self.mem.write(addr, b"\xcc")
        self._saved[addr] = original

    def remove_breakpoint(self, addr: int) -> None:
        original = self._saved.pop(addr, None)
        if original is not None and self.exit_code is None:
            self.mem.write(addr, original)

    # ----- memory -----

    def read_memory(self, addr: int, size: int) -> bytes:
        """Program memory as the program sees it (our int3 bytes hidden)."""
        data = self.mem.read(addr, size)
        if not self._saved:
            return data
        patched = bytearray(data)
        for bp, orig in self._saved.items():
            if addr <= bp < addr + size:
                patched[bp - addr] = orig[0]
        return bytes(patched)

    def raw_reader(self) -> RawRead:
        return self.mem.read

    def vector_reader(self) -> VectorRead | None:
        pid = self.pid
        return lambda ranges, into: sc.read_vectored(pid, ranges, into)

    def write_memory(self, addr: int, data: bytes) -> None:
        """Write as the program would see it: where one of our int3 bytes sits, the byte
        written becomes the one restored when the breakpoint goes, and the int3 stays."""
        hidden = [bp for bp in self._saved if addr <= bp < addr + len(data)]
        if hidden:
            patched = bytearray(data)
            for bp in hidden:
                self._saved[bp] = bytes([data[bp - addr]])
                patched[bp - addr] = 0xCC
            data = bytes(patched)
        self.mem.write(addr, data)

    def memory_map(self) -> list[MemoryRegion]:
        out = []
        with open(f"/proc/{self.pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                lo, hi = parts[0].split("-")
                out.append(MemoryRegion(int(lo, 16), int(hi, 16), parts[1], int(parts[2], 16),
                                        parts[5].strip() if len(parts) > 5 else ""))
        return out

    def auxv(self) -> dict[int, int]:
        with open(f"/proc/{self.pid}/auxv", "rb") as f:
            return parse_auxv(f.read())

    # ----- registers -----

    def _on_tracer(self) -> None:
        if threading.get_ident() != self._tracer:
            raise TracerThreadOnly("ptrace is for the thread that traces the program")

    def registers(self, tid: int) -> Registers:
        """A stopped thread's registers (read once per stop; a resume or a write forgets
        them)."""
        th = self.threads.get(tid)
        if th is not None and th.regs is not None:
            return th.regs
        self._on_tracer()
        raw = pt.ptrace_getregs(tid)
        values = {name: int(getattr(raw, name)) for name, _ in raw._fields_}
        regs = Registers(pc=values["rip"], sp=values["rsp"], bp=values["rbp"],
                         fs_base=values["fs_base"], values=values)
        if th is not None and th.stopped:
            th.regs, th.pc = regs, regs.pc
        return regs

    def pc(self, tid: int) -> int:
        """rip of a stopped thread (read once per stop: every decision on a hot trap or
        breakpoint path asks for it)."""
        th = self.threads.get(tid)
        if th is not None and th.pc is not None:
            return th.pc
        self._on_tracer()
        try:
            pc = int(pt.ptrace_getregs(tid).rip)
        except PtraceError as exc:
            if exc.errno == errno.ESRCH:  # killed under us (the program is exiting)
                raise ProcessLookupError(errno.ESRCH, f"thread {tid} is gone") from exc
            raise
        if th is not None and th.stopped:
            th.pc = pc
        return pc

    def set_pc(self, tid: int, pc: int) -> None:
        self.set_registers(tid, {"rip": pc})

    def set_registers(self, tid: int, values: dict[str, int]) -> None:
        """Write the named general registers of a stopped thread (the others unchanged)."""
        self._on_tracer()
        th = self.threads.get(tid)
        if th is not None:
            th.pc = th.regs = None
        regs = pt.ptrace_getregs(tid)
        for name, value in values.items():
            setattr(regs, name, value & 0xFFFFFFFFFFFFFFFF)
        pt.ptrace_setregs(tid, regs)

    def fp_state(self, tid: int) -> bytes:
        """The thread's x87/SSE state (the 512-byte FXSAVE area: XMM0-15 at 160)."""
        self._on_tracer()
        return bytes(pt.ptrace_getfpregs(tid))

    def set_fp_state(self, tid: int, data: bytes) -> None:
        self._on_tracer()
        regs = pt.user_fpregs_struct.from_buffer_copy(data)
        pt.ptrace_setfpregs(tid, regs)

    def debug_register(self, tid: int, index: int) -> int:
        self._on_tracer()
        return int(pt.ptrace_peekuser(tid, sc.DEBUGREG_OFFSET + 8 * index))

    def set_debug_register(self, tid: int, index: int, value: int) -> None:
        self._on_tracer()
        pt.ptrace_pokeuser(tid, sc.DEBUGREG_OFFSET + 8 * index, value)

    # ----- ending -----

    def detach(self) -> None:
        """Leave the program running untraced: breakpoints removed, no stop left pending."""
        if self.exit_code is not None:
            self._close()
            return
        self.stop_all()
        for addr in list(self._saved):
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
        for pid in self._forks:  # children on their way to exec (followExec): let them go
            with contextlib.suppress(Exception):
                pt.ptrace_detach(pid, 0)
        self._forks.clear()
        self.threads.clear()
        self._close()
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
        self._close()
        return self.exit_code

    def _close(self) -> None:
        self.mem.close()
        self.doorbell.close()
