"""What the BPF program reads for one value, derived from DWARF, and how user space prints it.

A `ValueRead` is a value's storage as pieces (register, SP-relative stack slot, fixed
address), an optional chain of pointer dereferences, and whether string/slice contents follow.
`path_read` turns a Delve-style expression path (`name`, `a.b.c`, `*p`, `p.x` through
pointers) into one; `result_reads` finds a function's results at a RET instruction under
Go's register ABI. Anything that cannot be read in the kernel becomes a `NotReadable` with
the reason, so the caller can fall back (or print why).
"""

from __future__ import annotations

import math
import re
import struct

import attrs

from dapgo.engine.dwarf import (
    AddrLoc,
    BinaryInfo,
    Function,
    GoType,
    Location,
    RegLoc,
    StackLoc,
    TypeRef,
    VarInfo,
)
from dapgo.engine.gofmt import go_quote

from . import layout as L

# Go register ABI (amd64): integer registers in assignment order, as DWARF numbers
ABI_INT_REGS = [0, 3, 2, 5, 4, 8, 9, 10, 11]  # RAX RBX RCX RDI RSI R8 R9 R10 R11
DEFAULT_STRING_CAP = 64


_WORD_KINDS = frozenset({"ptr", "map", "chan", "func", "unsafe.Pointer"})


def tsize(t: GoType) -> int:
    """A type's size; pointer-shaped types are 8 bytes even when DWARF omits byte_size."""
    return 8 if t.kind in _WORD_KINDS and t.size == 0 else t.size


class NotReadable(Exception):
    """This value cannot be read by the BPF program; the message says why."""


@attrs.frozen
class PieceSpec:
    src: int       # layout.SRC_*
    reg: int = 0   # pt_regs word (SRC_REG)
    off: int = 0   # SP offset (SRC_SP) or address (SRC_ADDR)
    size: int = 8
    dst: int = 0


@attrs.frozen
class ValueRead:
    name: str
    type: TypeRef
    pieces: tuple[PieceSpec, ...]
    derefs: tuple[tuple[int, int], ...] = ()   # (offset, size) per dereference
    kind: int = L.VK_PLAIN
    elem_size: int = 0
    data_cap: int = 0
    sext: int = 0  # signed ints narrower than 8 bytes: their size

    def valspec(self) -> L.ValSpec:
        v = L.ValSpec()
        if len(self.pieces) > L.MAX_PIECES or len(self.derefs) > L.MAX_DEREF:
            raise NotReadable(f"{self.name}: too many pieces or dereferences")
        v.npieces = len(self.pieces)
        for i, p in enumerate(self.pieces):
            v.pieces[i].src = p.src
            v.pieces[i].reg = p.reg
            v.pieces[i].off = p.off
            v.pieces[i].size = p.size
            v.pieces[i].dst = p.dst
        v.nderef = len(self.derefs)
        for i, (off, size) in enumerate(self.derefs):
            v.deref_off[i] = off
            v.deref_size[i] = size
        v.kind = self.kind
        v.elem_size = self.elem_size
        v.data_cap = self.data_cap
        v.sext = self.sext
        return v


def _kind_extras(bi: BinaryInfo, t: GoType, cap: int) -> tuple[int, int, int]:
    if t.kind == "string":
        return L.VK_STRING, 1, min(cap, L.DATA_MAX)
    if t.kind == "slice" and t.elem is not None:
        es = tsize(bi.type_info(t.elem))
        if es > 0 and bi.type_info(t.elem).kind in _SCALAR:
            return L.VK_SLICE, es, min(L.DATA_MAX, max(cap, 8 * es))
    return L.VK_PLAIN, 0, 0


_SCALAR = frozenset({"int", "uint", "uintptr", "bool", "float", "ptr", "unsafe.Pointer"})


def cfa_sp_delta(bi: BinaryInfo, pc: int) -> int:
    """CFA - SP at pc (Go: the frame's SP adjustment plus the return address)."""
    off = bi.sp_offset(pc)
    if off is None:
        raise NotReadable(f"no stack-frame information at {pc:#x}")
    return off + 8


def _pieces_for(loc: Location | None, start: int, size: int, sp_delta: int,
                name: str) -> tuple[PieceSpec, ...]:
    """Pieces that read bytes [start, start+size) of a value stored at loc."""
    if loc is None:
        raise NotReadable(f"{name} is optimized out at this address")
    if isinstance(loc, StackLoc):
        return (PieceSpec(L.SRC_SP, off=sp_delta + loc.cfa_offset + start, size=size),)
    if isinstance(loc, AddrLoc):
        return (PieceSpec(L.SRC_ADDR, off=loc.addr + start, size=size),)
    if isinstance(loc, RegLoc):
        if start != 0 or size > 8 or loc.regnum not in L.DWARF_TO_PTREGS:
            raise NotReadable(f"{name}: part of a register, or a register BPF cannot see")
        return (PieceSpec(L.SRC_REG, reg=L.DWARF_TO_PTREGS[loc.regnum], size=size),)
    out: list[PieceSpec] = []
    pos = 0
    end = start + size
    for pc in loc.pieces:
        lo, hi = pos, pos + pc.size
        pos = hi
        if hi <= start or lo >= end:
            continue
        a, b = max(lo, start), min(hi, end)
        if pc.loc is None:
            raise NotReadable(f"{name}: part of it is optimized out here")
        sub = _pieces_for(pc.loc, a - lo, b - a, sp_delta, name) if not isinstance(
            pc.loc, RegLoc) else _reg_piece(pc.loc, a - lo, b - a, name)
        out.extend(attrs.evolve(p, dst=a - start) for p in sub)
    if pos < end:
        raise NotReadable(f"{name}: its location does not cover the value")
    return tuple(out)


def _reg_piece(loc: RegLoc, start: int, size: int, name: str) -> tuple[PieceSpec, ...]:
    if start != 0 or loc.regnum not in L.DWARF_TO_PTREGS:
        raise NotReadable(f"{name}: part of a register, or a register BPF cannot see")
    return (PieceSpec(L.SRC_REG, reg=L.DWARF_TO_PTREGS[loc.regnum], size=min(size, 8)),)


_PATH = re.compile(r"^\s*(\**)\s*([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)*)\s*$")


def path_read(bi: BinaryInfo, fn: Function, pc: int, expr: str, *,
              string_cap: int = DEFAULT_STRING_CAP,
              variables: list[VarInfo] | None = None) -> ValueRead:
    """How to read `expr` (a variable, `a.b.c` through structs and pointers, `*p`) at pc."""
    m = _PATH.match(expr)
    if m is None:
        raise NotReadable(f"{expr!r}: only variables, fields and * are evaluated in the kernel")
    stars, name, rest = m.group(1), m.group(2), m.group(3)
    fields = [f.strip() for f in rest.split(".") if f.strip()]
    vs = variables if variables is not None else bi.frame_variables(fn, pc)
    var = next((v for v in reversed(vs) if v.name == name), None)
    if var is None:
        g = bi.global_variable(name) or bi.global_variable(f"{fn.name.rsplit('.', 1)[0]}."
                                                           f"{name}")
        if g is None:
            raise NotReadable(f"could not find symbol value for {name}")
        var = g
    sp_delta = cfa_sp_delta(bi, pc)
    t = bi.type_info(var.type)
    tref = var.type
    cur_off = 0
    derefs: list[tuple[int, int]] = []

    def deref() -> None:
        nonlocal cur_off, t, tref
        if t.elem is None:
            raise NotReadable(f"{expr}: cannot dereference {t.name}")
        if derefs:
            derefs[-1] = (derefs[-1][0] + cur_off, 8)
        derefs.append((0, 0))
        cur_off = 0
        tref = t.elem
        t = bi.type_info(tref)

    base_off = 0
    for f in fields:
        if t.kind == "ptr":
            if not derefs:
                base_off = cur_off
            deref()
        if t.kind != "struct":
            raise NotReadable(f"{expr}: {t.name} has no field {f}")
        mem = next((x for x in t.fields if x.name == f), None)
        if mem is None:
            raise NotReadable(f"{expr}: {t.name} has no field {f}")
        cur_off += mem.offset
        tref = mem.type
        t = bi.type_info(tref)
    for _ in stars:
        if t.kind != "ptr":
            raise NotReadable(f"{expr}: {t.name} is not a pointer")
        if not derefs:
            base_off = cur_off
        deref()
    size = tsize(t)
    if size > L.RAW_MAX:
        raise NotReadable(f"{expr}: {t.name} is larger than {L.RAW_MAX} bytes")
    if derefs:
        derefs[-1] = (derefs[-1][0] + cur_off, size)
        pieces = _pieces_for(var.location, base_off, 8, sp_delta, name)
    else:
        pieces = _pieces_for(var.location, cur_off, size, sp_delta, name)
    kind, es, cap = _kind_extras(bi, t, string_cap)
    sext = size if t.kind == "int" and size < 8 else 0
    return ValueRead(expr, tref, pieces, tuple(derefs), kind, es, cap, sext)


def var_read(bi: BinaryInfo, var: VarInfo, pc: int, *,
             string_cap: int = DEFAULT_STRING_CAP) -> ValueRead:
    t = bi.type_info(var.type)
    if tsize(t) > L.RAW_MAX:
        raise NotReadable(f"{var.name}: {t.name} is larger than {L.RAW_MAX} bytes")
    pieces = _pieces_for(var.location, 0, tsize(t), cfa_sp_delta(bi, pc), var.name)
    kind, es, cap = _kind_extras(bi, t, string_cap)
    return ValueRead(var.name, var.type, pieces, (), kind, es, cap)


def _int_regs_needed(bi: BinaryInfo, t: GoType, depth: int = 0) -> int | None:
    """Integer registers a value takes under the register ABI; None if it cannot go in
    integer registers (floats, large arrays: read from the stack slot instead)."""
    if depth > 8:
        return None
    k = t.kind
    if k in ("int", "uint", "uintptr", "bool", "ptr", "map", "chan", "func",
             "unsafe.Pointer"):
        return 1 if tsize(t) <= 8 else None
    if k == "string" or k == "interface":
        return 2
    if k == "slice":
        return 3
    if k == "struct":
        n = 0
        for f in t.fields:
            m = _int_regs_needed(bi, bi.type_info(f.type), depth + 1)
            if m is None:
                return None
            n += m
        return n
    if k == "array":
        if t.length == 0:
            return 0
        if t.length == 1 and t.elem is not None:
            return _int_regs_needed(bi, bi.type_info(t.elem), depth + 1)
        return None
    return None


def _reg_pieces(bi: BinaryInfo, t: GoType, regs: list[int], base: int
                ) -> list[PieceSpec]:
    """Pieces of a register-assigned value, consuming `regs` (DWARF numbers) in order."""
    k = t.kind
    if k == "struct":
        out: list[PieceSpec] = []
        for f in t.fields:
            out.extend(_reg_pieces(bi, bi.type_info(f.type), regs, base + f.offset))
        return out
    if k == "array":
        return [] if t.length == 0 or t.elem is None else _reg_pieces(
            bi, bi.type_info(t.elem), regs, base)
    n = {"string": 2, "interface": 2, "slice": 3}.get(k, 1)
    out = []
    for i in range(n):
        r = regs.pop(0)
        out.append(PieceSpec(L.SRC_REG, reg=L.DWARF_TO_PTREGS[r],
                             size=min(8, tsize(t) - 8 * i), dst=base + 8 * i))
    return out


def result_reads(bi: BinaryInfo, fn: Function, ret_pc: int, *,
                 string_cap: int = DEFAULT_STRING_CAP
                 ) -> list[ValueRead | NotReadable]:
    """The results of fn as seen at one of its RET instructions: in registers under Go's
    register ABI (RAX, RBX, RCX, RDI, RSI, R8-R11), else (floats, or no register left) the
    location DWARF gives at that pc."""
    results = [v for v in bi.frame_variables(fn, ret_pc)
               if v.is_arg and (v.name.startswith("~r") or _is_result(bi, fn, v))]
    free = list(ABI_INT_REGS)
    out: list[ValueRead | NotReadable] = []
    for v in results:
        t = bi.type_info(v.type)
        need = _int_regs_needed(bi, t)
        try:
            if need is not None and need <= len(free) and tsize(t) <= L.RAW_MAX:
                pieces = tuple(_reg_pieces(bi, t, free, 0))
                kind, es, cap = _kind_extras(bi, t, string_cap)
                out.append(ValueRead(v.name, v.type, pieces, (), kind, es, cap))
            else:
                out.append(var_read(bi, v, ret_pc, string_cap=string_cap))
        except NotReadable as e:
            out.append(e)
    return out


def _is_result(bi: BinaryInfo, fn: Function, v: VarInfo) -> bool:
    """Named results: DWARF marks them DW_AT_variable_parameter; the dwarf layer does not
    expose that yet, so a formal parameter whose entry location is on the stack below the
    CFA (a spill slot, not an incoming argument) is taken to be a result."""
    entry_vars = bi.frame_variables(fn, bi.first_pc_after_prologue(fn))
    ev = next((x for x in entry_vars if x.name == v.name), None)
    return ev is not None and isinstance(ev.location, StackLoc) and ev.location.cfa_offset < 0


def arg_reads(bi: BinaryInfo, fn: Function, pc: int, *,
              string_cap: int = DEFAULT_STRING_CAP) -> list[tuple[str, ValueRead | NotReadable]]:
    """Arguments (not results) of fn at pc, in declaration order."""
    out: list[tuple[str, ValueRead | NotReadable]] = []
    for v in bi.frame_variables(fn, pc):
        if not v.is_arg or v.name.startswith("~r"):
            continue
        if isinstance(v.location, StackLoc) and v.location.cfa_offset < 0:
            continue  # a named result's slot (arguments arrive in registers or above CFA)
        try:
            out.append((v.name, var_read(bi, v, pc, string_cap=string_cap)))
        except NotReadable as e:
            out.append((v.name, e))
    return out


# --- formatting (Delve's style) ------------------------------------------------------------
_ERRS = {L.VE_READ: "(unreadable could not read memory)",
         L.VE_NIL: "(unreadable nil pointer dereference)",
         L.VE_UNAVAILABLE: "(unreadable optimized out)"}


def _scalar(bi: BinaryInfo, t: GoType, b: bytes) -> str:
    k = t.kind
    if len(b) < tsize(t):
        return "..."
    b = b[:tsize(t)]
    if k == "bool":
        return "true" if b[0] else "false"
    if k == "int":
        return str(int.from_bytes(b, "little", signed=True))
    if k in ("uint", "uintptr"):
        return str(int.from_bytes(b, "little"))
    if k == "float":
        f = struct.unpack("<d" if tsize(t) == 8 else "<f", b)[0]
        return _float(f)
    if k == "complex":
        h = tsize(t) // 2
        fmt = "<d" if h == 8 else "<f"
        return f"({_float(struct.unpack(fmt, b[:h])[0])} + " \
               f"{_float(struct.unpack(fmt, b[h:])[0])}i)"
    p = int.from_bytes(b[:8], "little")
    if k in ("ptr", "unsafe.Pointer"):
        return "nil" if p == 0 else f"({t.name})({p:#x})"
    if k in ("map", "chan", "func"):
        return "nil" if p == 0 else f"{t.name} {p:#x}"
    return b.hex()


def _float(f: float) -> str:
    if math.isinf(f) or math.isnan(f):
        return {True: "+Inf", False: "-Inf"}[f > 0] if math.isinf(f) else "NaN"
    return repr(f) if f != int(f) or abs(f) >= 1e21 else str(int(f))


def format_raw(bi: BinaryInfo, tref: TypeRef, raw: bytes, depth: int = 0) -> str:
    """A value from its storage bytes only (no dereferenced contents)."""
    t = bi.type_info(tref)
    k = t.kind
    if k == "string":
        if len(raw) < 16:
            return "..."
        n = int.from_bytes(raw[8:16], "little")
        return '""' if n == 0 else f"(string len {n})"
    if k == "slice":
        if len(raw) < 24:
            return "..."
        p, n, c = struct.unpack_from("<QQQ", raw)
        return "nil" if p == 0 else f"{t.name} len: {n}, cap: {c}, [...]"
    if k == "interface":
        if len(raw) < 16:
            return "..."
        tab, data = struct.unpack_from("<QQ", raw)
        return "nil" if tab == 0 and data == 0 else f"{t.name}({data:#x})"
    if k == "struct":
        if depth > 2:
            return f"{t.name} {{...}}"
        parts = []
        for f in t.fields:
            ft = bi.type_info(f.type)
            if f.offset + tsize(ft) > len(raw):
                parts.append("...")
                break
            parts.append(f"{f.name}: {format_raw(bi, f.type, raw[f.offset:], depth + 1)}")
        return f"{t.name} {{{', '.join(parts)}}}"
    if k == "array":
        if t.elem is None or t.length is None:
            return "[...]"
        et = bi.type_info(t.elem)
        items = []
        for i in range(t.length):
            if (i + 1) * tsize(et) > len(raw):
                items.append("...")
                break
            items.append(format_raw(bi, t.elem, raw[i * tsize(et):], depth + 1))
        return f"{t.name} [{','.join(items)}]"
    return _scalar(bi, t, raw)


def format_value(bi: BinaryInfo, tref: TypeRef, err: int, raw: bytes, data: bytes,
                 full_len: int) -> str:
    """A value read in the kernel, printed like Delve prints it."""
    if err:
        return _ERRS.get(err, f"(unreadable error {err})")
    t = bi.type_info(tref)
    if t.kind == "string":
        s = go_quote(data)
        more = full_len - len(data)
        return s + (f"...+{more} more" if more > 0 else "")
    if t.kind == "slice" and len(raw) >= 24 and t.elem is not None:
        p, n, c = struct.unpack_from("<QQQ", raw)
        if p == 0:
            return "nil"
        et = bi.type_info(t.elem)
        if et.kind in _SCALAR and tsize(et) > 0:
            items = [_scalar(bi, et, data[i:i + tsize(et)])
                     for i in range(0, len(data) - tsize(et) + 1, tsize(et))]
            shown = ",".join(items)
            if len(items) < n:
                shown += f",...+{n - len(items)} more"
            return f"{t.name} len: {n}, cap: {c}, [{shown}]"
    return format_raw(bi, tref, raw)
