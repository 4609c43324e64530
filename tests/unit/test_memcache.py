"""MemCache.read_spans over a memory with holes: the same objects, whichever way it reads
(one pread per run, or vectored reads of many runs into a reused buffer), and unreadable
objects reported as such."""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

import pytest

from dapgo.engine import memcache
from dapgo.engine.memcache import MemCache, _runs, unpack_each

BASE = 0x10000
SIZE = 1 << 22  # a 4 MiB mapping ...
HOLE = (BASE + (1 << 21), BASE + (1 << 21) + 4096)  # ... with one unmapped page
MEMORY = random.Random(7).randbytes(SIZE)


def _check(addr: int, size: int) -> None:
    if addr < BASE or addr + size > BASE + SIZE or (addr < HOLE[1] and addr + size > HOLE[0]):
        raise OSError(14, f"unmapped: {addr:#x}+{size}")


def pread(addr: int, size: int) -> bytes:
    _check(addr, size)
    return MEMORY[addr - BASE:addr - BASE + size]


def readv(ranges: Sequence[tuple[int, int]], into: bytearray) -> None:
    pos = 0
    for addr, size in ranges:
        into[pos:pos + size] = pread(addr, size)
        pos += size


def test_runs_cut_at_holes_and_at_the_limit() -> None:
    assert _runs([], 8, 16, 64) == []
    # 0 and 10 are one run (a 2-byte hole), 40 starts another (a 22-byte hole)
    assert _runs([0, 10, 40], 8, 16, 64) == [(0, 18, [0, 10]), (40, 48, [40])]
    # no run longer than the limit
    assert _runs([0, 8, 16, 24, 32], 8, 0, 16) == [
        (0, 16, [0, 8]), (16, 32, [16, 24]), (32, 40, [32])]
    # an object larger than the limit is a run of its own
    assert _runs([0, 100], 50, 1000, 10) == [(0, 50, [0]), (100, 150, [100])]


@pytest.mark.parametrize("vectored", [False, True])
def test_read_spans_reads_every_object_once(vectored: bool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memcache, "VEC_CHUNK", 1 << 16)  # many batches
    rng = random.Random(1)
    size = 456
    addrs = [BASE + rng.randrange(0, SIZE - size) for _ in range(3000)]
    addrs += addrs[:50]  # repeats are read once
    addrs += [HOLE[0] + 8, HOLE[0] - 100, BASE + SIZE - 10]  # unreadable
    mem = MemCache(pread, readv if vectored else None)
    seen: dict[int, bytes | None] = {}
    for data, base, run in mem.read_spans(addrs, size):
        for a in run:
            assert a not in seen
            seen[a] = None if data is None else bytes(data[a - base:a - base + size])
    assert set(seen) == set(addrs)
    for a, got in seen.items():
        try:
            want: bytes | None = pread(a, size)
        except OSError:
            want = None
        assert got == want, hex(a)
    if vectored:  # far fewer reads than runs
        assert mem.preads < len(_runs(sorted(set(addrs)), size, memcache.VEC_GAP,
                                      memcache.VEC_CHUNK))


@pytest.mark.parametrize("run", [[100, 132, 164, 196], [100, 132, 170], [100], [100, 116]])
def test_unpack_each_at_a_stride_or_not(run: list[int]) -> None:
    """The same tuples whether the run's objects lie at one stride (one iter_unpack) or
    not (one unpack each), the last object read only as far as its own size."""
    st = struct.Struct("<4xIQ")
    base = 90
    data = bytes(range(256))[:run[-1] + st.size - base]  # ends with the last object
    assert list(unpack_each(st, data, base, run)) == [st.unpack_from(data, a - base)
                                                      for a in run]
