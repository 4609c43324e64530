"""DWARF line tables (.debug_line, DWARF 4 and 5), decoded by pyelftools one unit, or one
function, at a time.

A unit's header (file and directory tables, all forms) is `DWARFInfo.line_program_for_CU()`.
Its rows come from pyelftools' `LineProgram` state machine, turned into compact tuples and
cached. pyelftools spends ~3.8 us per entry (a LineProgramEntry and a copy of the state
each), so decoding a whole unit is only done when a request needs all of it (a line
breakpoint in one of its files): runtime's 107,000 entries in cmd/go take ~0.4 s.

The rows of one function don't need the whole unit: Go's linker writes every function as its
own sequence, opened by DW_LNE_set_address <entry> and closed by DW_LNE_end_sequence.
`function_rows()` finds that sequence with bytes.find and hands just its byte range to a
pyelftools LineProgram (cmd/go: main.main in ~1 ms, any runtime function in a few ms)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from elftools.dwarf.compileunit import CompileUnit
from elftools.dwarf.constants import DW_LNE
from elftools.dwarf.dwarfinfo import DWARFInfo
from elftools.dwarf.lineprogram import LineProgram

from .dies import attr_value

# Row layout: (address, file index, line, is_stmt, prologue_end, end_sequence)
Row = tuple[int, int, int, bool, bool, bool]

_SET_ADDRESS = bytes((0, 9, DW_LNE.set_address))  # extended op, length 9 (op + 8-byte address)
_END_THEN_SET = bytes((0, 1, DW_LNE.end_sequence)) + _SET_ADDRESS


def _text(v: object) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v if isinstance(v, str) else ""


def _join(d: str, name: str) -> str:
    if not name or name.startswith("/") or d in ("", "."):
        return name
    return posixpath.join(d, name)


class LineTables:
    """Line programs of one DWARFInfo: file tables and rows, per unit, cached."""

    def __init__(self, dwarf: DWARFInfo, line_bytes: Callable[[], bytes]) -> None:
        self._dwarf = dwarf
        self._line_bytes = line_bytes  # .debug_line contents, for locating sequences
        self._files: dict[int, tuple[str, ...]] = {}
        self._rows: dict[int, list[Row]] = {}
        self._fn_rows: dict[int, list[Row] | None] = {}

    def program(self, cu: CompileUnit) -> LineProgram | None:
        return self._dwarf.line_program_for_CU(cu)

    def files(self, cu: CompileUnit) -> tuple[str, ...]:
        """File register value -> path for a unit's line program ("" for unusable entries)."""
        got = self._files.get(cu.cu_offset)
        if got is not None:
            return got
        lp = self.program(cu)
        files: list[str] = []
        if lp is not None:
            comp_dir = _text(attr_value(cu.get_top_DIE(), "DW_AT_comp_dir", b""))
            dirs = [_text(d) for d in lp.header.include_directory]
            if lp.header.version >= 5:
                # Directory 0 is the unit's directory; file register values start at 0.
                if dirs and dirs[0] in ("", ".") and comp_dir not in ("", "."):
                    dirs[0] = comp_dir
            else:
                dirs.insert(0, comp_dir)  # directory index 0 is the unit's directory
                files.append("")  # file register values start at 1
            for fe in lp.header.file_entry:
                name = _text(fe.name)
                di = fe.dir_index or 0
                d = dirs[di] if di < len(dirs) else ""
                files.append("" if name in ("", "?") else _join(d, name))
        got = tuple(files)
        self._files[cu.cu_offset] = got
        return got

    def rows(self, cu: CompileUnit) -> list[Row]:
        """Every row of a unit's line program, in program order."""
        got = self._rows.get(cu.cu_offset)
        if got is None:
            lp = self.program(cu)
            got = [] if lp is None else _decode(lp, lp.program_start_offset,
                                                lp.program_end_offset)
            self._rows[cu.cu_offset] = got
        return got

    def function_rows(self, cu: CompileUnit, entry: int) -> list[Row] | None:
        """Rows of the sequence that starts at `entry` (a function's first instruction), or
        None when the unit does not open a sequence there (the caller then uses rows())."""
        if entry in self._fn_rows:
            return self._fn_rows[entry]
        got: list[Row] | None = None
        lp = self.program(cu)
        if lp is not None and lp.structs.address_size == 8:
            data = self._line_bytes()
            start = data.find(_SET_ADDRESS + entry.to_bytes(8, "little"),
                              lp.program_start_offset, lp.program_end_offset)
            if start >= 0:
                nxt = data.find(_END_THEN_SET, start, lp.program_end_offset)
                end = (lp.program_end_offset if nxt < 0
                       else nxt + len(_END_THEN_SET) - len(_SET_ADDRESS))
                rows = _decode(lp, start, end)
                # Exactly one sequence, or the byte pattern misled us: then decode it all.
                if rows and rows[-1][5] and sum(r[5] for r in rows) == 1:
                    got = rows
        self._fn_rows[entry] = got
        return got


def _decode(lp: LineProgram, start: int, end: int) -> list[Row]:
    """Run pyelftools' state machine over [start, end) of a program and keep the rows.

    A fresh LineProgram over the same header is used so that pyelftools' cache of decoded
    entries (kept on the LineProgram that DWARFInfo caches) is dropped once the rows are built."""
    prog = LineProgram(header=lp.header, stream=lp.stream, structs=lp.structs,
                       program_start_offset=start, program_end_offset=end)
    out: list[Row] = []
    for e in prog.get_entries():
        s = e.state
        if s is not None:
            out.append((s.address, s.file, s.line, bool(s.is_stmt), s.prologue_end,
                        s.end_sequence))
    return out
