"""LEB128 numbers, as DWARF and Go's own tables (pclntab varints, build info) write them:
(value, position after it) from bytes at a position."""

from __future__ import annotations


def uleb(data: bytes, pos: int) -> tuple[int, int]:
    """Unsigned (Go's uvarint)."""
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def sleb(data: bytes, pos: int) -> tuple[int, int]:
    """Signed: the same 7-bit groups, the last byte's 0x40 bit extending the sign."""
    value, end = uleb(data, pos)
    if data[end - 1] & 0x40:
        value -= 1 << (7 * (end - pos))
    return value, end
