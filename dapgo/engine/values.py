"""Reading Go values from the program's memory and rendering them as a Go programmer writes them.

A `Value` is a Go type plus its bytes (and address, when it lives in memory). `ValueReader`
renders one as a `VariableInfo` in Delve's formats (`[]int len: 3, cap: 3, [1,2,3]`,
`map[string]int ["a": 1, ]`, `main.Point {X: 1, Y: 2}`, `*main.Point {X: 1, Y: 2}`,
`error(*errors.errorString) *{s: "boom"}`), whose children, if any, are reached through
the `Value` itself as the handle. Strings are capped at `max_string_len` and children are
paged `max_array_values` at a time.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable

import attrs

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.model import (
    AddrLoc,
    GoType,
    Location,
    PiecesLoc,
    RegLoc,
    StackLoc,
    TypeRef,
)
from dapgo.engine.gofmt import (
    format_complex,
    format_duration,
    format_float,
    format_time,
    go_quote,
    time_seconds,
)
from dapgo.engine.gomaps import MapLayoutError, MapReader
from dapgo.engine.limits import MAX_PAGE, MAX_PAGE_TEXT
from dapgo.engine.model import VariableInfo
from dapgo.engine.rtypes import RuntimeTypes
from dapgo.engine.target import Registers, Target

__all__ = [
    "READ_ERRORS",
    "ConstantValue",
    "UnreadableError",
    "UnreadableMemory",
    "Value",
    "ValueReader",
    "ValueRef",
    "format_float",
    "go_quote",
    "unreadable_text",
]

MAX_STRING_LEN = 512
MAX_ARRAY_VALUES = 64
SUMMARY_ELEMS = 8  # elements/fields shown inline in a value's one-line summary
MAX_DEPTH = 3  # nesting shown inline before `{...}`

# DWARF register numbers on amd64 -> names in the ptrace register set
DWARF_REGS = [
    "rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip",
]
POINTER_SHAPED = frozenset({"ptr", "unsafe.Pointer", "map", "chan", "func"})
_HCHAN_FIELDS = ("qcount", "dataqsiz", "buf", "recvx")  # runtime.hchan: a channel's buffer


@attrs.frozen(eq=False)
class Value:
    """A Go value: its type, its bytes, and its address (0 when not in memory). A value
    whose memory cannot be read has no bytes and says why in `error`."""

    type: GoType
    addr: int
    data: bytes
    error: str | None = None

    def word(self, offset: int = 0) -> int:
        return int(struct.unpack_from("<Q", self.data, offset)[0])


@attrs.frozen(eq=False)
class ConstantValue(Value):
    """The value of a Go constant (DW_TAG_constant): shown as its number, not described by
    the names of its type's constants."""


@attrs.frozen(eq=False)
class ValueRef:
    """The handle of a compound value for `children`: the value, and the Go expression
    that evaluates to it (its children's expressions follow from it; None when it has
    none)."""

    value: Value
    expr: str | None = None


class UnreadableError(Exception):
    """The value's location is not readable at this pc (optimized out, register elsewhere)."""


class UnreadableMemory(OSError):
    """A read of the program's memory failed (unmapped, or not readable)."""


# what reading garbage (unmapped pointers, uninitialised interfaces and headers) can raise
READ_ERRORS = (OSError, LookupError, MapLayoutError, OverflowError, ValueError, struct.error,
               MemoryError)


def unreadable_text(why: object) -> str:
    """Delve's form for a value that cannot be read: (unreadable: reason)."""
    return f"(unreadable: {why})"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnreadableMemory):
        return str(exc)
    if isinstance(exc, OverflowError | MemoryError):
        return "implausible size (uninitialised memory?)"
    if isinstance(exc, OSError) and exc.errno in (errno.EIO, errno.EFAULT):
        return "cannot read memory"
    return str(exc) or type(exc).__name__


def itab_type_offset(binary: BinaryInfo) -> int:
    """Offset of the dynamic type's descriptor in a runtime itab (field_offsets: the
    members' offsets only, remembered on disk by build id)."""
    for name, field in (("runtime.itab", "_type"), ("internal/abi.ITab", "Type"),
                        ("runtime.itab", "Type")):
        got = binary.field_offsets(name, (field,))
        if got is not None and field in got[1]:
            return got[1][field]
    raise LookupError("runtime.itab not found in DWARF")


class ValueReader:
    def __init__(
        self, target: Target, max_string_len: int = MAX_STRING_LEN,
        max_array_values: int = MAX_ARRAY_VALUES,
    ) -> None:
        self.target = target
        self.binary: BinaryInfo = target.binary
        self.max_string_len = max_string_len
        self.max_array_values = max_array_values
        self.maps = MapReader(target)
        self.rtypes = RuntimeTypes(target)
        self._basic: dict[str, GoType] = {}
        self._types: dict[TypeRef, GoType] = {}  # binary.type_info, pointers sized 8
        self._itab_type: int | None = None

    # ----- locating -----

    def address_of(self, loc: Location, cfa: int | None, regs: Registers | None) -> int | bytes:
        """Where a variable lives: an address, or its bytes when it lives in registers."""
        if isinstance(loc, AddrLoc):
            return loc.addr
        if isinstance(loc, StackLoc):
            if cfa is None:
                raise UnreadableError("frame address unknown")
            return cfa + loc.cfa_offset
        if isinstance(loc, RegLoc):
            return self._reg_bytes(loc.regnum, regs, 8)
        if isinstance(loc, PiecesLoc):
            buf = bytearray()
            for piece in loc.pieces:
                if piece.loc is None:
                    raise UnreadableError("partly optimized out")
                if isinstance(piece.loc, RegLoc):
                    buf += self._reg_bytes(piece.loc.regnum, regs, piece.size)
                else:
                    where = self.address_of(piece.loc, cfa, regs)
                    assert isinstance(where, int)
                    buf += self.target.read(where, piece.size)
            return bytes(buf)
        raise UnreadableError("unsupported location")

    def _reg_bytes(self, regnum: int, regs: Registers | None, size: int) -> bytes:
        if regs is None or regnum >= len(DWARF_REGS):
            raise UnreadableError("register not available in this frame")
        return regs.values[DWARF_REGS[regnum]].to_bytes(8, "little")[:size]

    # ----- building values -----

    def type_of(self, tref: TypeRef) -> GoType:
        t = self._types.get(tref)
        if t is None:
            t = self.binary.type_info(tref)
            if t.size == 0 and t.kind in POINTER_SHAPED:  # DWARF pointer types omit it
                t = attrs.evolve(t, size=8)
            self._types[tref] = t
        return t

    def load(self, t: GoType, addr: int) -> Value:
        """The value of type `t` stored at `addr` (UnreadableMemory when it cannot be read)."""
        return Value(t, addr, self.read(addr, t.size) if t.size else b"")

    def read(self, addr: int, size: int) -> bytes:
        """`size` bytes at `addr` (UnreadableMemory, an OSError, when they cannot be read)."""
        if size < 0 or size > 1 << 32:
            raise OverflowError(f"size {size}")
        try:
            return self.target.read(addr, size)
        except OSError as exc:
            raise UnreadableMemory(f"cannot read memory at {addr:#x}") from exc

    def bad(self, t: GoType, addr: int, exc: BaseException | str) -> Value:
        """A value of type `t` at `addr` that cannot be read, and why."""
        return Value(t, addr, b"", exc if isinstance(exc, str) else _reason(exc))

    def value_at(self, tref: TypeRef | GoType, where: int | bytes) -> Value:
        t = tref if isinstance(tref, GoType) else self.type_of(tref)
        if isinstance(where, bytes):
            return Value(t, 0, where[: t.size].ljust(t.size, b"\0"))
        return self.load(t, where)

    def basic(self, name: str) -> GoType:
        """A predeclared type (int, bool, float64, string, uint8...) from DWARF."""
        got = self._basic.get(name)
        if got is None:
            ref = self.binary.find_type(name)
            got = self.type_of(ref) if ref is not None else _synthetic_basic(name)
            self._basic[name] = got
        return got

    def pointer_to(self, t: GoType) -> GoType:
        """The type *T (from DWARF when the program has it, else built here)."""
        ref = self.binary.find_type("*" + t.name) if t.name else None
        if ref is not None:
            return self.type_of(ref)
        return GoType(name="*" + t.name, kind="ptr", size=8, elem=t.offset or None)

    # ----- VariableInfo -----

    def variable(self, name: str, tref: TypeRef, where: int | bytes,
                 expr: str | None = None) -> VariableInfo:
        return self.info(name, self.value_at(tref, where), expr)

    def unreadable(self, name: str, tref: TypeRef, why: str) -> VariableInfo:
        """A variable whose value cannot be had: `<optimized out>`, else
        `(unreadable: why)`."""
        t = self.type_of(tref)
        text = f"<{why}>" if why == "optimized out" else unreadable_text(why)
        return VariableInfo(name=name, value=text, type=t.name)

    def info(self, name: str, v: Value, expr: str | None = None) -> VariableInfo:
        """What the Variables view shows of `v`, named `name`; `expr` is the Go expression
        that evaluates to it (DAP evaluateName), when there is one."""
        if v.error is not None:
            return VariableInfo(name=name, value=unreadable_text(v.error), type=v.type.name,
                                evaluate_name=expr)
        try:
            text = self.format(v)
        except READ_ERRORS as exc:
            return VariableInfo(name=name, value=unreadable_text(_reason(exc)),
                                type=v.type.name, evaluate_name=expr)
        named, indexed = self.child_counts(v)
        handle = ValueRef(v, expr) if (named or indexed) else None
        return VariableInfo(name=name, value=text, type=v.type.name, handle=handle,
                            named_children=named or None, indexed_children=indexed or None,
                            memory_reference=v.addr or None, evaluate_name=expr)

    def child_counts(self, v: Value) -> tuple[int, int]:
        """(named, indexed) numbers of children of `v`."""
        t = v.type
        k = t.kind
        if v.error is not None:
            return 0, 0
        try:
            if k == "struct":
                return len(t.fields), 0
            if k == "ptr":
                if v.word() == 0 or t.elem is None:
                    return 0, 0
                et = self.type_of(t.elem)
                if et.kind != "struct":
                    return 1, 0
                if not et.fields:
                    return 0, 0
                try:
                    self.read(v.word(), 1)  # cached: the summary read it
                except READ_ERRORS:
                    return 1, 0  # one child saying why
                return len(et.fields), 0
            if k == "slice":
                return 0, max(v.word(8), 0) if v.word(8) < 1 << 40 else 0
            if k == "array":
                return 0, t.length or 0
            if k == "map":  # capped: an editor asks for named children without paging
                return ((min(self.maps.count(t, v.word()), self.max_array_values), 0)
                        if v.word() else (0, 0))
            if k == "chan":
                return (0, self.target.u64(v.word())) if v.word() else (0, 0)
            if k == "complex":
                return 2, 0
            if k == "interface":
                dyn = self.dynamic(v)
                if dyn is None or dyn[1] is None:
                    return 0, 0
                named, indexed = self.child_counts(dyn[1])
                return (named, indexed) if (named or indexed) else (1, 0)
        except READ_ERRORS:
            return 0, 0
        return 0, 0

    # ----- rendering -----

    def format(self, v: Value, depth: int = 0, typed: bool = True) -> str:
        """The one-line text of `v`; `typed` prefixes compound values with their type."""
        t = v.type
        k = t.kind
        if v.error is not None:
            return unreadable_text(v.error)
        prefix = f"{t.name} " if typed and t.name else ""
        special = self._special(v)
        if special is not None:
            return prefix + special
        if k == "bool":
            return "true" if v.data[0] else "false"
        if k in ("int", "uint") and "." in t.name and not isinstance(v, ConstantValue):
            n = scalar(v)
            assert isinstance(n, int)
            described = self.describe_constant(t, n)
            return f"{described} ({n})" if described else str(n)
        if k in ("int", "uint", "float", "complex"):
            return format_scalar(t, scalar(v))
        if k == "uintptr":
            return hex(int.from_bytes(v.data, "little"))
        if k == "string":
            return self._string(v)
        if k == "unsafe.Pointer":
            p = v.word()
            return "unsafe.Pointer(nil)" if p == 0 else f"unsafe.Pointer({p:#x})"
        if k == "ptr":
            return self._pointer(v, depth, typed)
        if k == "struct":
            if depth >= MAX_DEPTH:
                return prefix + "{...}"
            parts = []
            for m in t.fields[:SUMMARY_ELEMS]:
                fv = self.field_value(v, m.name)
                parts.append(f"{m.name}: {self.format(fv, depth + 1, True)}")
            more = ", ..." if len(t.fields) > SUMMARY_ELEMS else ""
            return f"{prefix}{{{', '.join(parts)}{more}}}"
        if k == "slice":
            ptr, length, cap = struct.unpack_from("<Qqq", v.data)
            if ptr == 0 and length == 0:
                return f"{prefix}len: 0, cap: {cap}, nil"
            try:
                elems = self._elems(t, ptr, length, depth)
            except READ_ERRORS as exc:
                elems = unreadable_text(_reason(exc))
            return f"{prefix}len: {length}, cap: {cap}, {elems}"
        if k == "array":
            n = t.length or 0
            return prefix + self._array_elems(v, n, depth)
        if k == "map":
            return self._map(v, depth, prefix)
        if k == "chan":
            p = v.word()
            if p == 0:
                return f"{prefix}nil"
            try:
                qcount, size = struct.unpack("<QQ", self.read(p, 16))
            except READ_ERRORS as exc:
                return prefix + unreadable_text(_reason(exc))
            return f"{prefix}{qcount}/{size}"
        if k == "func":
            return self._func(v)
        if k == "interface":
            return self._interface(v, depth)
        return f"<{k}>"

    def describe_constant(self, t: GoType, n: int) -> str:
        """`n` by the names of the constants of its named type, as Delve: the constant
        equal to it, or single-bit constants or'ed together when they make it exactly
        (`bitZero|bitOne`); "" when neither."""
        consts = self.binary.constants_of(t.offset) if t.offset else []
        for name, value in consts:
            if value == n:
                return name
        if n == 0:
            return ""
        parts = []
        rest = n
        for name, value in consts:
            if value and value & (value - 1) == 0 and rest & value:
                parts.append(name)
                rest &= ~value
        return "|".join(parts) if rest == 0 else ""

    def _string(self, v: Value) -> str:
        ptr, length = struct.unpack_from("<Qq", v.data)
        if length <= 0:
            return '""'
        # max_string_len is bounded where it is set (limits.MAX_STRING_LEN), except for a
        # string the debug console shows whole (up to the inspector's 1 MiB)
        n = min(length, self.max_string_len)
        try:
            raw = self.read(ptr, n)
        except READ_ERRORS as exc:
            return unreadable_text(_reason(exc))
        text = go_quote(raw)
        if n < length:
            text += f"...+{length - n} more"
        return text

    def string_bytes(self, v: Value, limit: int | None = None) -> bytes:
        """The bytes of a string value (at most `limit`)."""
        ptr, length = struct.unpack_from("<Qq", v.data)
        n = length if limit is None else min(length, limit)
        return self.target.read(ptr, n) if n > 0 else b""

    def _pointer(self, v: Value, depth: int, typed: bool) -> str:
        t = v.type
        p = v.word()
        if p == 0:
            return f"{t.name} nil" if typed else "nil"
        if t.elem is None or depth >= MAX_DEPTH:
            return f"({t.name})({p:#x})"
        try:
            target = self.load(self.type_of(t.elem), p)
        except READ_ERRORS as exc:
            return f"({t.name})({p:#x}) {unreadable_text(_reason(exc))}"
        # a struct's own fields take the next level; anything else costs one here (so
        # pointer cycles end)
        inner = depth if target.type.kind == "struct" else depth + 1
        return "*" + self.format(target, inner, typed)

    def _elems(self, t: GoType, base: int, n: int, depth: int) -> str:
        if t.elem is None or n <= 0:
            return "[]"
        if depth >= MAX_DEPTH:
            return "[...]"
        et = self.type_of(t.elem)
        shown = min(n, SUMMARY_ELEMS)
        raw = self.read(base, et.size * shown)
        parts = [
            self.format(Value(et, base + i * et.size, raw[i * et.size : (i + 1) * et.size]),
                        depth + 1, False)
            for i in range(shown)
        ]
        more = f",...+{n - shown} more" if n > shown else ""
        return f"[{','.join(parts)}{more}]"

    def _array_elems(self, v: Value, n: int, depth: int) -> str:
        t = v.type
        if t.elem is None or n == 0:
            return "[]"
        if depth >= MAX_DEPTH:
            return "[...]"
        et = self.type_of(t.elem)
        shown = min(n, SUMMARY_ELEMS)
        parts = []
        for i in range(shown):
            chunk = v.data[i * et.size : (i + 1) * et.size]
            addr = v.addr + i * et.size if v.addr else 0
            parts.append(self.format(Value(et, addr, chunk), depth + 1, False))
        more = f",...+{n - shown} more" if n > shown else ""
        return f"[{','.join(parts)}{more}]"

    def _map(self, v: Value, depth: int, prefix: str) -> str:
        t = v.type
        hdr = v.word()
        if hdr == 0:
            return f"{prefix}nil"
        if depth >= MAX_DEPTH:
            return f"{prefix}[...]"
        try:
            total = self.maps.count(t, hdr)
            pairs = self.map_pairs(v, 0, SUMMARY_ELEMS)
        except READ_ERRORS as exc:
            return prefix + unreadable_text(_reason(exc))
        parts = [
            f"{self.format(k, depth + 1, False)}: {self.format(e, depth + 1, False)}, "
            for k, e in pairs
        ]
        more = f"...+{total - len(pairs)} more" if total > len(pairs) else ""
        capped = (f" ({self.max_array_values} of {total} shown)"
                  if depth == 0 and total > self.max_array_values else "")
        return f"{prefix}[{''.join(parts)}{more}]{capped}"

    def _func(self, v: Value) -> str:
        p = v.word()
        if p == 0:
            return "nil"
        try:
            fn = self.binary.function_for_pc(self.target.u64(p))
        except OSError:
            fn = None
        return fn.name if fn else f"func({p:#x})"

    def _interface(self, v: Value, depth: int) -> str:
        t = v.type
        try:
            dyn = self.dynamic(v)
        except READ_ERRORS as exc:
            return f"{t.name} {unreadable_text('dynamic type: ' + _reason(exc))}"
        if dyn is None:
            return f"{t.name} nil"
        name, inner = dyn
        if inner is None:
            return f"{t.name}({name}) {v.word(8):#x}"
        return f"{t.name}({name}) {self.format(inner, depth + 1, False)}"

    def _special(self, v: Value) -> str | None:
        name = v.type.name
        if name == "time.Duration" and v.type.kind == "int":
            return format_duration(int.from_bytes(v.data, "little", signed=True))
        if name == "time.Time" and v.type.kind == "struct":
            try:
                return self._time(v)
            except (OSError, KeyError, StopIteration):
                return None
        return None

    def _time(self, v: Value) -> str:
        wall = self.field_value(v, "wall").word()
        ext = struct.unpack("<q", self.field_value(v, "ext").data)[0]
        loc = self.field_value(v, "loc").word()
        unix, nsec, mono = time_seconds(wall, ext)
        offset, zone = self._zone(loc, unix)
        return format_time(unix, nsec, offset, zone, mono)

    def _zone(self, loc: int, unix: int) -> tuple[int, str]:
        """(offset seconds, abbreviation) of time.Location at `loc` at a unix time."""
        if loc == 0:
            return 0, "UTC"
        lt_ref = self.binary.find_type("time.Location")
        if lt_ref is None:
            return 0, "UTC"
        lv = self.load(self.type_of(lt_ref), loc)
        zones = self.field_value(lv, "zone")
        nzones = zones.word(8)
        if nzones == 0:
            return 0, "UTC"
        zt = self.type_of(zones.type.elem or 0)
        cache_zone = self.field_value(lv, "cacheZone").word()
        start = struct.unpack("<q", self.field_value(lv, "cacheStart").data)[0]
        end = struct.unpack("<q", self.field_value(lv, "cacheEnd").data)[0]
        zaddr = zones.word()
        if cache_zone and start <= unix < end:
            zaddr = cache_zone
        else:
            tx = self.field_value(lv, "tx")
            ntx = tx.word(8)
            index = 0
            if ntx:
                txt = self.type_of(tx.type.elem or 0)
                for i in range(ntx):
                    tv = self.load(txt, tx.word() + i * txt.size)
                    when = struct.unpack("<q", self.field_value(tv, "when").data)[0]
                    if when > unix:
                        break
                    index = self.field_value(tv, "index").data[0]
            zaddr = zones.word() + index * zt.size
        zv = self.load(zt, zaddr)
        off = int.from_bytes(self.field_value(zv, "offset").data, "little", signed=True)
        name = self.string_bytes(self.field_value(zv, "name"), 64).decode("utf-8", "replace")
        return off, name

    # ----- structure access (shared with the expression evaluator) -----

    def field_value(self, v: Value, name: str) -> Value:
        """Field `name` of struct value `v` (KeyError when it has none)."""
        for m in v.type.fields:
            if m.name == name:
                ft = self.type_of(m.type)
                data = v.data[m.offset : m.offset + ft.size]
                return Value(ft, v.addr + m.offset if v.addr else 0, data)
        raise KeyError(name)

    def deref(self, v: Value) -> Value:
        """*p for a non-nil pointer value."""
        p = v.word()
        if v.type.elem is None:
            raise LookupError(f"cannot dereference {v.type.name}")
        return self.load(self.type_of(v.type.elem), p)

    def element(self, v: Value, i: int) -> Value:
        """Element i of an array or slice (no bounds check here)."""
        t = v.type
        if t.elem is None:
            raise LookupError(f"{t.name} has no element type")
        et = self.type_of(t.elem)
        if t.kind == "array":
            chunk = v.data[i * et.size : (i + 1) * et.size]
            if len(chunk) == et.size and not v.addr:
                return Value(et, 0, chunk)
            return self.load(et, v.addr + i * et.size)
        return self.load(et, v.word() + i * et.size)

    def map_pairs(self, v: Value, start: int, count: int | None) -> list[tuple[Value, Value]]:
        """Entries [start, start+count) of a map value, as (key, element) values."""
        t = v.type
        hdr = v.word()
        if hdr == 0 or t.key is None or t.elem is None:
            return []
        kt, et = self.type_of(t.key), self.type_of(t.elem)
        out: list[tuple[Value, Value]] = []
        for i, (ka, ea) in enumerate(self.maps.entries(t, hdr)):
            if i < start:
                continue
            if count is not None and len(out) >= count:
                break
            out.append((self.load(kt, ka), self.load(et, ea)))
        return out

    def dynamic(self, v: Value) -> tuple[str, Value | None] | None:
        """(dynamic type name, dynamic value) of an interface value; None when nil.
        The value is None when the type has no DWARF description."""
        first, data = struct.unpack_from("<QQ", v.data)
        if first == 0:
            return None
        rt = self.rtypes.resolve(self.rtype_of(v))
        if rt.tref is None:
            return rt.name, None
        dt = self.type_of(rt.tref)
        if self.is_direct(dt):
            return rt.name, Value(dt, v.addr + 8 if v.addr else 0,
                                  data.to_bytes(8, "little")[: dt.size])
        return rt.name, self.load(dt, data)

    def _itab_type_offset(self) -> int:
        if self._itab_type is None:
            self._itab_type = itab_type_offset(self.binary)
        return self._itab_type

    def rtype_of(self, v: Value) -> int:
        """Address of the runtime type descriptor of interface value v's dynamic type (0
        when v is nil)."""
        first = v.word()
        if first == 0:
            return 0
        eface = bool(v.type.fields) and v.type.fields[0].name == "_type"
        return first if eface else self.target.u64(first + self._itab_type_offset())

    def is_direct(self, t: GoType) -> bool:
        """Whether the runtime stores a value of `t` in an interface's data word itself."""
        if t.kind in POINTER_SHAPED:
            return True
        if t.kind == "struct" and len(t.fields) == 1 and t.size == 8:
            return self.is_direct(self.type_of(t.fields[0].type))
        if t.kind == "array" and t.length == 1 and t.elem is not None and t.size == 8:
            return self.is_direct(self.type_of(t.elem))
        return False

    # ----- children -----

    def children(self, ref: Value, start: int | None, count: int | None,
                 expression_of: Callable[[str], str | None] | None = None
                 ) -> list[VariableInfo]:
        """A page of children; it ends early once their texts pass MAX_PAGE_TEXT characters
        (the client asks for the rest from where it ends). `expression_of` gives a child's
        Go expression by its name (dapgo.engine.evalnames)."""
        out: list[VariableInfo] = []
        text = 0
        for name, v in self.child_values(ref, start, count, True):
            info = self.info(name, v, expression_of(name) if expression_of else None)
            out.append(info)
            text += len(info.value)
            if text > MAX_PAGE_TEXT:
                break
        return out

    def child_values(
        self, v: Value, start: int | None = None, count: int | None = None,
        tolerant: bool = False,
    ) -> list[tuple[str, Value]]:
        """Named children of a compound value; arrays, slices, maps and channels page by
        `start`/`count` (default: `max_array_values` from `start`; a page holds at most
        MAX_PAGE children, whatever is asked). `tolerant`: a child whose memory cannot be
        read is a value saying why (UnreadableMemory otherwise)."""
        if v.error is not None:
            return []
        if not tolerant:
            return self._child_values(v, start, count, False)
        try:
            return self._child_values(v, start, count, True)
        except READ_ERRORS as exc:
            t = v.type
            et = self.type_of(t.elem) if t.elem is not None else t
            return [("(unreadable)", self.bad(et, 0, exc))]

    def _child_values(self, v: Value, start: int | None, count: int | None, tolerant: bool
                      ) -> list[tuple[str, Value]]:
        t = v.type
        first = start or 0
        page = min(count if count else self.max_array_values, MAX_PAGE)
        if t.kind == "struct":
            return [(m.name, self.field_value(v, m.name)) for m in t.fields]
        if t.kind == "ptr":
            if v.word() == 0 or t.elem is None:
                return []
            try:
                target = self.deref(v)
            except READ_ERRORS as exc:
                if not tolerant:
                    raise
                target = self.bad(self.type_of(t.elem), v.word(), exc)
            if target.type.kind == "struct" and target.error is None:
                return self._child_values(target, None, None, tolerant)
            return [("*" + (t.name[1:] if t.name.startswith("*") else ""), target)]
        if t.kind in ("slice", "array"):
            length = (t.length or 0) if t.kind == "array" else v.word(8)
            end = min(length, first + page)
            return [(f"[{i}]", self._element(v, i, tolerant)) for i in range(first, end)]
        if t.kind == "map":
            return [(f"[{self.format(k, 1, False)}]", e)
                    for k, e in self.map_pairs(v, first, page)]
        if t.kind == "chan":
            return self._chan_elements(v, first, page)
        if t.kind == "complex":
            z = scalar(v)
            assert isinstance(z, complex)
            ft = self.basic("float32" if t.size == 8 else "float64")
            half = t.size // 2
            return [("real", Value(ft, v.addr, v.data[:half])),
                    ("imaginary", Value(ft, v.addr + half if v.addr else 0, v.data[half:]))]
        if t.kind == "interface":
            dyn = self.dynamic(v)
            if dyn is None or dyn[1] is None:
                return []
            inner = dyn[1]
            kids = self._child_values(inner, start, count, tolerant)
            named, indexed = self.child_counts(inner)
            return kids if (named or indexed) else [("data", inner)]
        return []

    def _element(self, v: Value, i: int, tolerant: bool) -> Value:
        try:
            return self.element(v, i)
        except READ_ERRORS as exc:
            if not tolerant or v.type.elem is None:
                raise
            et = self.type_of(v.type.elem)
            base = v.addr if v.type.kind == "array" else v.word()
            return self.bad(et, base + i * et.size, exc)

    def _chan_elements(self, v: Value, first: int, page: int) -> list[tuple[str, Value]]:
        p = v.word()
        t = v.type
        if p == 0 or t.elem is None:
            return []
        got = self.binary.field_offsets("runtime.hchan", _HCHAN_FIELDS)
        if got is None or len(got[1]) < len(_HCHAN_FIELDS):
            return []
        off = got[1]
        qcount = self.target.u64(p + off["qcount"])
        size = self.target.u64(p + off["dataqsiz"])
        buf = self.target.u64(p + off["buf"])
        recvx = self.target.u64(p + off["recvx"])
        et = self.type_of(t.elem)
        out = []
        for i in range(first, min(qcount, first + page)):
            slot = (recvx + i) % size if size else 0
            out.append((f"[{i}]", self.load(et, buf + slot * et.size)))
        return out


def scalar(v: Value) -> int | float | complex | bool:
    """The Python value of a bool, integer, float or complex Go value."""
    t = v.type
    k = t.kind
    if k == "bool":
        return bool(v.data[0])
    if k == "int":
        return int.from_bytes(v.data[: t.size], "little", signed=True)
    if k in ("uint", "uintptr", "unsafe.Pointer", "ptr", "chan", "map", "func"):
        return int.from_bytes(v.data[: t.size], "little")
    if k == "float":
        return float(struct.unpack("<f" if t.size == 4 else "<d", v.data[: t.size])[0])
    if k == "complex":
        re_, im = struct.unpack("<ff" if t.size == 8 else "<dd", v.data[: t.size])
        return complex(re_, im)
    raise TypeError(f"{t.name} is not a scalar")


def format_scalar(t: GoType, x: int | float | complex | bool) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, complex):
        bits = 32 if t.size == 8 else 64
        return format_complex(x.real, x.imag, bits)
    if isinstance(x, float):
        return format_float(x, 32 if t.size == 4 else 64)
    return str(x)


_BASIC_KINDS = {
    "bool": ("bool", 1), "int": ("int", 8), "int8": ("int", 1), "int16": ("int", 2),
    "int32": ("int", 4), "int64": ("int", 8), "uint": ("uint", 8), "uint8": ("uint", 1),
    "uint16": ("uint", 2), "uint32": ("uint", 4), "uint64": ("uint", 8),
    "uintptr": ("uintptr", 8), "float32": ("float", 4), "float64": ("float", 8),
    "complex64": ("complex", 8), "complex128": ("complex", 16), "string": ("string", 16),
    "byte": ("uint", 1), "rune": ("int", 4),
}


def _synthetic_basic(name: str) -> GoType:
    if name not in _BASIC_KINDS:
        raise LookupError(f"unknown type {name}")
    kind, size = _BASIC_KINDS[name]
    return GoType(name=name, kind=kind, size=size)
