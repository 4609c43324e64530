"""Data breakpoints of an attached program as hardware breakpoint perf events.

Debug registers written with ptrace outlive a killed dapgo: the next write to the watched
variable then kills the program with SIGTRAP. A perf event of type PERF_TYPE_BREAKPOINT
uses the same debug registers but belongs to dapgo's file descriptor: the kernel removes it
when dapgo dies. Its BPF program (`dapgo_watch`) stops the writing thread with the uprobes'
harmless stop signal and names the address in the kernel's `signals` maps, so a hit reads
like a probe's stop. `PerfWatchSet` has the interface of hwbreak.DebugRegisterSet (slots,
apply per thread, fired per thread); where eBPF is not available, data_breakpoints uses
the debug registers as before.
"""

from __future__ import annotations

import os

from dapgo.engine.hwbreak import NUM_SLOTS, Slot
from dapgo.engine.kernel_probes import KernelProbes


class PerfWatchSet:
    def __init__(self, kernel: KernelProbes) -> None:
        self.kernel = kernel
        self.slots: list[Slot | None] = [None] * NUM_SLOTS
        self._fds: dict[int, list[int]] = {}  # thread -> its events

    @property
    def active(self) -> bool:
        return any(self.slots)

    def apply(self, tid: int) -> None:
        """Give one thread an event per slot (its previous events closed first)."""
        self._close(tid)
        fds: list[int] = []
        try:
            for slot in self.slots:
                if slot is not None:
                    fds.append(self.kernel.open_watch(tid, slot.addr, slot.size,
                                                      slot.access == "readWrite"))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        if fds:
            self._fds[tid] = fds

    def dr7(self, tid: int) -> int:
        """Nonzero while the thread has events (as DR7 is while registers are enabled)."""
        return len(self._fds.get(tid, ()))

    def fired(self, tid: int) -> list[Slot] | None:
        """The slots whose event stopped `tid`; None when none did."""
        addr = self.kernel.take_watch_hit(tid)
        if addr is None:
            return None
        return [s for s in self.slots if s is not None and s.addr == addr]

    def forget_threads(self, alive: set[int]) -> None:
        """Close the events of threads that have ended."""
        for tid in [t for t in self._fds if t not in alive]:
            self._close(tid)

    def close(self) -> None:
        for tid in list(self._fds):
            self._close(tid)

    def _close(self, tid: int) -> None:
        for fd in self._fds.pop(tid, []):
            try:
                os.close(fd)
            except OSError:
                pass
