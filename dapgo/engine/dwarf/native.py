"""Code that is not Go: C functions of cgo programs (names from .symtab, lines from the C
compilation units' DWARF line programs).

.gopclntab knows only Go functions; a pc outside it is named by the ELF function symbol
that covers it, and given a file and line by the line program of the (gcc/clang) unit that
covers it. Units are told apart by DW_AT_language; only non-Go units are looked at, so a
pure Go binary pays nothing."""

from __future__ import annotations

import bisect
import struct

from .dies import DebugInfo, attr_int
from .elf import ElfImage
from .lineprog import LineTables
from .locations import Locator
from .model import Function

_SYM = struct.Struct("<IBBHQQ")
_STT_FUNC = 2
_DW_LANG_GO = 0x16


class FunctionSymbols:
    """The STT_FUNC symbols of an ELF file (.symtab, else .dynsym of a stripped library),
    by address."""

    def __init__(self, elf: ElfImage) -> None:
        self._elf = elf
        self._funcs: list[tuple[int, int, str]] | None = None
        self._starts: list[int] = []

    def _functions(self) -> list[tuple[int, int, str]]:
        if self._funcs is None:
            out: list[tuple[int, int, str]] = []
            elf = self._elf.elffile
            table = elf.get_section_by_name(".symtab") or elf.get_section_by_name(".dynsym")
            if table is not None:
                strs = self._elf.data(elf.get_section(table["sh_link"]).name)
                for name_off, info, _o, shndx, value, size in _SYM.iter_unpack(
                        self._elf.data(table.name)):
                    if info & 0xF != _STT_FUNC or shndx == 0 or not value:
                        continue
                    end = strs.index(b"\0", name_off)
                    out.append((value, size, strs[name_off:end].decode("utf-8", "replace")))
            out.sort()
            self._funcs = out
            self._starts = [f[0] for f in out]
        return self._funcs

    def function_for_pc(self, pc: int) -> Function | None:
        """The function symbol covering pc, as a non-Go Function."""
        funcs = self._functions()
        i = bisect.bisect_right(self._starts, pc) - 1
        if i < 0:
            return None
        start, size, name = funcs[i]
        if not size:  # a label: up to the next symbol, in the same section
            sec = self._elf.section_for_addr(start)
            nxt = funcs[i + 1][0] if i + 1 < len(funcs) else start + 1
            end = min(nxt, sec.addr + sec.size) if sec is not None else start + 1
        else:
            end = start + size
        return Function(name, start, end, go=False) if start <= pc < end else None

    def function(self, name: str) -> Function | None:
        for start, size, fname in self._functions():
            if fname == name:
                return Function(fname, start, start + max(size, 1), go=False)
        return None


class NativeCode:
    def __init__(self, elf: ElfImage, dwarf: DebugInfo, lines: LineTables,
                 locator: Locator) -> None:
        self._elf = elf
        self._dwarf = dwarf
        self._lines = lines
        self._locator = locator
        self.symbols = FunctionSymbols(elf)
        self._units: list[tuple[int, int, int]] | None = None  # (lo, hi, unit offset)
        self._rows: dict[int, list[tuple[int, str, int, bool]]] = {}

    def function_for_pc(self, pc: int) -> Function | None:
        """The ELF function symbol covering pc (a C function), as a non-Go Function."""
        return self.symbols.function_for_pc(pc)

    def function(self, name: str) -> Function | None:
        return self.symbols.function(name)

    # --- lines -----------------------------------------------------------------------------
    def _unit_ranges(self) -> list[tuple[int, int, int]]:
        if self._units is None:
            out: list[tuple[int, int, int]] = []
            for cu in self._dwarf.units():
                top = cu.get_top_DIE()
                if attr_int(top, "DW_AT_language") == _DW_LANG_GO:
                    continue
                lo = attr_int(top, "DW_AT_low_pc")
                hi_attr = top.attributes.get("DW_AT_high_pc")
                if lo is not None and hi_attr is not None:
                    hi = hi_attr.value if hi_attr.form == "DW_FORM_addr" else lo + hi_attr.value
                    out.append((lo, hi, cu.cu_offset))
                for lo2, hi2 in self._locator.ranges(top):
                    out.append((lo2, hi2, cu.cu_offset))
            self._units = sorted(out)
        return self._units

    def unit_offsets(self) -> set[int]:
        """.debug_info offsets of the units that are not Go."""
        return {u for _lo, _hi, u in self._unit_ranges()}

    def _unit_rows(self, unit_off: int) -> list[tuple[int, str, int, bool]]:
        got = self._rows.get(unit_off)
        if got is None:
            cu = self._dwarf.unit_at(unit_off)
            got = []
            if cu is not None:
                files = self._lines.files(cu)
                got = [(a, files[f] if f < len(files) else "", ln, stmt) if not end
                       else (a, "", 0, False)
                       for a, f, ln, stmt, _p, end in self._lines.rows(cu)]
                got.sort(key=lambda r: r[0])
            self._rows[unit_off] = got
        return got

    def line_for_pc(self, pc: int) -> tuple[str, int] | None:
        for lo, hi, unit in self._unit_ranges():
            if lo <= pc < hi:
                rows = self._unit_rows(unit)
                i = bisect.bisect_right(rows, pc, key=lambda r: r[0]) - 1
                if i < 0:
                    continue
                # gcc writes several rows at one address (location views): the last
                # is_stmt one there is the statement the address begins
                j = i
                while j > 0 and rows[j - 1][0] == rows[i][0] and not rows[j][3]:
                    j -= 1
                row = rows[j] if rows[j][3] else rows[i]
                if row[2] and row[1]:
                    return row[1], row[2]
        return None
