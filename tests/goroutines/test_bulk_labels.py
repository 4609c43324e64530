"""The bulk label reader (LabelDecoder.arrays, matching, values_of, from_arrays) against
per-goroutine decoding, on label sets laid out in memory as the `labels` fixture's Go
(1.24, 1.27: a sorted []label) lays them out, with the layouts read from its DWARF.

The memory is built here, so cases the live fixture does not have are covered: label
sets shared by several labelMaps, arrays not in the labelMaps' order, label counts that
differ, a labelMap that cannot be read, goroutines without labels."""

from __future__ import annotations

import struct

import pytest

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.labels import LabelDecoder
from dapgo.engine.memcache import MemCache

from .conftest import fixtures

BASE = 0x10000
SIZE = 1 << 20


class Memory:
    """A flat memory with an allocator; unmapped past `SIZE`."""

    def __init__(self) -> None:
        self.data = bytearray(SIZE)
        self.top = BASE + 64

    def alloc(self, blob: bytes, align: int = 8) -> int:
        self.top = (self.top + align - 1) & ~(align - 1)
        addr = self.top
        self.data[addr - BASE:addr - BASE + len(blob)] = blob
        self.top += max(len(blob), 1)
        return addr

    def pread(self, addr: int, size: int) -> bytes:
        if addr < BASE or addr + size > BASE + SIZE:
            raise OSError(14, "unmapped")
        return bytes(self.data[addr - BASE:addr - BASE + size])


@pytest.fixture(scope="module", params=["1.24.11", None], ids=["go1.24", "go-default"])
def decoder(request: pytest.FixtureRequest) -> LabelDecoder:
    d = LabelDecoder(BinaryInfo.open(str(fixtures.build("labels", go=request.param))))
    assert d.kernel_layout()["LABELS_MODE"] == 1  # the slice kind
    return d


def label_map(mem: Memory, dec: LabelDecoder, labels: list[tuple[str, str]],
              array: int | None = None) -> tuple[int, int]:
    """A labelMap holding `labels` (or pointing at an existing `array`); (map, array)."""
    lay = dec._slice
    assert lay is not None
    if array is None:
        elem = bytearray(lay.elem_size * len(labels))
        for i, (k, v) in enumerate(labels):
            for off, text in ((lay.key_off, k), (lay.value_off, v)):
                p = mem.alloc(text.encode(), 1) if text else 0
                struct.pack_into("<QQ", elem, i * lay.elem_size + off, p, len(text))
        array = mem.alloc(bytes(elem))
    header = bytearray(lay.slice_off + 24)
    struct.pack_into("<QQQ", header, lay.slice_off, array, len(labels), len(labels))
    return mem.alloc(bytes(header)), array


def test_bulk_reading_agrees_with_one_by_one(decoder: LabelDecoder) -> None:
    mem = Memory()
    sets = [[("shard", str(i % 3)), ("worker", str(i))] for i in range(40)]
    maps = [label_map(mem, decoder, s)[0] for s in sets[:20]]
    # arrays allocated before their labelMaps, in reverse: not in the maps' order
    arrays = [label_map(mem, decoder, s)[1] for s in sets[20:]]
    maps += [label_map(mem, decoder, s, a)[0] for s, a in zip(sets[20:], arrays, strict=True)]
    shared, arr = label_map(mem, decoder, [("shard", "1"), ("team", "")])
    maps += [shared, label_map(mem, decoder, [("shard", "1"), ("team", "")], arr)[0]]
    maps.append(label_map(mem, decoder, [("team", "x")])[0])  # another label count
    maps.append(label_map(mem, decoder, [("shard", "10"), ("worker", "1")])[0])  # "1" + "0"
    maps.append(BASE + SIZE + 4096)  # unreadable: no labels
    ptrs = [*maps, 0, 0, maps[3]]  # goroutines without labels, two sharing a labelMap
    cache = MemCache(mem.pread)
    one_by_one = {p: decoder.decode(p, cache, {}) for p in set(ptrs)}
    got = decoder.arrays(ptrs, MemCache(mem.pread))
    assert got is not None
    for key, value in [("shard", "1"), ("shard", None), ("team", ""), ("team", None),
                       ("worker", "7"), ("shard", "10"), ("nosuch", None), ("shard", "9")]:
        want = {p for p, labels in one_by_one.items() if key in labels
                and (value is None or labels[key] == value)}
        assert decoder.matching(got, key, value, cache) == want, (key, value)
    for key in ("shard", "team", "nosuch"):
        want_values = {p: labels[key] for p, labels in one_by_one.items() if key in labels}
        assert decoder.values_of(got, key, cache, {}) == want_values, key
    for p, labels in one_by_one.items():
        if p:
            assert decoder.from_arrays(got, p, None, cache, {}) == labels
            assert decoder.from_arrays(got, p, ("shard",), cache, {}) == {
                k: v for k, v in labels.items() if k == "shard"}
