"""BpfSession: one loaded BPF program, one ring buffer, and groups of uprobes on one binary.

A group (a traced function set, one logpoint, one conditional breakpoint) is a set of probe
addresses, each with its descriptor, attached as one uprobe_multi link; removing the group
closes the link (every probe gone in one RCU grace period) and deletes its descriptors.
`close()` removes everything; so does the kernel if the process dies.
"""

from __future__ import annotations

import threading

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.labels import LabelDecoder

from . import layout as L
from .attach import AttachError, UprobeLink
from .program import ProbeProgram
from .ringbuf import Record, RingReader


def g_labels_offset(bi: BinaryInfo) -> int | None:
    """Where runtime.g keeps its pprof labels pointer; None when DWARF does not say."""
    layout = bi.struct_layout("runtime.g")
    try:
        return layout.offset("labels") if layout else None
    except (KeyError, ValueError):
        return None


def _labels(bi: BinaryInfo) -> dict[str, int]:
    """Where goroutines' pprof labels are (layout.LABEL_DEFINES); LABELS_MODE 0: unknown."""
    labels = LabelDecoder(bi).kernel_layout()
    off = g_labels_offset(bi)
    if off is None or off < 0:
        return {"LABELS_MODE": 0}
    labels["G_LABELS_OFFSET"] = off
    return labels


def _goid_offset(bi: BinaryInfo) -> int:
    layout = bi.struct_layout("runtime.g")
    if layout is None:
        raise AttachError(0, "runtime.g is not described in DWARF: cannot find goroutine ids")
    return layout.offset("goid")


class BpfSession:
    def __init__(self, bi: BinaryInfo, pid: int, *,
                 ringbuf_pages: int = L.DEFAULT_RINGBUF_PAGES,
                 program: ProbeProgram | None = None, stop_signal: int = 5) -> None:
        """`program`: one `compile` made beforehand for `bi` (the session owns it now)."""
        self.bi = bi
        self.pid = pid
        self.labels_readable = _labels(bi)["LABELS_MODE"] != 0
        self.program = program if program is not None else self.compile(
            bi, ringbuf_pages, stop_signal)
        self.reader = RingReader(self.program.events_fd, self.program.ringbuf_bytes,
                                 self.program.lost)
        self._groups: dict[int, tuple[UprobeLink, list[int]]] = {}
        self._owner: dict[int, int] = {}  # probe address -> group id
        self._lock = threading.Lock()

    @staticmethod
    def compile(bi: BinaryInfo, ringbuf_pages: int = L.DEFAULT_RINGBUF_PAGES,
                stop_signal: int = 5) -> ProbeProgram:
        """The BPF program for `bi`'s runtime layout (bcc: ~2 s; any thread)."""
        return ProbeProgram(goid_offset=_goid_offset(bi), ringbuf_pages=ringbuf_pages,
                            labels=_labels(bi), stop_signal=stop_signal)

    @staticmethod
    def program_key(bi: BinaryInfo, ringbuf_pages: int, stop_signal: int
                    ) -> tuple[tuple[str, int], ...]:
        """What the program `compile` makes for `bi` depends on: one compiled for another
        binary with the same key (same runtime layout: the same Go version) serves it."""
        return tuple(sorted(L.defines(goid_offset=_goid_offset(bi), ringbuf_pages=ringbuf_pages,
                                      labels=_labels(bi), stop_signal=stop_signal).items()))

    def add_group(self, gid: int, descs: dict[int, L.Desc], *, keep_ids: bool = False
                  ) -> None:
        """Attach probes at every address of `descs` (all must be new addresses); each
        descriptor's id becomes `gid` unless `keep_ids` (records / metrics then name their
        own)."""
        if not descs:
            raise AttachError(0, "no probe addresses")
        with self._lock:
            taken = [a for a in descs if a in self._owner]
            if taken:
                raise AttachError(0, f"address {taken[0]:#x} already has a probe")
            for addr, d in descs.items():
                if not keep_ids:
                    d.id = gid
                self.program.set_desc(addr, d)
            try:
                link = UprobeLink(self.bi.path, self.program.prog_fd, list(descs), self.pid,
                                  offset_of=self.bi.file_offset)
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
            self.program.reset_metrics(gid)

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

    def metrics(self, gid: int) -> list[tuple[L.MKey, L.MVal]]:
        return self.program.metrics(gid)

    def close(self) -> None:
        with self._lock:
            for link, _a in self._groups.values():
                link.close()
            self._groups.clear()
            self._owner.clear()
        self.reader.close()
        self.program.close()
