"""Reading Go values from the program's memory and rendering them as a Go programmer writes them.

A value is (type, location); `ValueReader.render` turns one into a `VariableInfo` whose
children, if any, are reached through a `ValueRef` handle. Strings are capped at
`max_string_len` and slices/arrays at `max_array_values` children per page.
"""

from __future__ import annotations

import struct

import attrs

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.model import AddrLoc, GoType, Location, PiecesLoc, RegLoc, StackLoc, TypeRef
from dapgo.engine.model import VariableInfo
from dapgo.engine.target import Registers, Target

MAX_STRING_LEN = 512
MAX_ARRAY_VALUES = 64
SUMMARY_FIELDS = 8

# DWARF register numbers on amd64 -> names in the ptrace register set
DWARF_REGS = [
    "rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip",
]


@attrs.frozen
class ValueRef:
    """Handle for a compound value's children: its type and where it lives."""

    type: TypeRef
    addr: int


class UnreadableError(Exception):
    """The value's location is not readable at this pc (optimized out, register elsewhere)."""


def go_quote(data: bytes) -> str:
    """A Go double-quoted string literal for `data`, as %q would print it."""
    text = data.decode("utf-8", errors="replace")
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_float(v: float) -> str:
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v) if not v.is_integer() or abs(v) >= 1e21 else str(int(v))


class ValueReader:
    def __init__(
        self, target: Target, max_string_len: int = MAX_STRING_LEN,
        max_array_values: int = MAX_ARRAY_VALUES,
    ) -> None:
        self.target = target
        self.binary: BinaryInfo = target.binary
        self.max_string_len = max_string_len
        self.max_array_values = max_array_values

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

    # ----- rendering -----

    def variable(self, name: str, tref: TypeRef, where: int | bytes) -> VariableInfo:
        t = self.binary.type_info(tref)
        data = where if isinstance(where, bytes) else self.target.read(where, t.size)
        addr = where if isinstance(where, int) else 0
        value, handle, named, indexed = self._render(t, data, addr, depth=0)
        return VariableInfo(
            name=name, value=value, type=t.name, handle=handle,
            named_children=named, indexed_children=indexed,
        )

    def unreadable(self, name: str, tref: TypeRef, why: str) -> VariableInfo:
        t = self.binary.type_info(tref)
        return VariableInfo(name=name, value=f"<{why}>", type=t.name)

    def _render(
        self, t: GoType, data: bytes, addr: int, depth: int
    ) -> tuple[str, ValueRef | None, int | None, int | None]:
        k = t.kind
        if k == "bool":
            return ("true" if data[0] else "false"), None, None, None
        if k == "int":
            return str(int.from_bytes(data[: t.size], "little", signed=True)), None, None, None
        if k == "uint":
            return str(int.from_bytes(data[: t.size], "little")), None, None, None
        if k == "uintptr":
            return hex(int.from_bytes(data[: t.size], "little")), None, None, None
        if k == "float":
            fmt = "<f" if t.size == 4 else "<d"
            return format_float(struct.unpack(fmt, data[: t.size])[0]), None, None, None
        if k == "complex":
            fmt = "<ff" if t.size == 8 else "<dd"
            re_, im = struct.unpack(fmt, data[: t.size])
            sign = "+" if im >= 0 else ""
            return f"({format_float(re_)}{sign}{format_float(im)}i)", None, None, None
        if k == "string":
            return self._string(data), None, None, None
        if k == "unsafe.Pointer":
            ptr = int.from_bytes(data[:8], "little")
            return ("nil" if ptr == 0 else f"unsafe.Pointer({ptr:#x})"), None, None, None
        if k == "ptr":
            ptr = int.from_bytes(data[:8], "little")
            if ptr == 0:
                return "nil", None, None, None
            return f"({t.name})({ptr:#x})", ValueRef(t.offset, addr), 1, None
        if k == "struct":
            summary = self._struct_summary(t, data, depth)
            return summary, ValueRef(t.offset, addr), len(t.fields) or None, None
        if k == "slice":
            ptr, length, cap = struct.unpack_from("<QQQ", data)
            shown = self._elements_summary(t.elem, ptr, length, depth)
            value = f"{t.name} len: {length}, cap: {cap}, {shown}"
            if ptr == 0:
                value = f"{t.name} nil"
            return value, (ValueRef(t.offset, addr) if length else None), None, length or None
        if k == "array":
            n = t.length or 0
            shown = self._elements_summary(t.elem, addr, n, depth) if addr else "[...]"
            return f"{t.name} {shown}", (ValueRef(t.offset, addr) if n and addr else None), \
                None, n or None
        if k in ("map", "chan"):
            ptr = int.from_bytes(data[:8], "little")
            if ptr == 0:
                return f"{t.name} nil", None, None, None
            count = self.target.u64(ptr)  # hmap.count / maps.Map.used / hchan.qcount: first word
            return f"{t.name} len: {count} (elements not shown yet)", None, None, None
        if k == "func":
            ptr = int.from_bytes(data[:8], "little")
            if ptr == 0:
                return "nil", None, None, None
            fn = self.binary.function_for_pc(self.target.u64(ptr))
            return (fn.name if fn else f"func({ptr:#x})"), None, None, None
        if k == "interface":
            tab, ptr = struct.unpack_from("<QQ", data)
            if tab == 0:
                return "nil", None, None, None
            return f"{t.name}(dynamic value at {ptr:#x}; type not decoded yet)", None, None, None
        return f"<{k}>", None, None, None

    def _string(self, data: bytes) -> str:
        ptr, length = struct.unpack_from("<QQ", data)
        if length == 0:
            return '""'
        n = min(length, self.max_string_len)
        try:
            raw = self.target.read(ptr, n)
        except OSError:
            return f"<unreadable string at {ptr:#x}>"
        text = go_quote(raw)
        if n < length:
            text += f"...+{length - n} more"
        return text

    def _leaf(self, tref: TypeRef, data: bytes, addr: int, depth: int) -> str:
        t = self.binary.type_info(tref)
        if t.kind == "struct" and depth >= 1:
            return "{...}"
        return self._render(t, data, addr, depth + 1)[0]

    def _struct_summary(self, t: GoType, data: bytes, depth: int) -> str:
        if depth >= 1:
            return f"{t.name} {{...}}"
        parts = []
        for m in t.fields[:SUMMARY_FIELDS]:
            mt = self.binary.type_info(m.type)
            chunk = data[m.offset : m.offset + mt.size]
            parts.append(f"{m.name}: {self._leaf(m.type, chunk, 0, depth + 1)}")
        more = ", ..." if len(t.fields) > SUMMARY_FIELDS else ""
        return f"{t.name} {{{', '.join(parts)}{more}}}"

    def _elements_summary(self, elem: TypeRef | None, addr: int, n: int, depth: int) -> str:
        if elem is None or n == 0 or addr == 0:
            return "[]"
        if depth >= 1:
            return "[...]"
        et = self.binary.type_info(elem)
        shown = min(n, SUMMARY_FIELDS)
        try:
            raw = self.target.read(addr, et.size * shown)
        except OSError:
            return "[<unreadable>]"
        parts = [
            self._leaf(elem, raw[i * et.size : (i + 1) * et.size], addr + i * et.size, depth + 1)
            for i in range(shown)
        ]
        more = f", ...+{n - shown} more" if n > shown else ""
        return f"[{', '.join(parts)}{more}]"

    # ----- children -----

    def children(self, ref: ValueRef, start: int | None, count: int | None) -> list[VariableInfo]:
        t = self.binary.type_info(ref.type)
        if t.kind == "ptr":
            target_addr = self.target.u64(ref.addr)
            if t.elem is None:
                return []
            return [self.variable(f"*{t.name[1:]}" if t.name.startswith("*") else "*",
                                  t.elem, target_addr)]
        if t.kind == "struct":
            return [self.variable(m.name, m.type, ref.addr + m.offset) for m in t.fields]
        if t.kind in ("slice", "array") and t.elem is not None:
            if t.kind == "slice":
                base, length = struct.unpack("<QQ", self.target.read(ref.addr, 16))
            else:
                base, length = ref.addr, t.length or 0
            et = self.binary.type_info(t.elem)
            first = start or 0
            n = min(count if count else self.max_array_values, max(0, length - first))
            return [
                self.variable(f"[{i}]", t.elem, base + i * et.size)
                for i in range(first, first + n)
            ]
        return []
