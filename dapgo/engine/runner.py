"""Running the program, on the owner thread, while serving requests.

`run` lets the program go until the user must see a stop, a stepping target is reached, the
program exits, or a request ends the run (`interrupt`). While it waits for the program in
the kernel, a request rings the doorbell; the runner then serves the queued requests and
goes on waiting. A request that needs the program stopped runs inside `halted`: every
thread is stopped, the work done, the threads that were running resumed; a thread that
stopped for a reason of its own meanwhile (a breakpoint, a trap) is kept as an event for the
runner, so no hit is lost.

A thread's event is decided on that thread alone first: a hit that must not stop (a false
condition, a logpoint, an internal breakpoint) lets it go on without disturbing the
others; a stop the user must see stops every thread and collects simultaneous hits.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import TypeVar

from dapgo.engine.backend import StopEvent
from dapgo.engine.breakpoints import BreakpointTable
from dapgo.engine.hits import Hit, HitRules
from dapgo.engine.kernel_probes import KernelProbes
from dapgo.engine.lookahead import Lookahead
from dapgo.engine.outcome import INTERRUPTED, Outcome, exited
from dapgo.engine.owner import Owner
from dapgo.engine.program import Program

T = TypeVar("T")
log = logging.getLogger(__name__)
Targets = dict[int, Callable[[int], bool]]  # address -> "has thread t arrived?"


class Runner:
    def __init__(self, program: Program, owner: Owner, table: BreakpointTable,
                 rules: HitRules, kernel: KernelProbes, ring: Callable[[], None]) -> None:
        """`ring()` wakes this thread from any thread while it waits in the kernel."""
        self.program = program
        self.owner = owner
        self.table = table
        self.rules = rules
        self.kernel = kernel
        self._ring = ring
        self.interrupt: Outcome | None = None  # set by a request that ends the run
        self._held: collections.deque[StopEvent] = collections.deque()
        # thread -> the pc where its last reported hit stopped it: if a uprobe sits there
        # (a breakpoint turned conditional or into a logpoint while stopped on it, or an
        # attached program's stop moved back onto its call or jump), the thread must leave
        # it without the probe reporting the same hit again
        self._reported: dict[int, int] = {}
        self._lookahead: Lookahead | None = None  # DWARF decoded while the program runs

    # ----- waiting -----

    def _next_event(self) -> StopEvent | None:
        """The program's next event, serving requests meanwhile; None when a request ended
        the run."""
        proc = self.program.process
        while True:
            if self.interrupt is not None:
                return None
            if self._held:
                return self._held.popleft()
            with self.owner.waiting_with(self._ring) as queued:
                if not queued:
                    self._look_ahead()
                ev = StopEvent("wake") if queued else proc.wait_event()
            if ev.kind != "wake":
                return ev
            self.owner.serve()

    def plan_lookahead(self) -> None:
        """Look ahead to stops at the user's breakpoints (set or changed), in the owner
        thread's idle time and while the program runs."""
        binary = self.program.binary
        if self._lookahead is None or self._lookahead.binary is not binary:
            self._lookahead = Lookahead(binary, self.program.values.maps)
        # the user's own breakpoints before the exception filters' (a panic is rarer)
        bps = sorted((bp for bp in self.table.all() if not bp.is_logpoint),
                     key=lambda bp: bp.kind == "exception")
        self._lookahead.plan(a for bp in bps for a in bp.addresses)
        if self._lookahead.pending:  # else the owner thread stays free to lend
            self.owner.set_idle_work(self._lookahead.step)

    def _look_ahead_from(self, tid: int) -> None:
        """A stop at a breakpoint: its frame's lookahead first, in the owner thread's idle
        time (while the editor asks for threads and the stack)."""
        ahead = self._lookahead
        try:
            if ahead is not None and ahead.first(self.program.process.pc(tid)):
                self.owner.set_idle_work(ahead.step)
        except ProcessLookupError:
            pass

    def _look_ahead(self) -> None:
        """Decode what a stop at a breakpoint will show, step by step, until the program
        has an event or a request is queued (the doorbell is an event too)."""
        ahead = self._lookahead
        if ahead is None or not ahead.pending:
            return
        proc = self.program.process
        while not proc.event_pending() and ahead.step():
            pass

    def serve_between_steps(self) -> Outcome | None:
        """Between a step's single steps (every thread stopped): serve what is queued;
        the outcome when a request ended the step."""
        if self.owner.pending:
            self.owner.serve()
        return self.interrupt

    # ----- work with the program stopped -----

    def halted(self, fn: Callable[[], T]) -> T:
        """Run `fn` with every thread stopped, then resume the ones that were running.
        Threads found at a breakpoint or trap are kept stopped, as events for `run`."""
        proc = self.program.process
        was_running = proc.stop_all()
        try:
            return fn()
        finally:
            if self.interrupt is None and proc.exit_code is None and was_running:
                held = self._hold(was_running)
                proc.resume([t for t in was_running if t not in held])

    def _hold(self, was_running: list[int]) -> set[int]:
        """Of the threads just stopped, keep those at a breakpoint or trap as events."""
        found = self.program.process.stopped_at_events()
        held: set[int] = set()
        if found is not None:
            for t in found.breakpoint_tids:
                if t in was_running:
                    held.add(t)
                    self._held.append(StopEvent("breakpoint", tid=t))
            for t in found.trap_tids:
                if t in was_running:
                    held.add(t)
                    self._held.append(StopEvent("trap", tid=t))
        return held

    def _let_go(self, tid: int) -> None:
        """Let one stopped thread go on while the others run. Stepping it over an int3
        needs every other thread stopped meanwhile (none may pass the address while its
        instruction is restored): a thread caught at an event of its own then is kept."""
        proc = self.program.process
        try:
            at_breakpoint = proc.pc(tid) in proc.breakpoints
        except ProcessLookupError:  # killed since its event: the program's end comes by wait
            return
        if at_breakpoint:
            self.halted(lambda: proc.step_instruction(tid))
        if proc.has_thread(tid):
            proc.resume([tid])

    def hits_when_stopped(self, was_running: list[int]) -> list[Hit]:
        """Every thread just stopped (a pause): the hits of the threads that were running
        and sit at a breakpoint or stopped on a trap; they are not resumed past it unseen."""
        self._hold(was_running)
        events, self._held = list(self._held), collections.deque()
        if not events:
            return []
        hits = self._decide(StopEvent(
            events[0].kind, tid=events[0].tid,
            breakpoint_tids=tuple(e.tid for e in events if e.kind == "breakpoint"),
            trap_tids=tuple(e.tid for e in events if e.kind == "trap")))
        self._remember(hits)
        return hits

    def _remember(self, hits: list[Hit]) -> None:
        proc = self.program.process
        self._reported = {}
        for h in hits:
            if proc.has_thread(h.tid):
                self._reported[h.tid] = proc.pc(h.tid)

    def _leave_reported(self) -> None:
        """Threads still where their reported hit stopped them, at an address that now
        carries a uprobe: execute that instruction (every other thread stopped) and drop
        the stop the probe asks for: the hit has been reported already."""
        reported, self._reported = self._reported, {}
        proc = self.program.process
        for tid, pc in reported.items():
            if not proc.has_thread(tid) or proc.pc(tid) != pc or not self.table.probed(pc):
                continue
            if proc.step_instruction(tid):
                self.kernel.forget_signal(tid)

    # ----- running -----

    def run(self, targets: Targets | None = None) -> Outcome:
        """Resume every thread and wait for what the user must see, or for a thread to
        reach one of `targets` (a step); the program stopped again when it returns
        (unless it exited or a request ended the run)."""
        proc = self.program.process
        wanted = self._step_sites(targets or {})
        self.table.step_targets = frozenset(wanted)
        self.table.sync(proc)
        try:
            self._leave_reported()
            proc.resume()
            self.program.binary.warm_up()  # while the program runs to its first stop
            self.plan_lookahead()
            while True:
                ev = self._next_event()
                if ev is None:
                    return self.interrupt or INTERRUPTED
                if ev.kind == "exited":
                    return exited(ev.exit_code)
                tid = ev.tid
                # decide on the reporting thread alone first
                first = self._decide(StopEvent(
                    ev.kind, tid=tid,
                    breakpoint_tids=(tid,) if ev.kind == "breakpoint" else (),
                    trap_tids=(tid,) if ev.kind == "trap" else ()))
                arrived = (not first and ev.kind == "breakpoint" and targets is not None
                           and self._arrived(tid, wanted, targets))
                if not first and not arrived:
                    self._let_go(tid)
                    continue
                ev = proc.stop_others(ev)
                self._held.clear()  # every thread stopped: stop_others listed them all
                others = self._decide(StopEvent(
                    ev.kind, tid=tid,
                    breakpoint_tids=tuple(t for t in ev.breakpoint_tids if t != tid),
                    trap_tids=tuple(t for t in ev.trap_tids if t != tid)))
                if first or others:  # a hit elsewhere during a step abandons it (Delve)
                    self._remember(first + others)
                    self._look_ahead_from((first + others)[0].tid)
                    return Outcome("hits", hits=tuple(first + others))
                return Outcome("arrived", tid=tid, addr=wanted[proc.pc(tid)])
        finally:
            if self.table.step_targets:
                self.table.step_targets = frozenset()
                if proc.exit_code is None and self.interrupt is None:
                    self.table.sync(proc)

    # ----- for stepping (dapgo.engine.stepping.StepHost) -----

    def single_step(self, tid: int) -> Outcome | None:
        interrupted = self.serve_between_steps()
        if interrupted is not None:
            return interrupted
        proc = self.program.process
        if self._reported:
            at = self._reported.pop(tid, None)
            if at is not None and proc.pc(tid) == at and self.table.probed(at):
                # leaving the reported hit's address: the probe's stop is that hit again
                if not proc.step_instruction(tid):
                    return exited(proc.exit_code) if proc.exit_code is not None \
                        else self.run()
                self.kernel.forget_signal(tid)
                return None
        if not proc.step_instruction(tid):
            # the program ended, or only this thread did: then the others go on
            return exited(proc.exit_code) if proc.exit_code is not None else self.run()
        hits = self.rules.during_step(tid)
        return Outcome("hits", hits=tuple(hits)) if hits else None

    def run_to(self, targets: Targets) -> Outcome:
        return self.run(targets)

    def _decide(self, ev: StopEvent) -> list[Hit]:
        try:
            return self.rules.of(ev)
        except Exception as exc:  # never leave the program stopped and unreported
            log.exception("deciding on a stop failed")
            return [Hit(ev.tid, "breakpoint", (), f"dapgo internal error: {exc}")]

    def _step_sites(self, targets: Targets) -> dict[int, int]:
        """Addresses to put int3s on -> the target each stands for. A uprobe (an eBPF
        logpoint) takes the trap of an int3 at its own address: stop one instruction later
        there, where the thread goes on after the probed instruction (not possible after a
        call or jump: then the target stays, and may be missed)."""
        wanted: dict[int, int] = {}
        for a in targets:
            moved = self.kernel.past_probe(a)
            wanted[moved if moved is not None else a] = a
        return wanted

    def _arrived(self, tid: int, wanted: dict[int, int], targets: Targets) -> bool:
        pc = self.program.process.pc(tid)
        return pc in wanted and targets[wanted[pc]](tid)
