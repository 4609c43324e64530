"""BinaryInfo: the one facade over a Go ELF binary (symbols, .gopclntab, DWARF).

open() reads only the ELF header, section table and .gopclntab header; everything else is
decoded on first use and kept in memory. The file -> line-program index needed for line
breakpoints is cached on disk by build id (see cache.py)."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from dapgo.engine.errors import BinaryFormatError, NoDebugInfoError

from . import cache, lineprog
from . import dies as D
from .dies import DebugInfo, Die
from .elf import ElfImage
from .locations import decode_expr, lookup_loc4, lookup_loclist5, ranges4, ranges5
from .model import (
    AddrLoc,
    Function,
    GoType,
    LineLookup,
    Location,
    StructLayout,
    Symbol,
    TypeRef,
    VarInfo,
)
from .pclntab import PcLnTab
from .prologue import skip_prologue
from .types import TypeReader

_VAR_TAGS = frozenset({D.TAG_formal_parameter, D.TAG_variable})


class BinaryInfo:
    """Everything dapgo reads from a Go executable. Use `BinaryInfo.open(path)`."""

    def __init__(self, path: str, elf: ElfImage, pcln: PcLnTab) -> None:
        self.path = path
        self._elf = elf
        self._pcln = pcln
        self.build_id: str = elf.build_id() or _file_fingerprint(path)
        self.go_version: str | None = _go_version(elf)
        self._dwarf: DebugInfo | None = None
        self._types: TypeReader | None = None
        self._file_index: dict[str, list[int]] | None = None
        self._line_rows: dict[int, tuple[lineprog.LineHeader, list[lineprog.Row]]] = {}
        self._subprograms: dict[int, Die | None] = {}

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str) -> BinaryInfo:
        path = os.path.abspath(path)
        elf = ElfImage(path)
        if ".gopclntab" not in elf.sections:
            raise BinaryFormatError(f"{path} is not a Go program (no .gopclntab section)")
        if not elf.has(".debug_info"):
            raise NoDebugInfoError(
                f"{path} has no DWARF debug information (built with -ldflags=-w?)")
        sym = elf.symbol("runtime.text")
        text = sym.addr if sym is not None else elf.sections[".text"].addr
        pcln = PcLnTab(elf.data(".gopclntab"), text)
        return cls(path, elf, pcln)

    def close(self) -> None:
        self._elf.close()

    # --- symbols and functions -------------------------------------------------------------
    def symbol(self, name: str) -> Symbol | None:
        return self._elf.symbol(name)

    def function(self, name: str) -> Function | None:
        sym = self._elf.symbol(name)
        if sym is not None:
            rec = self._pcln.func_for_pc(sym.addr)
            if rec is not None and rec.name == name and rec.entry == sym.addr:
                return Function(rec.name, rec.entry, rec.end)
        rec = self._pcln.func_by_name(name)
        return None if rec is None else Function(rec.name, rec.entry, rec.end)

    def function_for_pc(self, pc: int) -> Function | None:
        rec = self._pcln.func_for_pc(pc)
        return None if rec is None else Function(rec.name, rec.entry, rec.end)

    def functions_matching(self, pattern: str) -> list[Function]:
        """Functions whose name matches a regular expression (re.search), by address."""
        return self._pcln.functions_matching(pattern)

    def line_for_pc(self, pc: int) -> tuple[str, int] | None:
        rec = self._pcln.func_for_pc(pc)
        return None if rec is None else self._pcln.line_for_pc(rec, pc)

    def sp_offset(self, pc: int) -> int | None:
        rec = self._pcln.func_for_pc(pc)
        return None if rec is None else self._pcln.sp_offset(rec, pc)

    def first_pc_after_prologue(self, fn: Function) -> int:
        """Delve's rule: the DWARF prologue_end row if the function has one (Go's amd64
        backend marks the instruction after the frame setup), else the address after the
        stack-check branch found by disassembly, else the function's first is_stmt row."""
        rows = self.lines_for_function(fn)
        for addr, _f, _l, _stmt, prologue_end in rows:
            if prologue_end:
                return addr
        code = self._elf.read_addr(fn.entry, min(64, fn.end - fn.entry))
        pc = skip_prologue(bytes(code), fn.entry) if code else fn.entry
        if pc == fn.entry:
            for addr, _f, _l, stmt, _pe in rows:
                if stmt:
                    return addr
        return pc

    def read_text(self, addr: int, size: int) -> bytes | None:
        """Bytes of the file image at a virtual address (code, rodata, initialised data)."""
        b = self._elf.read_addr(addr, size)
        return None if b is None else bytes(b)

    # --- DWARF -----------------------------------------------------------------------------
    @property
    def dwarf(self) -> DebugInfo:
        if self._dwarf is None:
            elf = self._elf

            def sec(name: str) -> bytes | None:
                return elf.data(name) if elf.has(name) else None

            self._dwarf = DebugInfo(sec)
        return self._dwarf

    @property
    def _typereader(self) -> TypeReader:
        if self._types is None:
            self._types = TypeReader(self.dwarf)
        return self._types

    def type_info(self, ref: TypeRef) -> GoType:
        return self._typereader.type_info(ref)

    def find_type(self, name: str) -> TypeRef | None:
        """TypeRef of a named type ("main.Point", "*runtime.g", "[]int"), or None."""
        return self._typereader.find_type(name)

    def struct_layout(self, type_name: str) -> StructLayout | None:
        tr = self._typereader
        for die in self.dwarf.find_named(type_name, frozenset({D.TAG_structure_type,
                                                               D.TAG_typedef})):
            lay = tr.layout(die.offset)
            if lay is not None:
                return lay
        return None

    def global_variable(self, name: str) -> VarInfo | None:
        for die in self.dwarf.find_named(name, frozenset({D.TAG_variable})):
            expr = die.get(D.AT_location)
            t = die.int_attr(D.AT_type)
            if not isinstance(expr, bytes) or t is None:
                continue
            loc = decode_expr(expr)
            if isinstance(loc, AddrLoc):
                return VarInfo(name, False, t, loc, die.int_attr(D.AT_decl_line))
        return None

    def _subprogram(self, fn: Function) -> Die | None:
        if fn.entry in self._subprograms:
            return self._subprograms[fn.entry]
        found: Die | None = None
        for die in self.dwarf.find_named(fn.name, frozenset({D.TAG_subprogram})):
            r = die.pc_range()
            if r is not None and r[0] == fn.entry:
                found = die
                break
        self._subprograms[fn.entry] = found
        return found

    def frame_variables(self, fn: Function, pc: int) -> list[VarInfo]:
        sub = self._subprogram(fn)
        if sub is None:
            return []
        args: list[VarInfo] = []
        locals_: list[VarInfo] = []
        for die in self._scope_vars(sub, pc):
            t = die.int_attr(D.AT_type)
            if t is None or die.name is None:
                continue
            v = VarInfo(die.name, die.tag == D.TAG_formal_parameter, t,
                        self._location(die, pc), die.int_attr(D.AT_decl_line))
            (args if v.is_arg else locals_).append(v)
        return args + locals_

    def _scope_vars(self, scope: Die, pc: int) -> Iterator[Die]:
        for c in self.dwarf.children(scope):
            if c.tag in _VAR_TAGS:
                yield c
            elif c.tag == D.TAG_lexical_block and self._die_covers(c, pc):
                yield from self._scope_vars(c, pc)

    def _die_covers(self, die: Die, pc: int) -> bool:
        r = die.pc_range()
        if r is not None:
            return r[0] <= pc < r[1]
        off = die.int_attr(D.AT_ranges)
        if off is None:
            return False
        u = die.unit
        dw = self.dwarf
        if u.version >= 5:
            rs = ranges5(dw.sec(".debug_rnglists"), off, u.low_pc, dw.sec(".debug_addr"),
                         u.addr_base)
        else:
            rs = ranges4(dw.sec(".debug_ranges"), off, u.low_pc)
        return any(lo <= pc < hi for lo, hi in rs)

    def _location(self, die: Die, pc: int) -> Location | None:
        v = die.get(D.AT_location)
        if isinstance(v, bytes):
            return decode_expr(v)
        if not isinstance(v, int):
            return None
        u = die.unit
        dw = self.dwarf
        if u.version >= 5:
            expr = lookup_loclist5(dw.sec(".debug_loclists"), v, pc, u.low_pc,
                                   dw.sec(".debug_addr"), u.addr_base)
        else:
            expr = lookup_loc4(dw.sec(".debug_loc"), v, pc, u.low_pc)
        return None if expr is None else decode_expr(expr)

    # --- source lines ----------------------------------------------------------------------
    def _files(self) -> dict[str, list[int]]:
        """file path -> .debug_line offsets of the line programs that mention it."""
        if self._file_index is not None:
            return self._file_index
        data = cache.load(self.build_id, "files")
        if isinstance(data, dict):
            self._file_index = {str(k): [int(x) for x in v] for k, v in data.items()}
            return self._file_index
        dw = self.dwarf
        line = dw.sec(".debug_line")
        lstr = dw.sec(".debug_line_str")
        dstr = dw.sec(".debug_str")
        index: dict[str, list[int]] = {}
        for u0 in dw.units:
            u = dw.unit_for(u0.offset)
            if u is None or u.stmt_list is None:
                continue
            h = lineprog.header(line, u.stmt_list, u.comp_dir, lstr, dstr)
            for f in set(h.files):
                if f:
                    index.setdefault(f, []).append(u.stmt_list)
        self._file_index = index
        cache.store(self.build_id, "files", index)
        return index

    def source_files(self) -> list[str]:
        return sorted(f for f in self._files() if not f.startswith("<"))

    def resolve_file(self, path: str) -> str | None:
        """The binary's name for a client path: exact match, else unique suffix match."""
        files = self._files()
        if path in files:
            return path
        norm = os.path.normpath(path)
        if norm in files:
            return norm
        parts = norm.strip("/").split("/")
        candidates = list(files)
        best: list[str] = []
        # Longest suffix of path components that identifies exactly one file.
        for n in range(len(parts), 0, -1):
            suffix = "/" + "/".join(parts[-n:])
            matches = [f for f in candidates if f == suffix[1:] or f.endswith(suffix)]
            if len(matches) == 1:
                return matches[0]
            if matches:
                best = matches
                break
        return best[0] if len(best) == 1 else None

    def _rows(self, stmt_list: int) -> tuple[lineprog.LineHeader, list[lineprog.Row]]:
        got = self._line_rows.get(stmt_list)
        if got is None:
            dw = self.dwarf
            line = dw.sec(".debug_line")
            h = lineprog.header(line, stmt_list, "", dw.sec(".debug_line_str"),
                                dw.sec(".debug_str"))
            got = (h, lineprog.rows(line, h))
            self._line_rows[stmt_list] = got
        return got

    def addresses_for_line(self, path: str, line: int) -> LineLookup:
        fname = self.resolve_file(path)
        if fname is None:
            return LineLookup([], None, f"file not found in the binary: {path}")
        runs: list[tuple[int, int]] = []  # (function index, first address of a run)
        for off in self._files()[fname]:
            h, rows = self._rows(off)
            want = {i for i, f in enumerate(h.files) if f == fname}
            # Rows in address order within each sequence; a run is consecutive rows at the
            # line. Take the first is_stmt address of each run (the run's first row if none is).
            run_addr: int | None = None
            run_stmt = False
            prev_fn: int | None = None
            for addr, fi, ln, stmt, _pe, end in rows:
                hit = not end and fi in want and ln == line
                fn_i = self._pcln.index_for_pc(addr) if hit else None
                if hit and run_addr is not None and fn_i == prev_fn:
                    if not run_stmt and stmt:
                        run_addr, run_stmt = addr, True
                    continue
                if run_addr is not None and prev_fn is not None:
                    runs.append((prev_fn, run_addr))
                    run_addr = None
                if hit:
                    run_addr, run_stmt, prev_fn = addr, stmt, fn_i
            if run_addr is not None and prev_fn is not None:
                runs.append((prev_fn, run_addr))
        found: set[int] = set()
        seen_decl: set[int] = set()
        for fn_i, addr in sorted(runs):
            rec = self._pcln.record(fn_i)
            if rec.start_line == line or addr == rec.entry:
                # The declaration line: its code is the stack check at the entry and the
                # morestack trailer at the end. Like Delve, break once, after the prologue.
                if fn_i in seen_decl:
                    continue
                seen_decl.add(fn_i)
                if addr == rec.entry:
                    addr = self.first_pc_after_prologue(Function(rec.name, rec.entry, rec.end))
            found.add(addr)
        if not found:
            return LineLookup([], fname, f"no code at {fname}:{line}")
        return LineLookup(sorted(found), fname, None)

    def lines_for_function(self, fn: Function) -> list[tuple[int, str, int, bool, bool]]:
        """(address, file, line, is_stmt, prologue_end) DWARF line rows inside fn, by address.

        Only the line program of fn's compilation unit is decoded (found through its
        subprogram DIE; the file index is the fallback)."""
        sub = self._subprogram(fn)
        offsets: list[int] = []
        if sub is not None and sub.unit.stmt_list is not None:
            offsets = [sub.unit.stmt_list]
        else:
            loc = self.line_for_pc(fn.entry)
            fname = self.resolve_file(loc[0]) if loc else None
            offsets = self._files().get(fname or "", [])
        out: list[tuple[int, str, int, bool, bool]] = []
        for off in offsets:
            h, rows = self._rows(off)
            for addr, fi, ln, stmt, pe, end in rows:
                if not end and fn.entry <= addr < fn.end:
                    out.append((addr, h.files[fi] if fi < len(h.files) else "", ln, stmt, pe))
        out.sort(key=lambda r: r[0])
        return out


def _file_fingerprint(path: str) -> str:
    st = os.stat(path)
    return f"nobuildid:{path}:{st.st_size}:{st.st_mtime_ns}"


def _go_version(elf: ElfImage) -> str | None:
    """runtime.buildVersion from .go.buildinfo (Go 1.18+ inline-string format)."""
    if ".go.buildinfo" in elf.sections:
        d = elf.data(".go.buildinfo")
        if d[:14] == b"\xff Go buildinf:" and len(d) > 32 and d[15] & 2:
            n, pos = _uvarint(d, 32)
            return d[pos:pos + n].decode("utf-8", "replace")
    sym = elf.symbol("runtime.buildVersion")
    if sym is not None:
        hdr = elf.read_addr(sym.addr, 16)
        if hdr is not None and len(hdr) == 16:
            ptr, n = struct.unpack("<QQ", hdr)
            s = elf.read_addr(ptr, n)
            if s is not None:
                return bytes(s).decode("utf-8", "replace")
    return None


def _uvarint(d: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = d[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


__all__ = ["BinaryInfo"]
