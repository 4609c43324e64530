"""Byte-level primitives shared by the DWARF/pclntab readers: LEB128 and C strings."""

from __future__ import annotations


def uleb(data: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 at `pos`; return (value, new position)."""
    result = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def sleb(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a signed LEB128 at `pos`; return (value, new position)."""
    result = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos


def cstr(data: bytes, pos: int) -> tuple[str, int]:
    """Read a NUL-terminated UTF-8 string at `pos`; return (text, position after the NUL)."""
    end = data.index(b"\0", pos)
    return data[pos:end].decode("utf-8", "replace"), end + 1
