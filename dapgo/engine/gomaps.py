"""Iterating Go maps in the program's memory, in both runtime layouts.

* Classic hash maps (Go <= 1.23): `hash<K,V>` header (runtime.hmap), 2^B buckets of type
  `bucket<K,V>` ({tophash [8]uint8; keys [8]K; values [8]V; overflow *bucket}), overflow
  chains, and during growth `oldbuckets`: an old bucket not yet evacuated still holds its
  entries (its cells' tophash is >= minTopHash), an evacuated one only evacuation marks.
* Swiss tables (Go >= 1.24): `map<K,V>` header (internal/runtime/maps.Map). dirLen == 0:
  dirPtr is one group of 8 slots (a small map); otherwise dirPtr is a directory of dirLen
  `*table<K,V>` (a table may appear several times), each table holding lengthMask+1 groups
  `noalg.map.group[K]V` {ctrl uint64; slots [8]{key K; elem V}}. A slot is full when its
  control byte has the high bit clear.

All layouts come from the types the linker synthesizes into DWARF for each map type; keys
and elements larger than 128 bytes are stored indirectly (the slot holds a pointer).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

import attrs

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.model import GoType, StructMember, TypeRef
from dapgo.engine.target import Target

BUCKET_CNT = 8
MIN_TOP_HASH = 5
SAME_SIZE_GROW = 8
MAX_INLINE = 128
CTRL_EMPTY_BIT = 0x80


class MapLayoutError(LookupError):
    """The map's runtime layout types are missing from DWARF."""


@attrs.frozen
class _Classic:
    count: int
    flags: int
    b: int
    buckets: int
    oldbuckets: int
    bucket_size: int
    keys: int
    values: int
    overflow: int
    key_size: int  # slot sizes (8 when indirect)
    elem_size: int
    key_indirect: bool
    elem_indirect: bool


@attrs.frozen
class _Swiss:
    used: int
    dir_ptr: int
    dir_len: int
    t_groups: int  # table.groups offset
    g_data: int  # groupReference.data offset
    g_mask: int  # groupReference.lengthMask offset
    group_size: int
    ctrl: int
    slots: int
    slot_size: int
    key: int
    elem: int
    key_indirect: bool
    elem_indirect: bool


def _swiss_by_default(go_version: str | None) -> bool:
    """Whether the toolchain writes swiss tables unless told otherwise (Go >= 1.24)."""
    m = re.match(r"go(\d+)\.(\d+)", go_version or "")
    return m is None or (int(m[1]), int(m[2])) >= (1, 24)


def _field(t: GoType, *names: str) -> StructMember:
    for m in t.fields:
        if m.name in names:
            return m
    raise MapLayoutError(f"{t.name} has no field {names[0]}")


class MapReader:
    """Counts and iterates map entries; yields (key address, element address) pairs."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.binary: BinaryInfo = target.binary
        self._layouts: dict[TypeRef, _Classic | _Swiss] = {}
        # the layout this toolchain writes by default is looked up first: a name not in
        # DWARF costs a search of all of .debug_info
        self._swiss_first = _swiss_by_default(self.binary.go_version)

    def _names(self, mt: GoType) -> tuple[str, str, GoType, GoType]:
        if mt.key is None or mt.elem is None:
            raise MapLayoutError(f"{mt.name}: key or element type unknown")
        kt, vt = self.binary.type_info(mt.key), self.binary.type_info(mt.elem)
        return kt.name, vt.name, kt, vt

    def _pointee(self, ref: TypeRef) -> GoType:
        t = self.binary.type_info(ref)
        if t.elem is None:
            raise MapLayoutError(f"{t.name} is not a pointer")
        return self.binary.type_info(t.elem)

    def layout(self, mt: GoType) -> _Classic | _Swiss:
        got = self._layouts.get(mt.offset)
        if got is not None:
            return got
        k, v, kt, vt = self._names(mt)
        lay: _Classic | _Swiss
        kinds = ("map", "hash") if self._swiss_first else ("hash", "map")
        for kind in kinds:
            found = self.binary.find_type(f"{kind}<{k},{v}>")
            if found is not None:
                header = self.binary.type_info(found)
                lay = (self._swiss_layout(header, kt, vt) if kind == "map"
                       else self._classic_layout(header, kt, vt))
                break
        else:
            raise MapLayoutError(f"no runtime layout for {mt.name} in DWARF")
        self._layouts[mt.offset] = lay
        return lay

    def _classic_layout(self, h: GoType, kt: GoType, vt: GoType) -> _Classic:
        buckets = _field(h, "buckets")
        bt = self._pointee(buckets.type)
        keys, values = _field(bt, "keys"), _field(bt, "values")
        ks = self.binary.type_info(keys.type)
        vs = self.binary.type_info(values.type)
        kslot = ks.size // BUCKET_CNT
        vslot = vs.size // BUCKET_CNT
        return _Classic(
            count=_field(h, "count").offset, flags=_field(h, "flags").offset,
            b=_field(h, "B").offset, buckets=buckets.offset,
            oldbuckets=_field(h, "oldbuckets").offset, bucket_size=bt.size,
            keys=keys.offset, values=values.offset, overflow=_field(bt, "overflow").offset,
            key_size=kslot, elem_size=vslot,
            key_indirect=kt.size > MAX_INLINE and kslot == 8,
            elem_indirect=vt.size > MAX_INLINE and vslot == 8,
        )

    def _swiss_layout(self, m: GoType, kt: GoType, vt: GoType) -> _Swiss:
        dir_ptr = _field(m, "dirPtr")
        table = self._pointee(self.binary.type_info(dir_ptr.type).elem or 0)
        groups = _field(table, "groups")
        gref = self.binary.type_info(groups.type)
        data = _field(gref, "data")
        group = self._pointee(data.type)
        slots = _field(group, "slots")
        slots_t = self.binary.type_info(slots.type)
        if slots_t.elem is None:
            raise MapLayoutError(f"{group.name}.slots is not an array")
        slot = self.binary.type_info(slots_t.elem)
        key, elem = _field(slot, "key"), _field(slot, "elem")
        key_slot = self.binary.type_info(key.type)
        elem_slot = self.binary.type_info(elem.type)
        return _Swiss(
            used=_field(m, "used").offset, dir_ptr=dir_ptr.offset,
            dir_len=_field(m, "dirLen").offset, t_groups=groups.offset, g_data=data.offset,
            g_mask=_field(gref, "lengthMask").offset, group_size=group.size,
            ctrl=_field(group, "ctrl").offset, slots=slots.offset, slot_size=slot.size,
            key=key.offset, elem=elem.offset,
            key_indirect=kt.size > MAX_INLINE and key_slot.kind == "ptr",
            elem_indirect=vt.size > MAX_INLINE and elem_slot.kind == "ptr",
        )

    # ----- reading -----

    def count(self, mt: GoType, hdr: int) -> int:
        lay = self.layout(mt)
        off = lay.count if isinstance(lay, _Classic) else lay.used
        return self.target.u64(hdr + off)

    def entries(self, mt: GoType, hdr: int) -> Iterator[tuple[int, int]]:
        """(key address, element address) of every entry, in the runtime's storage order."""
        lay = self.layout(mt)
        if isinstance(lay, _Classic):
            yield from self._classic_entries(lay, hdr)
        else:
            yield from self._swiss_entries(lay, hdr)

    def _deref(self, addr: int, indirect: bool) -> int:
        return self.target.u64(addr) if indirect else addr

    def _classic_entries(self, lay: _Classic, hdr: int) -> Iterator[tuple[int, int]]:
        head = self.target.read(hdr, max(lay.oldbuckets, lay.buckets, lay.b, lay.flags) + 8)
        b = head[lay.b]
        flags = head[lay.flags]
        buckets = struct.unpack_from("<Q", head, lay.buckets)[0]
        old = struct.unpack_from("<Q", head, lay.oldbuckets)[0]
        if old:
            nold = 1 << b if flags & SAME_SIZE_GROW else 1 << max(b - 1, 0)
            yield from self._bucket_array(lay, old, nold)
        if buckets:
            yield from self._bucket_array(lay, buckets, 1 << b)

    def _bucket_array(self, lay: _Classic, base: int, n: int) -> Iterator[tuple[int, int]]:
        raw = self.target.read(base, n * lay.bucket_size)
        for i in range(n):
            addr = base + i * lay.bucket_size
            data = raw[i * lay.bucket_size : (i + 1) * lay.bucket_size]
            seen = 0
            while addr and seen < 1 << 20:
                seen += 1
                for j in range(BUCKET_CNT):
                    if data[j] < MIN_TOP_HASH:  # empty, or moved to the new buckets
                        continue
                    k = addr + lay.keys + j * lay.key_size
                    v = addr + lay.values + j * lay.elem_size
                    yield self._deref(k, lay.key_indirect), self._deref(v, lay.elem_indirect)
                addr = struct.unpack_from("<Q", data, lay.overflow)[0]
                if addr:
                    data = self.target.read(addr, lay.bucket_size)

    def _swiss_entries(self, lay: _Swiss, hdr: int) -> Iterator[tuple[int, int]]:
        head = self.target.read(hdr, max(lay.dir_ptr, lay.dir_len) + 8)
        dir_ptr = struct.unpack_from("<Q", head, lay.dir_ptr)[0]
        dir_len = struct.unpack_from("<q", head, lay.dir_len)[0]
        if not dir_ptr:
            return
        if dir_len == 0:
            yield from self._groups(lay, dir_ptr, 1)
            return
        tables = struct.unpack(f"<{dir_len}Q", self.target.read(dir_ptr, 8 * dir_len))
        seen: set[int] = set()
        for t in tables:
            if t in seen or not t:
                continue
            seen.add(t)
            gref = self.target.read(t + lay.t_groups, max(lay.g_data, lay.g_mask) + 8)
            data = struct.unpack_from("<Q", gref, lay.g_data)[0]
            mask = struct.unpack_from("<Q", gref, lay.g_mask)[0]
            yield from self._groups(lay, data, mask + 1)

    def _groups(self, lay: _Swiss, base: int, n: int) -> Iterator[tuple[int, int]]:
        raw = self.target.read(base, n * lay.group_size)
        for g in range(n):
            off = g * lay.group_size
            ctrl = raw[off + lay.ctrl : off + lay.ctrl + 8]
            for j in range(BUCKET_CNT):
                if ctrl[j] & CTRL_EMPTY_BIT:
                    continue
                slot = base + off + lay.slots + j * lay.slot_size
                yield (self._deref(slot + lay.key, lay.key_indirect),
                       self._deref(slot + lay.elem, lay.elem_indirect))
