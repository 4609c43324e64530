"""DWARF 4/5 line-number programs (.debug_line), decoded from raw bytes one compilation unit
at a time: `header()` reads only the file table, `rows()` runs the state machine."""

from __future__ import annotations

import posixpath
import struct

import attrs

from .leb import cstr, sleb, uleb

# Row layout: (address, file index, line, is_stmt, prologue_end, end_sequence)
Row = tuple[int, int, int, bool, bool, bool]


@attrs.frozen
class LineHeader:
    offset: int
    version: int
    end: int
    program: int  # offset of the first opcode
    min_inst: int
    default_is_stmt: bool
    line_base: int
    line_range: int
    opcode_base: int
    std_lengths: tuple[int, ...]
    files: tuple[str, ...]  # index -> path ("" for unusable entries)
    addr_size: int = 8


def _join(d: str, name: str) -> str:
    if not name or name.startswith("/"):
        return name
    if d in ("", "."):
        return name
    return posixpath.join(d, name)


def header(data: bytes, offset: int, comp_dir: str = "",
           line_str: bytes = b"", debug_str: bytes = b"") -> LineHeader:
    pos = offset
    length = struct.unpack_from("<I", data, pos)[0]
    pos += 4
    osz = 4
    if length == 0xFFFFFFFF:
        length = struct.unpack_from("<Q", data, pos)[0]
        pos += 8
        osz = 8
    end = pos + length
    version = struct.unpack_from("<H", data, pos)[0]
    pos += 2
    addr_size = 8
    if version >= 5:
        addr_size = data[pos]
        pos += 2
    hlen = int.from_bytes(data[pos:pos + osz], "little")
    pos += osz
    program = pos + hlen
    min_inst = data[pos]
    pos += 1
    if version >= 4:
        pos += 1  # max ops per instruction
    default_is_stmt = data[pos] != 0
    line_base = struct.unpack_from("<b", data, pos + 1)[0]
    line_range = data[pos + 2]
    opcode_base = data[pos + 3]
    pos += 4
    std = tuple(data[pos:pos + opcode_base - 1])
    pos += opcode_base - 1
    files: list[str] = []
    if version >= 5:
        def entries(pos: int) -> tuple[list[dict[int, object]], int]:
            nfmt = data[pos]
            pos += 1
            fmts = []
            for _ in range(nfmt):
                ct, pos = uleb(data, pos)
                form, pos = uleb(data, pos)
                fmts.append((ct, form))
            count, pos = uleb(data, pos)
            out = []
            for _ in range(count):
                e: dict[int, object] = {}
                for ct, form in fmts:
                    v, pos = _form(data, pos, form, osz, line_str, debug_str)
                    e[ct] = v
                out.append(e)
            return out, pos

        dirs_e, pos = entries(pos)
        files_e, pos = entries(pos)
        dirs = [str(d.get(1, "")) for d in dirs_e]
        if dirs and dirs[0] in ("", ".") and comp_dir:
            dirs[0] = comp_dir if comp_dir != "." else dirs[0]
        for fe in files_e:
            name = str(fe.get(1, ""))
            di = fe.get(2, 0)
            d = dirs[di] if isinstance(di, int) and di < len(dirs) else ""
            files.append("" if name in ("?", "") else _join(d, name))
    else:
        dirs = [comp_dir]
        while data[pos] != 0:
            d, pos = cstr(data, pos)
            dirs.append(d)
        pos += 1
        files.append("")  # DWARF 4 file indexes start at 1
        while data[pos] != 0:
            name, pos = cstr(data, pos)
            di, pos = uleb(data, pos)
            _, pos = uleb(data, pos)
            _, pos = uleb(data, pos)
            files.append(_join(dirs[di] if di < len(dirs) else "", name))
    return LineHeader(offset, version, end, program, min_inst, default_is_stmt, line_base,
                      line_range, opcode_base, std, tuple(files), addr_size)


def _form(data: bytes, pos: int, form: int, osz: int, line_str: bytes,
          debug_str: bytes) -> tuple[object, int]:
    if form == 0x08:
        return cstr(data, pos)
    if form == 0x1F:
        off = int.from_bytes(data[pos:pos + osz], "little")
        return cstr(line_str, off)[0], pos + osz
    if form == 0x0E:
        off = int.from_bytes(data[pos:pos + osz], "little")
        return cstr(debug_str, off)[0], pos + osz
    if form == 0x0F:
        return uleb(data, pos)
    if form == 0x0B:
        return data[pos], pos + 1
    if form == 0x05:
        return struct.unpack_from("<H", data, pos)[0], pos + 2
    if form == 0x06:
        return struct.unpack_from("<I", data, pos)[0], pos + 4
    if form == 0x07:
        return struct.unpack_from("<Q", data, pos)[0], pos + 8
    if form == 0x1E:
        return bytes(data[pos:pos + 16]), pos + 16
    if form == 0x09:
        n, pos = uleb(data, pos)
        return bytes(data[pos:pos + n]), pos + n
    raise ValueError(f"unsupported line table form {form:#x}")


def rows(data: bytes, h: LineHeader) -> list[Row]:
    """Run the line-number state machine; rows in program order."""
    out: list[Row] = []
    pos = h.program
    end = h.end
    ob = h.opcode_base
    lb = h.line_base
    lr = h.line_range
    mi = h.min_inst
    addr, file, line, stmt = 0, 1, 1, h.default_is_stmt
    pend = False
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= ob:
            adj = op - ob
            addr += (adj // lr) * mi
            line += lb + adj % lr
            out.append((addr, file, line, stmt, pend, False))
            pend = False
        elif op == 0:
            n, pos = uleb(data, pos)
            sub = data[pos]
            if sub == 1:
                out.append((addr, file, line, stmt, pend, True))
                addr, file, line, stmt = 0, 1, 1, h.default_is_stmt
                pend = False
            elif sub == 2:
                addr = int.from_bytes(data[pos + 1:pos + n], "little")
            pos += n
        elif op == 1:
            out.append((addr, file, line, stmt, pend, False))
            pend = False
        elif op == 2:
            v, pos = uleb(data, pos)
            addr += v * mi
        elif op == 3:
            v, pos = sleb(data, pos)
            line += v
        elif op == 4:
            file, pos = uleb(data, pos)
        elif op == 5:
            _, pos = uleb(data, pos)
        elif op == 6:
            stmt = not stmt
        elif op == 7:
            pass
        elif op == 8:
            addr += ((255 - ob) // lr) * mi
        elif op == 9:
            addr += struct.unpack_from("<H", data, pos)[0]
            pos += 2
        elif op == 10:
            pend = True
        else:
            for _ in range(h.std_lengths[op - 1]):
                _, pos = uleb(data, pos)
    return out
