"""Breakpoints in the kernel: logpoints and conditions as eBPF uprobes, with the ptrace
path as the fallback, and the poller that turns their records into output."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from functools import cache
from typing import TYPE_CHECKING, Any

from dapgo.engine.breakpoints import Breakpoint
from dapgo.engine.model import (
    Output,
)

if TYPE_CHECKING:  # the eBPF backend is imported on first use: bcc is slow to import
    from dapgo.engine.bpf.logpoints import BpfLogpoints, LogEvent

from dapgo.engine.facade.watch import DataBreakpoints


@cache
def _disassembler() -> Any:
    import capstone  # imported where instructions must be decoded, not at start-up

    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.detail = True  # instruction groups (call, jump, ret)
    return cs


def _transfers(insn: Any) -> bool:
    """A call, jump or return: control goes elsewhere than the next instruction."""
    import capstone

    return any(insn.group(g) for g in (capstone.CS_GRP_CALL, capstone.CS_GRP_JUMP,
                                       capstone.CS_GRP_RET))


class KernelBreakpoints(DataBreakpoints):
    """Logpoints and conditions run by uprobes in the kernel (eBPF), ptrace otherwise."""

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
        if stop:
            jump = next((a for a in bp.addresses if self._transfers_control(a)), None)
            if jump is not None:
                return (f"the line starts with a call or jump ({jump:#x}): a uprobe's stop "
                        "lands after the instruction, which would be in another place")
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

    def _past_probe(self, addr: int) -> int | None:
        """For a stepping target at an address that carries a uprobe: the address of the
        next instruction (where the thread stands after the probe ran the instruction
        out of line); None when `addr` has no uprobe, or its instruction transfers control."""
        if not any(bp.in_kernel and addr in bp.addresses for bp in self._bps.all()):
            return None
        insn = self._instruction(addr)
        return addr + insn.size if insn is not None and not _transfers(insn) else None

    def _transfers_control(self, addr: int) -> bool:
        """Is the instruction at `addr` a call, jump or return (or undecodable)?"""
        insn = self._instruction(addr)
        return insn is None or _transfers(insn)

    def _instruction(self, addr: int) -> Any:
        """The instruction at `addr` decoded by capstone, or None."""
        assert self._binary is not None
        code = self._binary.read_text(addr, 16) or b""
        return next(iter(_disassembler().disasm(code, addr, 1)), None)

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

                pages = os.environ.get("DAPGO_BPF_RINGBUF_PAGES")  # a power of two
                self._kernel_state = BpfLogpoints(self._binary, self._proc.pid,
                                                  ringbuf_pages=int(pages) if pages else None)
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

