"""Debug register encoding and allocation (pure logic; the e2e tests trap for real)."""

from __future__ import annotations

import pytest

from dapgo.engine.hwbreak import Slot, WatchpointError, allocate, dr7_value, split_aligned


@pytest.mark.parametrize(("addr", "size", "spans"), [
    (0x1000, 8, [(0x1000, 8)]),
    (0x1000, 1, [(0x1000, 1)]),
    (0x1002, 2, [(0x1002, 2)]),
    (0x1004, 4, [(0x1004, 4)]),
    (0x1001, 2, [(0x1001, 1), (0x1002, 1)]),  # unaligned: split, never widened
    (0x1003, 8, [(0x1003, 1), (0x1004, 4), (0x1008, 2), (0x100A, 1)]),
    (0x1000, 16, [(0x1000, 8), (0x1008, 8)]),  # a string header: two registers
    (0x1000, 12, [(0x1000, 8), (0x1008, 4)]),
])
def test_split_aligned_covers_exactly_with_aligned_spans(addr: int, size: int,
                                                          spans: list[tuple[int, int]]) -> None:
    assert split_aligned(addr, size) == spans
    covered = [a + i for a, n in split_aligned(addr, size) for i in range(n)]
    assert covered == list(range(addr, addr + size))


def test_dr7_bits_for_each_slot() -> None:
    slots: list[Slot | None] = [Slot(0x1000, 8, "write", 1), None, Slot(0x2000, 1, "readWrite", 2),
                                Slot(0x3000, 4, "write", 3)]
    v = dr7_value(slots)
    assert v & 0b11 == 0b01 and (v >> 2) & 0b11 == 0  # L0 on, L1 off
    assert (v >> 16) & 0b1111 == 0b10_01  # slot 0: write, 8 bytes (LEN 10)
    assert (v >> 24) & 0b1111 == 0b00_11  # slot 2: read/write, 1 byte
    assert (v >> 28) & 0b1111 == 0b11_01  # slot 3: write, 4 bytes


def test_allocation_refuses_a_fifth_register_and_read_only() -> None:
    assert len([s for s in allocate([(1, 0x1000, 16, "write"), (2, 0x2000, 8, "write"),
                                     (3, 0x3000, 8, "write")]) if s]) == 4
    with pytest.raises(WatchpointError, match="4"):
        allocate([(1, 0x1000, 16, "write"), (2, 0x2000, 16, "write"), (3, 0x3001, 2, "write")])
    with pytest.raises(WatchpointError, match="write or readWrite"):
        allocate([(1, 0x1000, 8, "read")])  # type: ignore[list-item]
