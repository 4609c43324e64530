"""Breakpoints in the kernel: logpoints and conditions as eBPF uprobes, int3 otherwise.

For every user breakpoint with a log message, a condition or a hit condition, `place`
decides between a uprobe (the program never stops for it) and an int3 (ptrace evaluates
it), and says on the console why when it must be an int3. The eBPF backend
(dapgo.engine.bpf.logpoints) is made on first use: bcc compiles the program then, never on
the way to the first stop.

A logpoint whose message is a metric directive (`{#count}`, `{#latency by team}`: see
dapgo.engine.metrics) is a metric point: only ever in the kernel (never an int3 that would
stop the program on every hit; unverified, saying why, when the kernel cannot take it).
`dapgo metrics` in the console shows their counters; a removed metric point's final
figures are printed when it goes.

Records: a poller thread waits on the ring buffer and hands raw records over (a queue the
owner thread drains); only the owner thread decodes them (it owns the logpoints) and turns
them into output. Which condition stopped which thread comes from the kernel's `signals`
map, read by the owner when the SIGTRAP arrives.
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from dapgo.engine.bpf.ahead import configured_ringbuf_pages
from dapgo.engine.bpf.layout import WATCH_SIGNAL_ID
from dapgo.engine.breakpoints import BreakpointTable, UserBreakpoint
from dapgo.engine.errors import DebuggerError
from dapgo.engine.instructions import decode_one, transfers_control
from dapgo.engine.metrics import MetricSpec, Series, histogram, parse_metric, table
from dapgo.engine.model import EngineEvent, Output
from dapgo.engine.program import Program

if TYPE_CHECKING:  # the eBPF backend is imported on first use: bcc is slow to import
    from dapgo.engine.bpf.logpoints import BpfLogpoints
    from dapgo.engine.bpf.ringbuf import Record

POLL_SECONDS = 0.05
FIRST_PROBE_ID = 2  # 0 and 1 are dapgo trace's
METRICS_HELP = """\
A metric point is a logpoint whose message is one directive; the program never stops for it
and no line is printed per hit: the kernel counts.
  {#count}                 hits of the line           {#count by goroutine}
  {#latency}               calls of the line's function, entry to return, timed
  {#latency by KEY}        ... split by the value of pprof label KEY (e.g. {#latency by team})
dapgo metrics              every metric point: count, rate since the last look, p50/p90/p99,
                           max and mean latency
dapgo metrics -hist        the latency histograms (log2 buckets)
"""


@attrs.define
class _Metric:
    """A metric point in the kernel: what it measures and where it is."""

    spec: MetricSpec
    name: str
    since: float
    seen: dict[str, tuple[float, int]] = attrs.field(factory=dict)  # key -> (time, count)


class KernelProbes:
    def __init__(self, program: Program, table: BreakpointTable,
                 post: Callable[[Callable[[], None]], None],
                 emit: Callable[[EngineEvent], None]) -> None:
        """`post(fn)` runs `fn` on the owner thread (from the poller thread)."""
        self.program = program
        self.table = table
        self.post = post
        self.emit = emit
        self._backend: BpfLogpoints | str | None = None  # a string says why there is none
        self._poller: threading.Thread | None = None
        self._stop_polling = threading.Event()
        # from the poller, in order, for the owner thread: raw records, and the kernel's
        # count of records it could not write (the only things the two threads share)
        self._inbox: collections.deque[tuple[list[Record], int]] = collections.deque()
        self._lost_told = 0
        # every attachment gets a fresh probe id (records and signals name it): a record
        # made under an edited logpoint's old message is rendered with that message
        self._probe_ids = itertools.count(FIRST_PROBE_ID)
        self._probe_of: dict[int, int] = {}  # breakpoint id -> its probe id now
        self._bp_of: dict[int, int] = {}  # probe id (current or not) -> breakpoint id
        self._watch_hits: dict[int, int] = {}  # thread -> address its watch event saw
        self._metrics: dict[int, _Metric] = {}  # probe id -> the metric point it is

    @property
    def in_use(self) -> bool:
        return self._backend is not None and not isinstance(self._backend, str)

    # ----- placing breakpoints -----

    def _wants(self, bp: UserBreakpoint) -> bool:
        """A breakpoint the kernel could evaluate: a logpoint or one with a condition; in an
        attached program, every breakpoint (no int3 may be left in it if dapgo dies)."""
        return bool(bp.addresses) and (self.program.attached or bp.is_logpoint
                                       or bool(bp.condition) or bool(bp.hit_condition))

    def prepare(self, bps: list[UserBreakpoint]) -> None:
        """Make the eBPF backend now if `bps` may need it: bcc compiles the BPF program
        then (~0.4 s), which is better done before the program is halted to place them."""
        if any(self._wants(bp) for bp in bps):
            self._get_backend()

    def place(self, dropped: list[UserBreakpoint]) -> list[UserBreakpoint]:
        """Decide, for every breakpoint, between a uprobe in the kernel and an int3, then
        make the program (stopped) match. Returns the breakpoints whose status changed.

        A logpoint or a breakpoint with a condition / hit condition goes to the kernel when
        eBPF is available, every expression can be read there, and no other breakpoint uses
        the same address (an address carries either one uprobe or int3s); otherwise it is
        an int3 (the program stops briefly on each hit) and the console says why."""
        for bp in dropped:
            if bp.in_kernel:
                self._remove(bp)
        everything = self.table.all()
        users = Counter(a for bp in everything for a in bp.addresses)
        joining: list[UserBreakpoint] = []
        refused: list[UserBreakpoint] = []
        for bp in everything:
            wants = self._wants(bp)
            spec = (tuple(bp.addresses), bp.log_message, bp.condition, bp.hit_condition)
            if wants and any(users[a] > 1 for a in bp.addresses):
                if bp.in_kernel:
                    self._remove(bp)
                if self._is_metric(bp):
                    self._refuse(bp, "another breakpoint is at the same address", refused)
                    continue
                if bp.kernel_spec != ("shared", *spec):
                    self._say_ptrace(bp, "another breakpoint is at the same address")
                bp.kernel_spec = ("shared", *spec)
                continue
            if not wants:
                if bp.in_kernel:
                    self._remove(bp)
                bp.kernel_spec = ()
                continue
            if bp.kernel_spec == (spec if bp.in_kernel else ("ptrace", *spec)):
                continue  # unchanged (in the kernel, or refused by it and said so)
            if bp.in_kernel:
                self._remove(bp)
            bp.kernel_spec = spec
            bp.in_kernel = True  # tentatively: its int3s go before the uprobe comes
            joining.append(bp)
        process = self.program.process
        changed = self.table.sync(process)
        failed = False
        for bp in joining:
            why = self._add(bp)
            if why is not None and self._is_metric(bp):
                bp.in_kernel = False
                self._refuse(bp, why, refused)
            elif why is not None:
                bp.in_kernel = False
                bp.kernel_spec = ("ptrace", *bp.kernel_spec)
                failed = True
                self._say_ptrace(bp, why)
        if failed:
            changed += self.table.sync(process)
        return changed + refused

    @staticmethod
    def _is_metric(bp: UserBreakpoint) -> bool:
        try:
            return parse_metric(bp.log_message) is not None
        except DebuggerError:
            return False

    @staticmethod
    def _refuse(bp: UserBreakpoint, why: str, refused: list[UserBreakpoint]) -> None:
        """A metric point the kernel cannot take is unverified: never an int3 instead."""
        bp.addresses, bp.probe_sites, bp.kernel_spec = [], [], ()
        bp.message = f"metric point: {why}"
        refused.append(bp)

    def _say_ptrace(self, bp: UserBreakpoint, why: str) -> None:
        where = f"{bp.path}:{bp.line}" if bp.path else bp.key
        if not (bp.is_logpoint or bp.condition or bp.hit_condition):
            self.emit(Output("console", f"dapgo: the breakpoint at {where} is an int3 in the "
                                        "attached program: if dapgo is killed, the program "
                                        f"dies when it reaches it ({why})\n"))
            return
        what = "logpoint" if bp.is_logpoint else "condition"
        self.emit(Output("console", f"dapgo: the {what} at {where} is evaluated with ptrace "
                                    f"(the program stops briefly on every hit): {why}\n"))

    def _add(self, bp: UserBreakpoint) -> str | None:
        """Attach `bp` as a uprobe; the reason when it cannot be."""
        backend = self._get_backend()
        if isinstance(backend, str):
            return backend
        spec = parse_metric(bp.log_message)
        if spec is not None:
            return self._add_metric(backend, bp, spec)
        stop = not bp.is_logpoint
        if stop and not self.program.attached:
            # (an attached program's stop after a call or jump is moved back: rewind())
            jump = next((a for a in bp.addresses if self._transfers_control(a)), None)
            if jump is not None:
                return (f"the line starts with a call or jump ({jump:#x}): a uprobe's stop "
                        "lands after the instruction, which would be in another place")
        probe_id = next(self._probe_ids)
        try:
            res = backend.add(probe_id, list(bp.addresses), message=bp.log_message,
                              condition=bp.condition, hit_condition=bp.hit_condition,
                              stop=stop)
        except Exception as exc:  # e.g. no uprobe_multi links in this kernel
            return f"the uprobe could not be attached ({exc})"
        if res.fallback is not None:
            return res.fallback
        self._probe_of[bp.id] = probe_id
        self._bp_of[probe_id] = bp.id
        self._start_poller(backend)
        return None

    def _add_metric(self, backend: BpfLogpoints, bp: UserBreakpoint, spec: MetricSpec
                    ) -> str | None:
        from dapgo.engine.bpf.metrics import metric_descs
        from dapgo.engine.bpf.reads import NotReadable

        probe_id = next(self._probe_ids)
        try:
            descs = metric_descs(backend.s, spec, list(bp.addresses))
            backend.s.add_group(probe_id, descs)
        except NotReadable as exc:
            return str(exc)
        except Exception as exc:  # AttachError: an address taken by another probe, ...
            hint = ("; a function's calls are timed by one latency metric point at a time"
                    if "already has a probe" in str(exc) else "")
            return f"the uprobes could not be attached ({exc}){hint}"
        bp.probe_sites = sorted(descs)
        where = f"{os.path.basename(bp.path)}:{bp.line}" if bp.path else bp.key
        self._metrics[probe_id] = _Metric(spec, f"{where} {spec.kind}", time.monotonic())
        self._probe_of[bp.id] = probe_id
        self._bp_of[probe_id] = bp.id
        return None

    def _remove(self, bp: UserBreakpoint) -> None:
        probe_id = self._probe_of.pop(bp.id, None)
        if self.in_use and probe_id is not None:
            assert not isinstance(self._backend, str) and self._backend is not None
            if probe_id in self._metrics:
                self._final_figures([probe_id])
                del self._metrics[probe_id]
                self._backend.s.remove_group(probe_id)
            else:
                self._backend.remove(probe_id)
        bp.in_kernel = False
        bp.probe_sites = []

    # ----- metric points -----

    def _series(self, probe_id: int) -> list[Series]:
        from dapgo.engine.bpf.metrics import read_series

        assert not isinstance(self._backend, str) and self._backend is not None
        return read_series(self._backend.s, probe_id, self._metrics[probe_id].spec)

    def metrics_command(self, args: str) -> str:
        """`dapgo metrics [-hist | -help]`: the metric points' figures now."""
        words = args.split()
        if words and words[0] in ("-help", "-h", "help"):
            return METRICS_HELP
        if words and words[0] not in ("-hist",):
            raise DebuggerError(f"dapgo metrics: unknown option {words[0]!r} "
                                "(see `dapgo metrics -help`)")
        if not self._metrics:
            return ("no metric points: set a logpoint whose message is {#count} or "
                    "{#latency} (see `dapgo metrics -help`)\n")
        if words:
            parts = [f"{m.name}\n" + histogram(s) for pid, m in sorted(self._metrics.items())
                     if m.spec.kind == "latency" for s in self._series(pid)]
            return "\n".join(parts) + "\n" if parts else "no latency metric points\n"
        return self._table(sorted(self._metrics)) + self._full_note()

    def _table(self, probe_ids: list[int]) -> str:
        now = time.monotonic()
        rows = []
        for pid in probe_ids:
            m = self._metrics[pid]
            for s in self._series(pid):
                then, before = m.seen.get(s.key, (m.since, 0))
                rows.append((m.name, m.spec.kind, s, (s.count - before) / max(now - then,
                                                                              1e-9)))
                m.seen[s.key] = (now, s.count)
        if not rows:
            return "no hits yet\n"
        return table(rows) + "\n"

    def _full_note(self) -> str:
        assert not isinstance(self._backend, str) and self._backend is not None
        full = self._backend.s.program.metrics_full()
        return (f"dapgo: {full} hits were not counted: too many distinct keys "
                "(goroutines or label values)\n") if full else ""

    def _final_figures(self, probe_ids: list[int]) -> None:
        """Print what metric points counted before they go (removed, or the session ends)."""
        try:
            text = self._table(probe_ids)
        except Exception:  # the program's maps are gone: nothing left to say
            return
        if text != "no hits yet\n":
            self.emit(Output("console", "dapgo: final metric figures\n" + text))

    def _get_backend(self) -> BpfLogpoints | str:
        if self._backend is None:
            ahead, self.program.bpf_ahead = self.program.bpf_ahead, None
            try:
                from dapgo.engine.bpf.logpoints import BpfLogpoints

                stop = signal.SIGURG if self.program.attached else signal.SIGTRAP
                compiled = ahead.take() if ahead is not None \
                    and ahead.stop_signal == stop else None
                self._backend = BpfLogpoints(self.program.binary, self.program.pid,
                                             ringbuf_pages=configured_ringbuf_pages(),
                                             stop_signal=int(stop), program=compiled)
            except Exception as exc:  # no bcc, no BPF permission, no headers, old kernel
                self._backend = f"eBPF is not available here ({exc}); see `dapgo doctor`"
            finally:
                if ahead is not None:
                    ahead.discard()  # not taken: unloaded
        return self._backend

    # ----- instructions at probe sites -----

    def past_probe(self, addr: int) -> int | None:
        """For a stepping target at an address that carries a uprobe: the address of the
        next instruction (where the thread stands after the probe ran the instruction
        out of line); None when `addr` has no uprobe, or its instruction transfers control."""
        if not self.table.probed(addr):
            return None
        insn = self._instruction(addr)
        return addr + insn.size if insn is not None and not transfers_control(insn) else None

    def _transfers_control(self, addr: int) -> bool:
        """Is the instruction at `addr` a call, jump or return (or undecodable)?"""
        insn = self._instruction(addr)
        return insn is None or transfers_control(insn)

    def _instruction(self, addr: int) -> Any:
        return decode_one(self.program.binary.read_text(addr, 16) or b"", addr)

    # ----- what the kernel says -----

    def signalled(self, tid: int) -> list[UserBreakpoint] | None:
        """The breakpoints whose in-kernel condition held and stopped thread `tid` (its
        SIGTRAP), each counted as a hit (empty when that breakpoint has been removed or
        changed since); None when no condition stopped it."""
        if not self.in_use:
            return None
        assert not isinstance(self._backend, str) and self._backend is not None
        probe_id = self._backend.take_signal(tid)
        ip = self._backend.take_signal_ip(tid)
        if probe_id is None:
            return None
        if probe_id == WATCH_SIGNAL_ID:  # a data breakpoint's event: for DataBreakpoints
            if ip is not None:
                self._watch_hits[tid] = ip
            return None
        if ip is not None and self.program.attached:
            self.rewind(tid, ip)
        if self._probe_of.get(self._bp_of.get(probe_id, -1)) != probe_id:
            return []  # its probe is gone: the stop is for a condition no longer set
        bps = self.table.by_ids([self._bp_of[probe_id]])
        for bp in bps:
            bp.hits += 1
        return bps

    def take_watch_hit(self, tid: int) -> int | None:
        """The watched address whose hardware breakpoint event stopped `tid`, once (asks
        the kernel when `signalled` has not yet)."""
        if tid not in self._watch_hits:
            self.signalled(tid)
        return self._watch_hits.pop(tid, None)

    def open_watch(self, tid: int, addr: int, size: int, read_too: bool) -> int:
        """A hardware breakpoint on `tid` as a perf event stopping it with a harmless
        signal (see dapgo.engine.watch_events); OSError when eBPF cannot."""
        backend = self._get_backend()
        if isinstance(backend, str):
            raise OSError(backend)
        return backend.open_watch(tid, addr, size, read_too)

    def forget_signal(self, tid: int) -> None:
        """Drop what the kernel says stopped `tid`: a hit already reported (see
        Runner._leave_reported)."""
        if self.in_use:
            assert not isinstance(self._backend, str) and self._backend is not None
            self._backend.take_signal(tid)
            self._backend.take_signal_ip(tid)

    def rewind(self, tid: int, ip: int) -> None:
        """A uprobe's stop lands after the probed instruction: after a call, jump or return
        that is somewhere else. Such an instruction is undone (a call pops its return
        address back, a return pushes it again: the bytes are still in memory), so the
        thread stands at the breakpoint's address, as at an int3; leaving it re-executes
        the instruction (Runner._leave_reported). Other instructions stay done."""
        insn = self._instruction(ip)
        if insn is None or not transfers_control(insn):
            return
        process = self.program.process
        sp = process.registers(tid).sp
        mnemonic = insn.mnemonic
        if mnemonic.startswith("call"):
            if process.read_memory(sp, 8) != (ip + insn.size).to_bytes(8, "little"):
                return  # not where this call went: leave it
            sp += 8
        elif mnemonic.startswith("ret"):
            sp -= 8
        process.set_registers(tid, {"rip": ip, "rsp": sp})

    def _start_poller(self, backend: BpfLogpoints) -> None:
        if self._poller is not None:
            return
        self._stop_polling.clear()
        self._poller = threading.Thread(target=self._poll, args=(backend,), daemon=True,
                                        name="dapgo-bpf-poll")
        self._poller.start()

    def _poll(self, backend: BpfLogpoints) -> None:
        """The poller thread: wait for records and hand them, raw, to the owner thread."""
        session = backend.s
        lost_seen = 0
        while not self._stop_polling.is_set():
            records = session.poll(POLL_SECONDS)
            lost = session.lost()
            if records or lost > lost_seen:
                lost_seen = lost
                self._inbox.append((records, lost))
                self.post(self.deliver)

    def deliver(self) -> None:
        """On the owner thread: logpoint records as console output, one output event per
        logpoint per batch, in order; records the kernel had to drop are counted and said,
        never lost silently."""
        backend = self._backend
        if backend is None or isinstance(backend, str):
            self._inbox.clear()
            return
        lines: dict[int, list[str]] = {}
        lost = self._lost_told
        while self._inbox:
            records, lost_then = self._inbox.popleft()
            lost = max(lost, lost_then)
            for ev in backend.decode(records):
                if ev.message is not None:
                    lines.setdefault(ev.id, []).append(f"[Go {ev.goroutine}] {ev.message}\n")
        by_id = {bp.id: bp for bp in self.table.all()}
        for probe_id, texts in lines.items():
            bp = by_id.get(self._bp_of.get(probe_id, -1))
            self.emit(Output("console", "".join(texts), path=bp.path if bp else None,
                             line=bp.line if bp else None))
        if lost > self._lost_told:
            self.emit(Output("important", f"dapgo: {lost - self._lost_told} logpoint records "
                                          "were lost (the kernel's ring buffer was full)\n"))
            self._lost_told = lost

    def close(self) -> None:
        """Remove every uprobe and the BPF program; deliver what is still in the buffer."""
        self._stop_polling.set()
        if self._poller is not None:
            self._poller.join(timeout=2)
            self._poller = None
        backend = self._backend
        if backend is None or isinstance(backend, str):
            self._backend = None
            return
        if self._metrics:
            self._final_figures(sorted(self._metrics))
            self._metrics.clear()
        try:
            self._inbox.append((backend.s.drain(), backend.lost()))
            self.deliver()
        finally:
            self._backend = None
            backend.close()
        if self._lost_told:
            self.emit(Output("important", f"dapgo: {self._lost_told} logpoint records were "
                                          "lost in all (the kernel's ring buffer was full)\n"))
