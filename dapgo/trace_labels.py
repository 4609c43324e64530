"""The pprof labels of traced calls, for `dapgo trace --output FILE.json`.

Each call's record carries its goroutine's `g.labels` pointer, read in the kernel at the
call (engine/bpf/tracer.py `labels_pointer`); the labelMap it points at is decoded here from
the running program's memory (/proc/PID/mem, engine/labels.py: every Go version's layout)
when the batch of records arrives, tens of milliseconds after the calls. A labelMap never
changes once a goroutine has it, so that is exact while the program runs. Once it has
exited, a call gets the labels its goroutine had under the same labelMap at its previous
call; others (and all calls of a program whose memory dapgo may not read) get no labels
(`missed` counts them).
"""

from __future__ import annotations

import os

from dapgo.engine.labels import LabelDecoder, Labels
from dapgo.engine.memcache import MemCache


class CallLabels:
    """Decodes labelMap pointers of one process; one `batch` per group of records."""

    def __init__(self, decoder: LabelDecoder, pid: int) -> None:
        self.decoder = decoder
        self.pid = pid
        self.missed = 0  # labelled calls whose labels could not be read
        self._fd: int | None = None
        self._mem: MemCache | None = None
        self._seen: dict[int, Labels] = {}
        self._strings: dict[int, str] = {}  # decoded strings of one batch (by ptr, len)
        self._last: dict[int, tuple[int, Labels]] = {}  # goroutine -> its last labelMap

    def batch(self) -> None:
        """Records of a new batch follow: memory is read afresh (a labelMap freed since
        could have been replaced at the same address)."""
        self._mem = None
        self._seen = {}
        self._strings = {}

    def _pread(self, addr: int, size: int) -> bytes:
        if self._fd is None:
            self._fd = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        data = os.pread(self._fd, size, addr)
        if len(data) != size:
            raise OSError(f"short read at {addr:#x}")
        return data

    def labels(self, goid: int, ptr: int | None) -> Labels | None:
        """The labels of the labelMap at `ptr`, goroutine `goid`'s at a call (0: {}, no
        labels); None when not known (`ptr` None: the kernel could not read g.labels; or
        the map is unreadable now, and was not this goroutine's at its previous call)."""
        if ptr is None:
            self.missed += 1
            return None
        if not ptr:
            return {}
        got = self._seen.get(ptr)
        if got is None:
            if self._mem is None:
                self._mem = MemCache(self._pread)
            try:
                self._mem.read(ptr, 8)  # (the decoder answers {} for memory it cannot read)
                got = self.decoder.decode(ptr, self._mem, self._strings)
            except OSError:
                got = {}
            self._seen[ptr] = got
        if got:
            self._last[goid] = (ptr, got)
            return got
        # the program has exited (or an empty labelMap): the labels this goroutine had
        # under the same labelMap at its previous call, if any
        last = self._last.get(goid)
        if last is not None and last[0] == ptr:
            return last[1]
        self.missed += 1
        return None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
