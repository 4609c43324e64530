"""Batched reads of a stopped program's memory, for walking many small runtime objects.

Reading 100,000 goroutines one field at a time would take 100,000s of system calls.
`MemCache` reads /proc/PID/mem directly (the backend's raw reader: our int3 bytes are not
hidden, which runtime data never needs) in aligned 64 KiB blocks kept for one stop, so the
small objects the Go heap packs together cost one pread per block. `read_spans` reads many
equally sized objects (the g structs) by sorting their addresses and reading each run of
nearby ones with a single pread; with a vectored reader (process_vm_readv), many runs per
system call into one reused buffer, so that 100,000 objects neither cost thousands of
system calls nor fault in tens of megabytes of fresh memory. Valid only while the program
stays stopped.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, compress, islice, repeat
from operator import eq, sub
from typing import Any

BLOCK_SHIFT = 16
BLOCK = 1 << BLOCK_SHIFT
PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT
SPAN_GAP = 1 << 14  # read through holes up to this size rather than issue another pread
SPAN_MAX = 1 << 23
# vectored reads: a range costs about what copying 2 KiB does, so holes up to that are read
# through; runs are gathered into one buffer of this size, reused
VEC_GAP = 1 << 11
VEC_CHUNK = 1 << 20

VectorRead = Callable[[Sequence[tuple[int, int]], bytearray], None]


class MemCache:
    def __init__(self, pread: Callable[[int, int], bytes],
                 readv: VectorRead | None = None) -> None:
        """`pread(addr, size)` returns exactly `size` bytes or raises OSError;
        `readv(ranges, into)` (optional) reads many (address, size) ranges back to back
        into `into`, or raises OSError."""
        self._pread = pread
        self._readv = readv
        self.blocks: dict[int, bytes] = {}  # block index -> data (b"": unreadable)
        self._pages: dict[int, bytes] = {}
        self.preads = 0

    def raw(self, addr: int, size: int) -> bytes:
        """Uncached read (raises OSError)."""
        self.preads += 1
        return self._pread(addr, size)

    def read(self, addr: int, size: int) -> bytes:
        """`size` bytes at `addr`, from the cached block when it fits in one (OSError if
        unreadable)."""
        off = addr & (BLOCK - 1)
        if off + size <= BLOCK:
            blk = self.blocks.get(addr >> BLOCK_SHIFT)
            if blk is None:
                blk = self._load_block(addr >> BLOCK_SHIFT)
            if blk:
                return blk[off:off + size]
            poff = addr & (PAGE - 1)
            if poff + size <= PAGE:
                page = self._pages.get(addr >> PAGE_SHIFT)
                if page is None:
                    page = self._load_page(addr >> PAGE_SHIFT)
                if page:
                    return page[poff:poff + size]
        return self.raw(addr, size)

    def view(self, addr: int, size: int) -> tuple[bytes, int]:
        """(buffer, offset) with the `size` bytes at `addr` at buffer[offset:], without
        copying when they lie in a cached block (OSError if unreadable)."""
        off = addr & (BLOCK - 1)
        if off + size <= BLOCK:
            blk = self.blocks.get(addr >> BLOCK_SHIFT)
            if blk is None:
                blk = self._load_block(addr >> BLOCK_SHIFT)
            if blk:
                return blk, off
        return self.read(addr, size), 0

    def _load_block(self, index: int) -> bytes:
        try:
            data = self.raw(index << BLOCK_SHIFT, BLOCK)
        except OSError:
            data = b""  # partly unmapped: fall back to pages
        self.blocks[index] = data
        return data

    def _load_page(self, index: int) -> bytes:
        try:
            data = self.raw(index << PAGE_SHIFT, PAGE)
        except OSError:
            data = b""
        self._pages[index] = data
        return data

    def u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def read_spans(
        self, addrs: Iterable[int], size: int
    ) -> Iterator[tuple[bytes | bytearray | None, int, list[int]]]:
        """Read `size` bytes at each distinct address, each run of nearby addresses at once:
        yields (buffer, base, addresses in it, sorted), the object at address `a` being at
        buffer[a - base:]; the buffer is None for an address that cannot be read. A buffer
        is valid until the next item is asked for (it may be reused): unpack from it, do
        not keep it."""
        # addresses usually come nearly in order (allgs; objects allocated one after the
        # other): sorting them as given is quicker than sorting a set's order
        ordered = sorted(addrs)
        if any(map(eq, ordered, islice(ordered, 1, None))):
            ordered = sorted(set(ordered))
        if self._readv is not None:
            return self._spans_vectored(ordered, size, self._readv)
        return self._spans(ordered, size)

    def _spans_vectored(self, ordered: list[int], size: int, readv: VectorRead
                        ) -> Iterator[tuple[bytes | bytearray | None, int, list[int]]]:
        limit = max(VEC_CHUNK, size)
        buf = bytearray(limit)
        runs = _runs(ordered, size, VEC_GAP, limit)
        k = 0
        while k < len(runs):
            batch: list[tuple[int, int, list[int]]] = []
            total = 0
            while k < len(runs) and total + runs[k][1] - runs[k][0] <= limit:
                batch.append(runs[k])
                total += runs[k][1] - runs[k][0]
                k += 1
            self.preads += 1
            try:
                readv([(s, e - s) for s, e, _ in batch], buf)
            except OSError:  # some run is (partly) unreadable: one at a time
                yield from self._spans([a for _, _, run in batch for a in run], size)
                continue
            pos = 0
            for s, e, run in batch:
                yield buf, s - pos, run
                pos += e - s

    def _spans(self, ordered: list[int], size: int
               ) -> Iterator[tuple[bytes | bytearray | None, int, list[int]]]:
        for start, end, run in _runs(ordered, size, SPAN_GAP, SPAN_MAX):
            try:
                data = self.raw(start, end - start)
            except OSError:
                for a in run:
                    try:
                        yield self.raw(a, size), a, [a]
                    except OSError:
                        yield None, a, [a]
            else:
                yield data, start, run


def _runs(ordered: list[int], size: int, gap: int, limit: int
          ) -> list[tuple[int, int, list[int]]]:
    """Sorted distinct addresses of `size`-byte objects cut into runs (start, end,
    addresses): a hole of more than `gap` bytes ends a run, and no run is longer than
    `limit` (unless one object is). Built by iterators of C functions, not a loop per
    address: 100,000 goroutines make as many addresses."""
    if not ordered:
        return []
    # the indexes whose address is more than size + gap past the one before
    holes = map((size + gap).__lt__, map(sub, islice(ordered, 1, None), ordered))
    cuts = list(compress(range(1, len(ordered)), holes))
    out: list[tuple[int, int, list[int]]] = []
    i = 0
    for j in (*cuts, len(ordered)):
        while i < j:
            # the addresses whose object ends within `limit` of this run's start
            k = max(bisect.bisect_right(ordered, ordered[i] + limit - size, i, j), i + 1)
            out.append((ordered[i], ordered[k - 1] + size, ordered[i:k]))
            i = k
    return out


_STRIDED: dict[tuple[str, int], struct.Struct] = {}


def unpack_each(st: struct.Struct, data: bytes | bytearray, base: int, run: list[int]
                ) -> Iterator[tuple[Any, ...]]:
    """`st` unpacked at each address of a run that `read_spans` yielded. Objects of one
    heap size class lie at a fixed stride: then one iter_unpack walks them (no offset
    computed per object); else one unpack_from each."""
    n = len(run)
    if n > 2:
        stride = run[1] - run[0]
        if stride >= st.size and run[-1] - run[0] == stride * (n - 1):
            key = (st.format, stride)
            padded = _STRIDED.get(key)
            if padded is None:
                padded = _STRIDED[key] = struct.Struct(
                    st.format + f"{stride - st.size}x" if stride > st.size else st.format)
            start = run[0] - base
            view = memoryview(data)[start:start + stride * (n - 1)]
            return chain(padded.iter_unpack(view),
                         (st.unpack_from(data, run[-1] - base),))
    return map(st.unpack_from, repeat(data, n), map(base.__rsub__, run))
