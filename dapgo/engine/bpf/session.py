"""BpfSession: one loaded BPF program, one ring buffer, and groups of uprobes on one binary.

A group (a traced function set, one logpoint, one conditional breakpoint) is a set of probe
addresses, each with its descriptor, attached as one uprobe_multi link; removing the group
closes the link (every probe gone in one RCU grace period) and deletes its descriptors.
`close()` removes everything; so does the kernel if the process dies.
"""

from __future__ import annotations

import threading

from dapgo.engine.dwarf import BinaryInfo

from . import layout as L
from .attach import AttachError, UprobeLink
from .program import ProbeProgram
from .ringbuf import Record, RingReader


class BpfSession:
    def __init__(self, bi: BinaryInfo, pid: int, *,
                 ringbuf_pages: int = L.DEFAULT_RINGBUF_PAGES, stop_signal: int = 5) -> None:
        layout = bi.struct_layout("runtime.g")
        if layout is None:
            raise AttachError(0, "runtime.g is not described in DWARF: cannot find goroutine ids")
        self.bi = bi
        self.pid = pid
        self.program = ProbeProgram(goid_offset=layout.offset("goid"),
                                    ringbuf_pages=ringbuf_pages, stop_signal=stop_signal)
        self.reader = RingReader(self.program.events_fd, self.program.ringbuf_bytes,
                                 self.program.lost)
        self._groups: dict[int, tuple[UprobeLink, list[int]]] = {}
        self._owner: dict[int, int] = {}  # probe address -> group id
        self._lock = threading.Lock()

    def add_group(self, gid: int, descs: dict[int, L.Desc]) -> None:
        """Attach probes at every address of `descs` (all must be new addresses)."""
        if not descs:
            raise AttachError(0, "no probe addresses")
        with self._lock:
            taken = [a for a in descs if a in self._owner]
            if taken:
                raise AttachError(0, f"address {taken[0]:#x} already has a probe")
            for addr, d in descs.items():
                d.id = gid
                self.program.set_desc(addr, d)
            try:
                link = UprobeLink(self.bi.path, self.program.prog_fd, list(descs), self.pid)
            except AttachError:
                for addr in descs:
                    self.program.del_desc(addr)
                raise
            self._groups[gid] = (link, list(descs))
            for a in descs:
                self._owner[a] = gid

    def update_desc(self, addr: int, desc: L.Desc) -> None:
        """Change what an attached probe does (message, condition) without re-attaching."""
        self.program.set_desc(addr, desc)

    def remove_group(self, gid: int) -> None:
        with self._lock:
            got = self._groups.pop(gid, None)
            if got is None:
                return
            link, addrs = got
            link.close()
            for a in addrs:
                self.program.del_desc(a)
                self._owner.pop(a, None)
            self.program.reset_hits(gid)

    def groups(self) -> list[int]:
        return sorted(self._groups)

    def probe_count(self) -> int:
        return sum(len(a) for _l, a in self._groups.values())

    def hits(self, gid: int) -> int:
        return self.program.hits(gid)

    def poll(self, timeout: float = 0.05) -> list[Record]:
        return self.reader.poll(timeout)

    def drain(self) -> list[Record]:
        return self.reader.drain()

    def lost(self) -> int:
        return self.reader.lost()

    def take_signal(self, tid: int) -> int | None:
        return self.program.take_signal(tid)

    def take_signal_ip(self, tid: int) -> int | None:
        return self.program.take_signal_ip(tid)

    def open_watch(self, tid: int, addr: int, size: int, read_too: bool) -> int:
        return self.program.open_watch(tid, addr, size, read_too)

    def close(self) -> None:
        with self._lock:
            for link, _a in self._groups.values():
                link.close()
            self._groups.clear()
            self._owner.clear()
        self.reader.close()
        self.program.close()
