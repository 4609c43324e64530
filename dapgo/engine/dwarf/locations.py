"""DWARF location descriptions as Go emits them: single expressions (DW_OP_fbreg relative to
DW_OP_call_frame_cfa, DW_OP_regN, DW_OP_addr, DW_OP_piece) and location lists, both DWARF 4
(.debug_loc) and DWARF 5 (.debug_loclists with .debug_addr indexes)."""

from __future__ import annotations

import struct

from .leb import sleb, uleb
from .model import AddrLoc, Location, Piece, PiecesLoc, RegLoc, StackLoc

Simple = StackLoc | RegLoc | AddrLoc


def decode_expr(expr: bytes) -> Location | None:
    """Decode a Go location expression; None when empty (optimized out) or unsupported."""
    if not expr:
        return None
    pos = 0
    pieces: list[Piece] = []
    cur: Simple | None = None
    saw_piece = False
    while pos < len(expr):
        op = expr[pos]
        pos += 1
        if 0x50 <= op <= 0x6F:
            cur = RegLoc(op - 0x50)
        elif op == 0x90:
            r, pos = uleb(expr, pos)
            cur = RegLoc(r)
        elif op == 0x91:
            off, pos = sleb(expr, pos)
            cur = StackLoc(off)
        elif op == 0x9C:
            cur = StackLoc(0)
        elif op == 0x03:
            cur = AddrLoc(struct.unpack_from("<Q", expr, pos)[0])
            pos += 8
        elif op == 0x93:
            size, pos = uleb(expr, pos)
            pieces.append(Piece(size, cur))
            cur = None
            saw_piece = True
        else:
            return None  # an operation a Go compiler does not emit for variables
    if saw_piece:
        return PiecesLoc(pieces)
    return cur


def lookup_loclist5(sec: bytes, offset: int, pc: int, base: int, addr_sec: bytes,
                    addr_base: int) -> bytes | None:
    """Expression of the .debug_loclists entry covering pc (None if none covers it)."""
    pos = offset

    def addrx(i: int) -> int:
        o = addr_base + i * 8
        return int(struct.unpack_from("<Q", addr_sec, o)[0])

    while pos < len(sec):
        kind = sec[pos]
        pos += 1
        lo = hi = None
        if kind == 0:
            return None
        if kind == 1:
            i, pos = uleb(sec, pos)
            base = addrx(i)
            continue
        if kind == 6:
            base = struct.unpack_from("<Q", sec, pos)[0]
            pos += 8
            continue
        if kind == 2:
            a, pos = uleb(sec, pos)
            b, pos = uleb(sec, pos)
            lo, hi = addrx(a), addrx(b)
        elif kind == 3:
            a, pos = uleb(sec, pos)
            n, pos = uleb(sec, pos)
            lo = addrx(a)
            hi = lo + n
        elif kind == 4:
            a, pos = uleb(sec, pos)
            b, pos = uleb(sec, pos)
            lo, hi = base + a, base + b
        elif kind == 5:
            pass
        elif kind == 7:
            lo, hi = struct.unpack_from("<QQ", sec, pos)
            pos += 16
        elif kind == 8:
            lo = struct.unpack_from("<Q", sec, pos)[0]
            pos += 8
            n, pos = uleb(sec, pos)
            hi = lo + n
        else:
            return None
        n, pos = uleb(sec, pos)
        expr = sec[pos:pos + n]
        pos += n
        if lo is None or lo <= pc < hi:  # type: ignore[operator]
            return bytes(expr)
    return None


def lookup_loc4(sec: bytes, offset: int, pc: int, base: int) -> bytes | None:
    """Expression of the DWARF 4 .debug_loc entry covering pc."""
    pos = offset
    while pos + 16 <= len(sec):
        lo, hi = struct.unpack_from("<QQ", sec, pos)
        pos += 16
        if lo == 0 and hi == 0:
            return None
        if lo == 0xFFFFFFFFFFFFFFFF:
            base = hi
            continue
        n = struct.unpack_from("<H", sec, pos)[0]
        pos += 2
        if base + lo <= pc < base + hi:
            return bytes(sec[pos:pos + n])
        pos += n
    return None


def ranges5(sec: bytes, offset: int, base: int, addr_sec: bytes,
            addr_base: int) -> list[tuple[int, int]]:
    """Address ranges of a .debug_rnglists list."""
    out: list[tuple[int, int]] = []
    pos = offset

    def addrx(i: int) -> int:
        return int(struct.unpack_from("<Q", addr_sec, addr_base + i * 8)[0])

    while pos < len(sec):
        kind = sec[pos]
        pos += 1
        if kind == 0:
            break
        if kind == 1:
            i, pos = uleb(sec, pos)
            base = addrx(i)
        elif kind == 5:
            base = struct.unpack_from("<Q", sec, pos)[0]
            pos += 8
        elif kind == 2:
            a, pos = uleb(sec, pos)
            b, pos = uleb(sec, pos)
            out.append((addrx(a), addrx(b)))
        elif kind == 3:
            a, pos = uleb(sec, pos)
            n, pos = uleb(sec, pos)
            out.append((addrx(a), addrx(a) + n))
        elif kind == 4:
            a, pos = uleb(sec, pos)
            b, pos = uleb(sec, pos)
            out.append((base + a, base + b))
        elif kind == 6:
            lo, hi = struct.unpack_from("<QQ", sec, pos)
            pos += 16
            out.append((lo, hi))
        elif kind == 7:
            lo = struct.unpack_from("<Q", sec, pos)[0]
            pos += 8
            n, pos = uleb(sec, pos)
            out.append((lo, lo + n))
        else:
            break
    return out


def ranges4(sec: bytes, offset: int, base: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = offset
    while pos + 16 <= len(sec):
        lo, hi = struct.unpack_from("<QQ", sec, pos)
        pos += 16
        if lo == 0 and hi == 0:
            break
        if lo == 0xFFFFFFFFFFFFFFFF:
            base = hi
            continue
        out.append((base + lo, base + hi))
    return out
