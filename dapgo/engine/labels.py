"""pprof labels of a goroutine (`g.labels`), for every supported Go version.

`g.labels` points at the `runtime/pprof.labelMap` that `pprof.Do`/`SetGoroutineLabels` set:

* Go <= 1.23: `type labelMap map[string]string`, so g.labels is a *map: a pointer to the hmap
  pointer. The classic hash map is walked bucket by bucket (8 tophash bytes, 8 keys,
  8 values, an overflow pointer), the old buckets of a growth in progress included.
* Go 1.24-1.25: `type labelMap struct{ LabelSet }` with `LabelSet{ list []label }` and
  `label{ key, value string }`, a slice sorted by key.
* Later: `labelMap struct{ label.Set }`, `Set{ List []Label }`, `Label{ Key, Value string }`
  (package internal/runtime/pprof/label).

Every type, size and field offset comes from the binary's DWARF; only the hash map's tophash
markers (runtime algorithm constants, stable over those versions) are written here.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Collection, Iterable
from itertools import chain, compress
from operator import and_, or_

import attrs

from dapgo.engine.dwarf import BinaryInfo, GoType
from dapgo.engine.memcache import BLOCK, BLOCK_SHIFT, MemCache, unpack_each

BLOCK_MASK = BLOCK - 1

LABEL_MAP = "runtime/pprof.labelMap"
MAX_LABELS = 4096
MAX_STRING = 1 << 16
MAX_BUCKETS = 1 << 16
# runtime/map.go (Go <= 1.23): tophash values below minTopHash mark empty/evacuated cells
MIN_TOP_HASH = 5
SAME_SIZE_GROW = 8  # hmap.flags: the old buckets are as many as the new ones

_Q = struct.Struct("<Q")
_QQ = struct.Struct("<QQ")
Labels = dict[str, str]
EMPTY: Labels = {}
# per label count n: (n, labelMaps (sorted), the array of each, the arrays read (sorted),
# the fields of those one after the other: (key ptr, key len, value ptr, value len) * n
# each). Flat lists of ints: no tuple per goroutine for the garbage collector to scan.
LabelArrays = list[tuple[int, list[int], list[int], list[int], list[int]]]


@attrs.frozen
class _SliceLayout:
    slice_off: int  # of the []label inside labelMap
    elem_size: int
    key_off: int  # of the key string inside a label
    value_off: int


@attrs.frozen
class _MapLayout:
    count_off: int
    flags_off: int
    b_off: int
    buckets_off: int
    oldbuckets_off: int
    bucket_size: int
    slots: int  # tophash entries per bucket (8)
    keys_off: int
    values_off: int
    key_size: int
    value_size: int
    overflow_off: int


def _field(t: GoType, *names: str) -> int | None:
    for m in t.fields:
        if m.name in names:
            return m.offset
    return None


def _label_struct(lay: _SliceLayout, str_ptr: int, str_len: int) -> struct.Struct:
    """One element of []label as (key ptr, key len, value ptr, value len), padded to the
    element size so that iter_unpack walks the array."""
    fields = sorted([(lay.key_off + str_ptr, 0), (lay.key_off + str_len, 1),
                     (lay.value_off + str_ptr, 2), (lay.value_off + str_len, 3)])
    if [i for _, i in fields] != [0, 1, 2, 3]:
        raise ValueError("unexpected label layout")
    fmt, pos = "<", 0
    for off, _ in fields:
        fmt += f"{off - pos}xQ" if off > pos else "Q"
        pos = off + 8
    if lay.elem_size > pos:
        fmt += f"{lay.elem_size - pos}x"
    return struct.Struct(fmt)


def _bytes(p: int, n: int, mem: MemCache) -> bytes | None:
    """The n bytes of a string at p; None when unreadable (equal to nothing)."""
    if not n:
        return b""
    try:
        return mem.read(p, n) if p else None
    except OSError:
        return None


def _mask(fields: list[int], n: int, i: int, want: bytes, mem: MemCache,
          among: list[bool] | None = None) -> list[bool] | None:
    """For each label array (`fields`: the arrays' fields one after the other, 4 * n
    each), is the string whose (pointer, length) are its fields i and i + 1 `want` (and
    `among` true for it)? None when none is. Each distinct pointer with the right length
    is read once."""
    stride = 4 * n
    sized = list(map(len(want).__eq__, fields[i + 1::stride]))
    if among is not None:
        sized = list(map(and_, sized, among))
    ptrs = fields[i::stride]
    good = {p for p in set(compress(ptrs, sized)) if _bytes(p, len(want), mem) == want}
    if not good:
        return None
    return list(map(and_, sized, map(good.__contains__, ptrs)))


class LabelDecoder:
    """Decodes labelMaps of one binary; layouts resolved once, from DWARF."""

    def __init__(self, binary: BinaryInfo) -> None:
        self.binary = binary
        self._resolved = False
        self._slice: _SliceLayout | None = None
        self._map: _MapLayout | None = None
        self._str_ptr = 0
        self._str_len = 8
        self._label_struct: struct.Struct | None = None

    @property
    def supported(self) -> bool:
        """False when the program never uses pprof labels (no labelMap in its DWARF)."""
        self._resolve()
        return self._slice is not None or self._map is not None

    def _resolve(self) -> None:
        if self._resolved:
            return
        self._resolved = True
        b = self.binary
        sref = b.find_type("string")
        if sref is not None:
            st = b.type_info(sref)
            self._str_ptr = _field(st, "str") or 0
            self._str_len = _field(st, "len") or 8
        ref = b.find_type(LABEL_MAP)
        if ref is None:
            return
        t = b.type_info(ref)
        if t.kind == "struct":
            self._slice = self._slice_layout(t, 0, 0)
            if self._slice is not None:
                try:
                    self._label_struct = _label_struct(self._slice, self._str_ptr,
                                                       self._str_len)
                except ValueError:
                    self._label_struct = None
        elif t.kind == "map":
            self._map = self._map_layout(t)

    def _slice_layout(self, t: GoType, base: int, depth: int) -> _SliceLayout | None:
        """Find the []label inside labelMap (through embedded LabelSet / label.Set)."""
        b = self.binary
        for m in t.fields:
            mt = b.type_info(m.type)
            if mt.kind == "slice" and mt.elem is not None:
                et = b.type_info(mt.elem)
                key = _field(et, "key", "Key")
                value = _field(et, "value", "Value")
                if key is not None and value is not None:
                    return _SliceLayout(base + m.offset, et.size, key, value)
            elif mt.kind == "struct" and depth < 4:
                found = self._slice_layout(mt, base + m.offset, depth + 1)
                if found is not None:
                    return found
        return None

    def _map_layout(self, t: GoType) -> _MapLayout | None:
        b = self.binary
        if t.key is None or t.elem is None:
            return None
        k, v = b.type_info(t.key).name, b.type_info(t.elem).name
        hdr = bucket = None
        for name in (f"map.hdr[{k}]{v}", f"hash<{k},{v}>", "runtime.hmap"):
            ref = b.find_type(name)
            if ref is not None:
                hdr = b.type_info(ref)
                break
        for name in (f"map.bucket[{k}]{v}", f"bucket<{k},{v}>"):
            ref = b.find_type(name)
            if ref is not None:
                bucket = b.type_info(ref)
                break
        if hdr is None or bucket is None:
            return None
        members = {m.name: m for m in bucket.fields}
        try:
            tophash, keys, values = members["tophash"], members["keys"], members["values"]
            overflow = members["overflow"]
            slots = b.type_info(tophash.type).size
            offs = [_field(hdr, n) for n in ("count", "flags", "B", "buckets", "oldbuckets")]
        except KeyError:
            return None
        if not slots or any(o is None for o in offs):
            return None
        count, flags, b_off, buckets, old = (o or 0 for o in offs)
        return _MapLayout(
            count_off=count, flags_off=flags, b_off=b_off, buckets_off=buckets, oldbuckets_off=old,
            bucket_size=bucket.size, slots=slots, keys_off=keys.offset,
            values_off=values.offset, key_size=b.type_info(keys.type).size // slots,
            value_size=b.type_info(values.type).size // slots, overflow_off=overflow.offset,
        )

    def kernel_layout(self) -> dict[str, int]:
        """Where a label is, for the BPF program (engine/bpf/layout.py LABEL_DEFINES, less
        the g field): LABELS_MODE 0 when the program has no labels or an unusual layout
        (string headers other than {ptr, len})."""
        self._resolve()
        if (self._str_ptr, self._str_len) != (0, 8):
            return {"LABELS_MODE": 0}
        if self._slice is not None:
            lay = self._slice
            return {"LABELS_MODE": 1, "LM_SLICE_OFF": lay.slice_off,
                    "LBL_SIZE": lay.elem_size, "LBL_KEY_OFF": lay.key_off,
                    "LBL_VAL_OFF": lay.value_off}
        m = self._map
        if m is not None and m.slots == 8 and m.key_size == 16 and m.value_size == 16:
            return {"LABELS_MODE": 2, "HM_B_OFF": m.b_off, "HM_BUCKETS_OFF": m.buckets_off,
                    "BKT_SIZE": m.bucket_size, "BKT_KEYS_OFF": m.keys_off,
                    "BKT_VALUES_OFF": m.values_off}
        return {"LABELS_MODE": 0}

    # ----- reading -----

    def decode(self, ptr: int, mem: MemCache, strings: dict[int, str]) -> Labels:
        """The labels of the labelMap at `ptr` (g.labels); {} when none or unreadable.
        `strings` caches decoded strings by pointer and length for one stop."""
        if not ptr:
            return EMPTY
        self._resolve()
        try:
            if self._slice is not None:
                return self._decode_slice(ptr, mem, strings)
            if self._map is not None:
                return self._decode_map(ptr, mem, strings)
        except OSError:
            pass
        return EMPTY

    def matching(self, got: LabelArrays, key: str, value: str | None, mem: MemCache
                 ) -> set[int]:
        """The labelMaps (of those `arrays` read) whose labels have `key` (with `value`,
        when given): the label filter of 100,000s of goroutines, compared without decoding
        strings that cannot match (a string is read only when its length is right, and
        each distinct one once)."""
        kb = key.encode()
        vb = value.encode() if value is not None else None
        out: set[int] = set()
        for n, maps, arrs, arrays, fields in got:
            found: list[bool] | None = None  # per array read: one of its labels matches
            for i in range(0, 4 * n, 4):
                kmask = _mask(fields, n, i, kb, mem)
                if kmask is not None and vb is not None:
                    kmask = _mask(fields, n, i + 2, vb, mem, kmask)
                if kmask is not None:
                    found = kmask if found is None else list(map(or_, found, kmask))
            if found is None:
                continue
            if arrays == arrs:  # read in the labelMaps' order (the usual): no lookup
                out.update(compress(maps, found))
            else:
                hits = set(compress(arrays, found))
                out.update(compress(maps, map(hits.__contains__, arrs)))
        return out

    def values_of(self, got: LabelArrays, key: str, mem: MemCache,
                  strings: dict[int, str]) -> dict[int, str]:
        """labelMap -> the value of its label `key`, for those (of the `arrays` read)
        that have it: grouping 100,000s of goroutines by a label."""
        kb = key.encode()
        out: dict[int, str] = {}
        for n, maps, arrs, arrays, fields in got:
            value: dict[int, tuple[int, int]] = {}  # array -> (ptr, len) of the value
            for i in range(0, 4 * n, 4):  # as decoding into a dict: the last one wins
                kmask = _mask(fields, n, i, kb, mem)
                if kmask is not None:
                    vpairs = zip(fields[i + 2::4 * n], fields[i + 3::4 * n], strict=True)
                    value.update(compress(zip(arrays, vpairs, strict=True), kmask))
            text = {v: self._string_at(v[0], v[1], mem, strings) for v in set(value.values())}
            has = list(map(value.__contains__, arrs))
            out.update(zip(compress(maps, has), map(text.__getitem__, map(
                value.__getitem__, compress(arrs, has))), strict=True))
        return out

    def from_arrays(self, got: LabelArrays, ptr: int, keys: Collection[str] | None,
                    mem: MemCache, strings: dict[int, str]) -> Labels:
        """The labels of the labelMap at `ptr`, from `arrays` read before (found by binary
        search); only those of `keys` when given. {} when it was not read."""
        for n, maps, arrs, arrays, fields in got:
            i = bisect.bisect_left(maps, ptr)
            if i == len(maps) or maps[i] != ptr:
                continue
            j = bisect.bisect_left(arrays, arrs[i])
            if j == len(arrays) or arrays[j] != arrs[i]:
                return EMPTY
            f = fields[4 * n * j:4 * n * (j + 1)]
            out: Labels = {}
            for k in range(0, 4 * n, 4):
                key = self._string_at(f[k], f[k + 1], mem, strings)
                if keys is None or key in keys:
                    out[key] = self._string_at(f[k + 2], f[k + 3], mem, strings)
            return out
        return EMPTY

    def arrays(self, ptrs: Iterable[int], mem: MemCache) -> LabelArrays | None:
        """The label arrays of the labelMaps at `ptrs` (repeats and zeros allowed; in
        allocation order is quickest), for `matching` and `values_of`: labels of 100,000s
        of goroutines in bulk, with two passes of `read_spans` (the slice headers, then
        the arrays) and iterators of C functions rather than a loop per goroutine. None
        when the labels are not the slice kind (Go <= 1.23's map, an unusual layout):
        then decode them one by one."""
        self._resolve()
        lay, pack = self._slice, self._label_struct
        if lay is None or pack is None:
            return None
        off = lay.slice_off
        maps: list[int] = []
        headers: list[int] = []  # array, length of each; flat lists of ints, no tuple kept
        for data, base, run in mem.read_spans(map(off.__add__, filter(None, ptrs)), 16):
            if data is not None:
                maps += run
                headers += chain.from_iterable(unpack_each(_QQ, data, base, run))
        if off:
            maps = list(map(off.__rsub__, maps))
        arrs, lens = headers[0::2], headers[1::2]
        del headers
        out = []
        for n in set(lens):
            if n <= 0 or n > MAX_LABELS:
                continue
            if len(lens) == lens.count(n) and 0 not in arrs:  # the usual: all alike
                n_maps, n_arrs = maps, arrs
            else:
                pick = list(map(and_, map(n.__eq__, lens), map(bool, arrs)))
                n_maps, n_arrs = list(compress(maps, pick)), list(compress(arrs, pick))
            many = struct.Struct("<" + pack.format.lstrip("<@=!") * n)
            arrays: list[int] = []
            fields: list[int] = []
            for data, base, run in mem.read_spans(n_arrs, many.size):
                if data is not None:
                    arrays += run
                    fields += chain.from_iterable(unpack_each(many, data, base, run))
            out.append((n, n_maps, n_arrs, arrays, fields))
        return out

    def _string(self, data: bytes, off: int, mem: MemCache, strings: dict[int, str]) -> str:
        p = int(_Q.unpack_from(data, off + self._str_ptr)[0])
        n = int(_Q.unpack_from(data, off + self._str_len)[0])
        return self._string_at(p, n, mem, strings)

    @staticmethod
    def _string_at(p: int, n: int, mem: MemCache, strings: dict[int, str]) -> str:
        key = p | (n << 48)  # user-space pointers are below 2**47
        s = strings.get(key)
        n = min(n, MAX_STRING) if n > 0 else 0
        if s is None:
            s = mem.read(p, n).decode("utf-8", "replace") if p and n else ""
            strings[key] = s
        return s

    def _decode_slice(self, ptr: int, mem: MemCache, strings: dict[int, str]) -> Labels:
        # the hot path of listing 100,000s of labelled goroutines: reads are inlined as
        # lookups of cached memory blocks
        lay = self._slice
        assert lay is not None
        blocks = mem.blocks
        addr = ptr + lay.slice_off
        off = addr & BLOCK_MASK
        blk = blocks.get(addr >> BLOCK_SHIFT)
        if blk and off + 16 <= BLOCK:
            arr, n = _QQ.unpack_from(blk, off)
        else:
            arr, n = _QQ.unpack(mem.read(addr, 16))
        if not arr or n <= 0:
            return EMPTY
        n = min(n, MAX_LABELS)
        size = n * lay.elem_size
        off = arr & BLOCK_MASK
        blk = blocks.get(arr >> BLOCK_SHIFT)
        if blk and off + size <= BLOCK:
            raw = blk[off:off + size]
        else:
            raw = mem.read(arr, size)
        out: Labels = {}
        if self._label_struct is None:  # an unusual layout: field by field
            for i in range(n):
                base = i * lay.elem_size
                out[self._string(raw, base + lay.key_off, mem, strings)] = self._string(
                    raw, base + lay.value_off, mem, strings)
            return out
        get = strings.get
        for kp, kl, vp, vl in self._label_struct.iter_unpack(raw):
            k = get(kp | (kl << 48))
            if k is None:
                k = self._string_at(kp, kl, mem, strings)
            v = get(vp | (vl << 48))
            if v is None:
                off = vp & BLOCK_MASK
                blk = blocks.get(vp >> BLOCK_SHIFT)
                if blk and 0 < vl <= MAX_STRING and off + vl <= BLOCK:
                    v = blk[off:off + vl].decode("utf-8", "replace")
                    strings[vp | (vl << 48)] = v
                else:
                    v = self._string_at(vp, vl, mem, strings)
            out[k] = v
        return out

    def _decode_map(self, ptr: int, mem: MemCache, strings: dict[int, str]) -> Labels:
        lay = self._map
        assert lay is not None
        blocks = mem.blocks

        def view(addr: int, size: int) -> tuple[bytes, int]:
            # mem.view, inlined for cached blocks (three reads per goroutine)
            blk = blocks.get(addr >> BLOCK_SHIFT)
            off = addr & BLOCK_MASK
            if blk and off + size <= BLOCK:
                return blk, off
            return mem.view(addr, size)

        buf, off = view(ptr, 8)
        hmap = int(_Q.unpack_from(buf, off)[0])  # g.labels is a *labelMap; a map is an *hmap
        if not hmap:
            return EMPTY
        hdr, h = view(hmap, max(lay.count_off, lay.buckets_off, lay.oldbuckets_off) + 8)
        count = int(_Q.unpack_from(hdr, h + lay.count_off)[0])
        if count <= 0:
            return EMPTY
        nb = 1 << min(hdr[h + lay.b_off], 16)
        buckets = int(_Q.unpack_from(hdr, h + lay.buckets_off)[0])
        old = int(_Q.unpack_from(hdr, h + lay.oldbuckets_off)[0])
        out: Labels = {}
        # during a growth, cells not yet evacuated are only in the old buckets, and the
        # evacuated ones are marked there (tophash < MIN_TOP_HASH): the union is exact
        arrays = [(buckets, nb)]
        if old:
            same_size = hdr[h + lay.flags_off] & SAME_SIZE_GROW
            arrays.append((old, nb if same_size else max(nb // 2, 1)))
        budget = MAX_BUCKETS
        get = strings.get
        sp, sl = self._str_ptr, self._str_len
        # the usual string header {ptr, len}: one unpack per string (the hot path of
        # listing 100,000s of labelled goroutines on Go <= 1.23)
        header = _QQ.unpack_from if (sp, sl) == (0, 8) else None
        slots, keys_off, values_off = lay.slots, lay.keys_off, lay.values_off
        key_size, value_size = lay.key_size, lay.value_size
        for base, n in arrays:
            if not base:
                continue
            for i in range(n):
                addr = base + i * lay.bucket_size
                while addr and budget > 0 and len(out) < count:
                    budget -= 1
                    data, d = view(addr, lay.bucket_size)
                    for slot, top in enumerate(data[d : d + slots]):
                        if top < MIN_TOP_HASH:
                            continue
                        ko = d + keys_off + slot * key_size
                        vo = d + values_off + slot * value_size
                        if header is not None:
                            kp, kl = header(data, ko)
                            vp, vl = header(data, vo)
                        else:
                            kp, kl = _Q.unpack_from(data, ko + sp)[0], _Q.unpack_from(
                                data, ko + sl)[0]
                            vp, vl = _Q.unpack_from(data, vo + sp)[0], _Q.unpack_from(
                                data, vo + sl)[0]
                        k = get(kp | (kl << 48))
                        if k is None:
                            k = self._string_at(kp, kl, mem, strings)
                        v = get(vp | (vl << 48))
                        if v is None:
                            v = self._string_at(vp, vl, mem, strings)
                        out[k] = v
                    addr = int(_Q.unpack_from(data, d + lay.overflow_off)[0])
        return out
