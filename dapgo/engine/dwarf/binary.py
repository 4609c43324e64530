"""BinaryInfo: the one facade over a Go ELF binary (symbols, .gopclntab, DWARF).

open() reads only the ELF header, section table and .gopclntab header; everything else is
decoded on first use and kept in memory. Symbols and .gopclntab are read from section bytes
(elf.py, pclntab.py); DWARF is decoded by pyelftools, one DIE, unit or function at a time
(dies.py, lineprog.py, locations.py, types.py). The file -> compilation-unit index needed
for line breakpoints is cached on disk by build id (see cache.py).

Addresses: the readers underneath work in the file's static (link-time) addresses; every
address that crosses BinaryInfo's public methods, in or out, is an address of the process,
static + `bias` (the load bias of a position-independent image; 0 for a fixed-address
executable, and until `relocate()` is called). The bias is computed by
dapgo.engine.loadbias from the process's auxiliary vector or memory map."""

from __future__ import annotations

import bisect
import os
import posixpath
import struct
from collections.abc import Iterator, Sequence

from dapgo.engine.errors import BinaryFormatError, NoDebugInfoError

from . import cache, debugfile
from . import dies as D
from .dies import DIE, DebugInfo, attr_int, attr_ref, children, die_name, pc_range, unit_of
from .elf import ElfImage
from .lineprog import LineTables, Row
from .locations import Locator, member_offset
from .model import (
    AddrLoc,
    Function,
    GoType,
    LineLookup,
    Param,
    Piece,
    PiecesLoc,
    StructLayout,
    Symbol,
    TypeRef,
    VarInfo,
)
from .pclntab import PcLnTab, uvarint
from .prologue import skip_prologue
from .types import TYPE_TAGS, TypeReader

_VAR_TAGS = frozenset({D.TAG_formal_parameter, D.TAG_variable})


class BinaryInfo:
    """Everything dapgo reads from a Go executable. Use `BinaryInfo.open(path)`."""

    def __init__(self, path: str, elf: ElfImage, pcln: PcLnTab,
                 debug: ElfImage | None = None) -> None:
        self.path = path
        self._elf = elf
        self._pcln = pcln
        # where DWARF (and, for a binary without one, .symtab) is read: a separate debug
        # file for a stripped binary, else the binary itself
        self._dbg = debug or elf
        self._syms = elf if ".symtab" in elf.sections else self._dbg
        self.debug_file: str | None = debug.path if debug is not None else None
        self.build_id: str = elf.build_id() or _file_fingerprint(path)
        self.go_version: str | None = _go_version(elf)
        self._dwarf: DebugInfo | None = None
        self._types: TypeReader | None = None
        self._lines: LineTables | None = None
        self._locator: Locator | None = None
        self._file_index: dict[str, list[int]] | None = None
        self._by_base: dict[str, dict[str, list[int]]] = {}  # see _files_named()
        self._stmt_lists: list[tuple[int, int]] = []  # (.debug_line offset, unit offset)
        self._subprograms: dict[int, DIE | None] = {}
        self._runtime_types: dict[int, TypeRef | None] = {}
        self._constants: dict[TypeRef, list[tuple[str, int]]] = {}
        self.bias = 0  # process address - static address (see relocate())
        self._params: dict[int, list[Param] | None] = {}
        self._data_syms: tuple[list[tuple[int, int, str]], list[int]] | None = None

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str, debug_dirs: Sequence[str] = (),
             progress: debugfile.Progress | None = None, real_path: str | None = None
             ) -> BinaryInfo:
        """Open a Go binary; without DWARF, its separate debug file is looked for
        (dapgo.engine.dwarf.debugfile: `debug_dirs`, .gnu_debuglink next to `real_path` or
        `path`, debuginfod with `progress`)."""
        path = os.path.abspath(path)
        elf = ElfImage(path)
        debug: ElfImage | None = None
        try:
            pclntab = _pclntab(elf)
            if pclntab is None:
                raise BinaryFormatError(f"{path} is not a Go program (no .gopclntab section)")
            if not elf.has(".debug_info"):
                found = debugfile.find(elf, real_path or path, debug_dirs, progress)
                if found.path is not None:
                    debug = ElfImage(found.path)
                if debug is None or not debug.has(".debug_info"):
                    where = "; ".join(found.looked) or "no build id or .gnu_debuglink to look by"
                    raise NoDebugInfoError(
                        f"{path} has no DWARF debug information (built with -ldflags=-w, or "
                        f"stripped?) and no separate debug file was found (looked for: {where})")
            syms = elf if ".symtab" in elf.sections else (debug or elf)
            sym = syms.symbol("runtime.text")
            text = sym.addr if sym is not None else elf.sections[".text"].addr
            pcln = PcLnTab(pclntab, text)
            return cls(path, elf, pcln, debug)
        except BaseException:
            if debug is not None:
                debug.close()
            elf.close()
            raise

    def close(self) -> None:
        """Unmap the file now (not when the garbage collector gets to it); idempotent."""
        self._elf.close()
        if self._dbg is not self._elf:
            self._dbg.close()

    # --- where the image is loaded ---------------------------------------------------------
    @property
    def position_independent(self) -> bool:
        """True for an ET_DYN image (PIE, plugin, shared object): it loads at a bias."""
        return self._elf.position_independent

    @property
    def static_entry(self) -> int:
        """The ELF header's entry point (a static address)."""
        return self._elf.entry

    @property
    def load_segments(self) -> list[tuple[int, int, int]]:
        """(static vaddr, memsz, file offset) of each PT_LOAD segment."""
        return self._elf.load_segments

    def relocate(self, bias: int) -> None:
        """Set the load bias: from now on every address in or out is static + bias. Called
        once, when the process's load address is known and before any address is used."""
        self.bias = bias

    def file_offset(self, addr: int) -> int:
        """The offset in the file of the byte at process address `addr` (for uprobes);
        ValueError if no loaded segment holds it."""
        a = addr - self.bias
        for vaddr, memsz, off in self._elf.load_segments:
            if vaddr <= a < vaddr + memsz:
                return a - vaddr + off
        raise ValueError(f"address {addr:#x} is not in {self.path}")

    def _fn_out(self, fn: Function) -> Function:
        b = self.bias
        return fn if not b else Function(fn.name, fn.entry + b, fn.end + b)

    def _fn_in(self, fn: Function) -> Function:
        b = self.bias
        return fn if not b else Function(fn.name, fn.entry - b, fn.end - b)

    def _var_out(self, v: VarInfo) -> VarInfo:
        if not self.bias:
            return v
        loc = v.location
        if isinstance(loc, AddrLoc):
            loc = AddrLoc(loc.addr + self.bias)
        elif isinstance(loc, PiecesLoc):
            loc = PiecesLoc([Piece(p.size, AddrLoc(p.loc.addr + self.bias))
                             if isinstance(p.loc, AddrLoc) else p for p in loc.pieces])
        else:
            return v
        return VarInfo(v.name, v.is_arg, v.type, loc, v.decl_line)

    # --- symbols and functions -------------------------------------------------------------
    def symbol(self, name: str) -> Symbol | None:
        sym = self._syms.symbol(name)
        if sym is None or not self.bias:
            return sym
        return Symbol(sym.name, sym.addr + self.bias, sym.size)

    def function(self, name: str) -> Function | None:
        sym = self._syms.symbol(name)
        if sym is not None:
            rec = self._pcln.func_for_pc(sym.addr)
            if rec is not None and rec.name == name and rec.entry == sym.addr:
                return self._fn_out(Function(rec.name, rec.entry, rec.end))
        rec = self._pcln.func_by_name(name)
        return None if rec is None else self._fn_out(Function(rec.name, rec.entry, rec.end))

    def function_for_pc(self, pc: int) -> Function | None:
        rec = self._pcln.func_for_pc(pc - self.bias)
        return None if rec is None else self._fn_out(Function(rec.name, rec.entry, rec.end))

    def functions_matching(self, pattern: str) -> list[Function]:
        """Functions whose name matches a regular expression (re.search), by address."""
        return [self._fn_out(f) for f in self._pcln.functions_matching(pattern)]

    def data_symbol_at(self, addr: int) -> tuple[str, int] | None:
        """The data object (a package variable, a runtime table) at `addr`: (name, offset
        into it), from .symtab (read once, on first use)."""
        if self._data_syms is None:
            syms = sorted((s.addr, s.size, s.name) for s in self._elf.data_symbols(""))
            self._data_syms = (syms, [a for a, _s, _n in syms])
        syms, starts = self._data_syms
        i = bisect.bisect_right(starts, addr) - 1
        if i < 0:
            return None
        start, size, name = syms[i]
        return (name, addr - start) if addr < start + max(size, 1) else None

    def line_for_pc(self, pc: int) -> tuple[str, int] | None:
        pc -= self.bias
        rec = self._pcln.func_for_pc(pc)
        return None if rec is None else self._pcln.line_for_pc(rec, pc)

    def sp_offset(self, pc: int) -> int | None:
        pc -= self.bias
        rec = self._pcln.func_for_pc(pc)
        return None if rec is None else self._pcln.sp_offset(rec, pc)

    def first_pc_after_prologue(self, fn: Function) -> int:
        """Delve's rule: the DWARF prologue_end row if the function has one (Go's amd64
        backend marks the instruction after the frame setup), else the address after the
        stack-check branch found by disassembly, else the function's first is_stmt row."""
        return self._first_pc_after_prologue(self._fn_in(fn)) + self.bias

    def _first_pc_after_prologue(self, fn: Function) -> int:
        rows = self._lines_for_function(fn)
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
        """Bytes of the file image at a process address (code, rodata, initialised data)."""
        b = self._elf.read_addr(addr - self.bias, size)
        return None if b is None else bytes(b)

    # --- DWARF -----------------------------------------------------------------------------
    @property
    def dwarf(self) -> DebugInfo:
        if self._dwarf is None:
            self._dwarf = DebugInfo(self._dbg)
        return self._dwarf

    @property
    def _linetables(self) -> LineTables:
        if self._lines is None:
            dbg = self._dbg
            self._lines = LineTables(self.dwarf.dwarf, lambda: dbg.data(".debug_line"))
        return self._lines

    @property
    def _locations(self) -> Locator:
        if self._locator is None:
            self._locator = Locator(self.dwarf.dwarf)
        return self._locator

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

    def type_for_runtime_offset(self, offset: int) -> TypeRef | None:
        """The DWARF type whose DW_AT_go_runtime_type is `offset` (a runtime type
        descriptor's offset from its module's `types`), or None."""
        if offset <= 0:
            return None
        got = self._runtime_types.get(offset, -1)
        if got == -1:
            got = None
            for die in self.dwarf.find_by_address_attr(offset, D.AT_go_runtime_type,
                                                       TYPE_TAGS):
                got = die.offset
                break
            self._runtime_types[offset] = got
        return got

    def constant(self, name: str) -> tuple[TypeRef, int] | None:
        """(type, value) of the Go constant `name` ("main.constTwo"), or None."""
        for die in self.dwarf.find_named(name, frozenset({D.TAG_constant})):
            t = attr_ref(die, D.AT_type)
            v = attr_int(die, D.AT_const_value)
            if t is not None and v is not None:
                return t, v
        return None

    def constants_of(self, ref: TypeRef) -> list[tuple[str, int]]:
        """The constants declared with type `ref` as (name without package, value), in
        declaration order."""
        got = self._constants.get(ref)
        if got is None:
            got = []
            for die in self.dwarf.find_by_type_ref(ref, frozenset({D.TAG_constant})):
                name = die_name(die) or ""
                v = attr_int(die, D.AT_const_value)
                if v is not None:
                    got.append((name[name.rfind(".") + 1:], v))
            got.sort(key=lambda c: c[1])
            self._constants[ref] = got
        return got

    def dict_index(self, ref: TypeRef) -> int | None:
        """DW_AT_go_dict_index of a type DIE: a generic function's type parameter, found
        at that index of the function's `.dict` argument."""
        die = self.dwarf.die(ref)
        return attr_int(die, D.AT_go_dict_index) if die is not None else None

    def member_offsets(self, type_name: str) -> dict[str, int] | None:
        """Field name -> offset of a struct type, without decoding the fields' types (what
        a lookup of two fields of runtime.moduledata needs); None when not found."""
        for die in self.dwarf.find_named(type_name, frozenset({D.TAG_structure_type})):
            return {die_name(c) or "": member_offset(c) for c in children(die)
                    if c.tag == D.TAG_member}
        return None

    def struct_layout(self, type_name: str) -> StructLayout | None:
        tr = self._typereader
        for die in self.dwarf.find_named(type_name, frozenset({D.TAG_structure_type,
                                                               D.TAG_typedef})):
            lay = tr.layout(die.offset)
            if lay is not None:
                return lay
        return None

    def package_variables(self, package: str) -> list[VarInfo]:
        """The package-level variables of `package` (e.g. "main", "net/http") that DWARF
        describes, by name; compiler-generated symbols are left out."""
        out = []
        for sym in self._syms.data_symbols(package + "."):
            rest = sym.name[len(package) + 1 :]
            if not rest or not (rest[0].isalpha() or rest[0] == "_") or any(
                c in rest for c in "./·$"
            ):
                continue
            var = self._global_variable(sym.name)
            if var is not None:
                out.append(var)
        return sorted((self._var_out(v) for v in out), key=lambda v: v.name)

    def global_variable(self, name: str) -> VarInfo | None:
        v = self._global_variable(name)
        return None if v is None else self._var_out(v)

    def _global_variable(self, name: str) -> VarInfo | None:
        for die in self.dwarf.find_named(name, frozenset({D.TAG_variable})):
            t = attr_ref(die, D.AT_type)
            loc = self._locations.location(die, None)
            if t is not None and isinstance(loc, AddrLoc):
                return VarInfo(name, False, t, loc, attr_int(die, D.AT_decl_line))
        return None

    def _subprogram(self, fn: Function) -> DIE | None:
        if fn.entry in self._subprograms:
            return self._subprograms[fn.entry]
        found: DIE | None = None
        for die in self.dwarf.find_named(fn.name, frozenset({D.TAG_subprogram})):
            r = pc_range(die)
            if r is not None and r[0] == fn.entry:
                found = die
                break
        self._subprograms[fn.entry] = found
        return found

    def frame_variables(self, fn: Function, pc: int) -> list[VarInfo]:
        pc -= self.bias
        sub = self._subprogram(self._fn_in(fn))
        if sub is None:
            return []
        args: list[VarInfo] = []
        locals_: list[VarInfo] = []
        for die in self._scope_vars(sub, pc):
            t = attr_ref(die, D.AT_type)
            name = die_name(die)
            if t is None or name is None:
                continue
            v = VarInfo(name, die.tag == D.TAG_formal_parameter, t,
                        self._locations.location(die, pc), attr_int(die, D.AT_decl_line))
            (args if v.is_arg else locals_).append(self._var_out(v))
        return args + locals_

    def function_params(self, fn: Function) -> list[Param] | None:
        """The function's formal parameters in order (receiver, arguments, results); None
        when DWARF does not describe the function, or (inlined everywhere, described only
        by its abstract DIE) not its results."""
        if fn.entry in self._params:
            return self._params[fn.entry]
        sub = self._subprogram(fn)
        if sub is None:  # inlined elsewhere: the abstract DIE (DW_AT_inline) describes it
            sub = next(iter(self.dwarf.find_named(fn.name, frozenset({D.TAG_subprogram}))),
                       None)
        if sub is None:
            self._params[fn.entry] = None
            return None
        params: list[Param] = []
        for c in children(sub):
            t = attr_ref(c, D.AT_type)
            if c.tag != D.TAG_formal_parameter or t is None:
                continue
            params.append(Param(die_name(c) or "", t,
                                bool(c.attributes.get(D.AT_variable_parameter, None)
                                     and c.attributes[D.AT_variable_parameter].value)))
        # an abstract DIE omits unnamed results: then the signature is unknown
        abstract = "DW_AT_inline" in sub.attributes
        out = None if abstract and not any(p.is_result for p in params) else params
        self._params[fn.entry] = out
        return out

    def runtime_type_offset(self, ref: TypeRef) -> int | None:
        """Offset of the type's runtime descriptor from the module's `types` start
        (DW_AT_go_runtime_type), when DWARF gives it."""
        die = self.dwarf.die(ref)
        return attr_int(die, D.AT_go_runtime_type) if die is not None else None

    def _scope_vars(self, scope: DIE, pc: int) -> Iterator[DIE]:
        for c in children(scope):
            if c.tag in _VAR_TAGS:
                yield c
            elif c.tag == D.TAG_lexical_block and self._die_covers(c, pc):
                yield from self._scope_vars(c, pc)

    def _die_covers(self, die: DIE, pc: int) -> bool:
        r = pc_range(die)
        if r is not None:
            return r[0] <= pc < r[1]
        return any(lo <= pc < hi for lo, hi in self._locations.ranges(die))

    # --- source lines ----------------------------------------------------------------------
    def _files(self) -> dict[str, list[int]]:
        """file path -> .debug_info offsets of the compilation units whose line programs
        mention it, for every file. Reading every line-program header takes pyelftools
        ~0.2 s on cmd/go, so this index is cached on disk; line breakpoints use the
        cheaper `_files_named()` until it exists."""
        if self._file_index is not None:
            return self._file_index
        data = self._cached_files()
        if data is not None:
            return data
        lines = self._linetables
        index: dict[str, list[int]] = {}
        for cu in self.dwarf.units():
            for f in set(lines.files(cu)):
                if f:
                    index.setdefault(f, []).append(cu.cu_offset)
        self._file_index = index
        cache.store(self.build_id, "files", index)
        return index

    def _cached_files(self) -> dict[str, list[int]] | None:
        data = cache.load(self.build_id, "files")
        if isinstance(data, dict):
            self._file_index = {str(k): [int(x) for x in v] for k, v in data.items()}
        return self._file_index

    def _files_named(self, path: str) -> dict[str, list[int]]:
        """The part of the file index for files with the same base name as `path`: enough
        for resolve_file(), which only ever matches such files.

        Without the full index at hand, the base name is looked for with bytes.find in
        .debug_line (Go writes file names inline in the line-program headers), and only the
        headers it is found in are decoded (pyelftools): ~20 ms on cmd/go instead of ~0.2 s."""
        if self._file_index is not None or self._cached_files() is not None:
            assert self._file_index is not None
            return self._file_index
        base = posixpath.basename(os.path.normpath(path))
        got = self._by_base.get(base)
        if got is not None:
            return got
        if not self._stmt_lists:
            # Reading the 352 unit DIEs of cmd/go takes ~19 ms: kept on disk too.
            pairs = cache.load(self.build_id, "units")
            if isinstance(pairs, list):
                self._stmt_lists = [(int(a), int(b)) for a, b in pairs]
            else:
                for cu in self.dwarf.units():
                    off = attr_int(cu.get_top_DIE(), "DW_AT_stmt_list")
                    if off is not None:
                        self._stmt_lists.append((off, cu.cu_offset))
                self._stmt_lists.sort()
                cache.store(self.build_id, "units", self._stmt_lists)
        starts = [off for off, _ in self._stmt_lists]
        data = self._dbg.data(".debug_line")
        needle = base.encode() + b"\0"
        units: set[int] = set()
        pos = data.find(needle)
        while pos >= 0:
            i = bisect.bisect_right(starts, pos) - 1
            if i >= 0:
                units.add(self._stmt_lists[i][1])
            pos = data.find(needle, pos + 1)
        lines = self._linetables
        got = {}
        for cu_off in sorted(units):
            unit = self.dwarf.unit_at(cu_off)
            if unit is None:
                continue
            for f in set(lines.files(unit)):
                if f and posixpath.basename(f) == base:
                    got.setdefault(f, []).append(cu_off)
        self._by_base[base] = got
        return got

    def source_files(self) -> list[str]:
        return sorted(f for f in self._files() if not f.startswith("<"))

    def resolve_file(self, path: str) -> str | None:
        """The binary's name for a client path: the same path; else the same file on disk
        (a symlinked directory); else, for a relative path of two or more components
        ("pkg/file.go"), the one file whose path ends with all of them. Never a file that
        only shares the base name: a build made elsewhere needs substitutePath."""
        files = self._files_named(path)
        if path in files:
            return path
        norm = os.path.normpath(path)
        if norm in files:
            return norm
        base = posixpath.basename(norm)
        named = [f for f in files if posixpath.basename(f) == base]
        if os.path.isabs(norm):
            same = [f for f in named if os.path.isabs(f) and _same_file(f, norm)]
            return same[0] if len(same) == 1 else None
        if norm.count("/") < 1 or norm.startswith("../"):
            return None
        matches = [f for f in named if f == norm or f.endswith("/" + norm)]
        return matches[0] if len(matches) == 1 else None

    def files_named_like(self, path: str) -> list[str]:
        """The binary's files with the base name of `path` (for a message when a path is
        not in the binary)."""
        base = posixpath.basename(os.path.normpath(path))
        return sorted(f for f in self._files_named(path) if posixpath.basename(f) == base)

    def addresses_for_line(self, path: str, line: int) -> LineLookup:
        """Where a line breakpoint goes, the way Delve places it: one address per function
        that has code for the line (an inlined or duplicated copy in another function counts
        as another function), the lowest is_stmt address of the line in that function. So a
        `for` line stops once, at the loop's initialisation. When that address is the
        function's entry (the declaration line: the stack check), the breakpoint goes after
        the prologue instead, where a function breakpoint would."""
        fname = self.resolve_file(path)
        if fname is None:
            return LineLookup([], None, f"file not found in the binary: {path}"
                              + _elsewhere_hint(self.files_named_like(path)))
        lines = self._linetables
        lowest: dict[int, int] = {}  # function index -> lowest is_stmt address at the line
        for off in self._files_named(fname).get(fname, []):
            cu = self.dwarf.unit_at(off)
            if cu is None:
                continue
            want = {i for i, f in enumerate(lines.files(cu)) if f == fname}
            for addr, fi, ln, stmt, _pe, end in lines.rows(cu):
                if ln != line or not stmt or end or fi not in want:
                    continue
                fn_i = self._pcln.index_for_pc(addr)
                if fn_i is not None and addr < lowest.get(fn_i, addr + 1):
                    lowest[fn_i] = addr
        found: set[int] = set()
        for fn_i, addr in lowest.items():
            rec = self._pcln.record(fn_i)
            if addr == rec.entry:
                addr = self._first_pc_after_prologue(Function(rec.name, rec.entry, rec.end))
            found.add(addr + self.bias)
        if not found:
            return LineLookup([], fname, f"no code at {fname}:{line}")
        return LineLookup(sorted(found), fname, None)

    def lines_for_function(self, fn: Function) -> list[tuple[int, str, int, bool, bool]]:
        """(address, file, line, is_stmt, prologue_end) DWARF line rows inside fn, by address.

        Only fn's own sequence of its unit's line program is decoded when the unit is known
        (through fn's subprogram DIE); the file index is the fallback."""
        b = self.bias
        return [(a + b, f, ln, st, pe) for a, f, ln, st, pe in
                self._lines_for_function(self._fn_in(fn))]

    def _lines_for_function(self, fn: Function) -> list[tuple[int, str, int, bool, bool]]:
        lines = self._linetables
        sub = self._subprogram(fn)
        tables: list[tuple[tuple[str, ...], list[Row]]] = []
        if sub is not None:
            cu = unit_of(sub)
            rows = lines.function_rows(cu, fn.entry)
            tables.append((lines.files(cu), rows if rows is not None else lines.rows(cu)))
        else:
            loc = self.line_for_pc(fn.entry + self.bias)
            fname = self.resolve_file(loc[0]) if loc else None
            for off in self._files_named(fname or "").get(fname or "", []):
                unit = self.dwarf.unit_at(off)
                if unit is not None:
                    tables.append((lines.files(unit), lines.rows(unit)))
        out: list[tuple[int, str, int, bool, bool]] = []
        for files, rows in tables:
            for addr, fi, ln, stmt, pe, end in rows:
                if not end and fn.entry <= addr < fn.end:
                    out.append((addr, files[fi] if fi < len(files) else "", ln, stmt, pe))
        out.sort(key=lambda r: r[0])
        return out


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _elsewhere_hint(similar: list[str]) -> str:
    if not similar:
        return ""
    shown = ", ".join(similar[:3]) + (", ..." if len(similar) > 3 else "")
    return (f" (the binary has {shown}: if it was built elsewhere, map the paths with "
            "substitutePath)")


def _pclntab(elf: ElfImage) -> bytes | None:
    """The .gopclntab bytes: its own section, or (PIE before Go 1.22, where the linker puts
    it inside .data.rel.ro) the bytes between runtime.pclntab and runtime.epclntab."""
    if ".gopclntab" in elf.sections:
        return elf.data(".gopclntab")
    lo, hi = elf.symbol("runtime.pclntab"), elf.symbol("runtime.epclntab")
    if lo is None or hi is None or hi.addr <= lo.addr:
        return None
    data = elf.read_addr(lo.addr, hi.addr - lo.addr)
    return None if data is None else bytes(data)


def _file_fingerprint(path: str) -> str:
    st = os.stat(path)
    return f"nobuildid:{path}:{st.st_size}:{st.st_mtime_ns}"


def _go_version(elf: ElfImage) -> str | None:
    """runtime.buildVersion from .go.buildinfo (Go 1.18+ inline-string format)."""
    if ".go.buildinfo" in elf.sections:
        d = elf.data(".go.buildinfo")
        if d[:14] == b"\xff Go buildinf:" and len(d) > 32 and d[15] & 2:
            n, pos = uvarint(d, 32)
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


__all__ = ["BinaryInfo"]
