"""Batched reads of a stopped program's memory, for walking many small runtime objects.

Reading 100,000 goroutines one field at a time would take 100,000s of system calls.
`MemCache` reads /proc/PID/mem directly (the backend's raw reader: our int3 bytes are not
hidden, which runtime data never needs) in aligned 64 KiB blocks kept for one stop, so the
small objects the Go heap packs together cost one pread per block. `read_spans` reads many
equally sized objects (the g structs) by sorting their addresses and reading each run of
nearby ones with a single pread. Valid only while the program stays stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

BLOCK_SHIFT = 16
BLOCK = 1 << BLOCK_SHIFT
PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT
SPAN_GAP = 1 << 14  # read through holes up to this size rather than issue another pread
SPAN_MAX = 1 << 23


class MemCache:
    def __init__(self, pread: Callable[[int, int], bytes]) -> None:
        """`pread(addr, size)` returns exactly `size` bytes or raises OSError."""
        self._pread = pread
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
    ) -> Iterator[tuple[bytes | None, int, list[int]]]:
        """Read `size` bytes at each distinct address, each run of nearby addresses with one
        pread: yields (buffer, address of buffer[0], addresses in it, sorted); the buffer is
        None for an address that cannot be read."""
        ordered = sorted(set(addrs))
        i = 0
        while i < len(ordered):
            start = ordered[i]
            j = i + 1
            end = start + size
            while (j < len(ordered) and ordered[j] - end <= SPAN_GAP
                   and ordered[j] + size - start <= SPAN_MAX):
                end = max(end, ordered[j] + size)
                j += 1
            try:
                data = self.raw(start, end - start)
            except OSError:
                for a in ordered[i:j]:
                    try:
                        yield self.raw(a, size), a, [a]
                    except OSError:
                        yield None, a, [a]
            else:
                yield data, start, ordered[i:j]
            i = j
