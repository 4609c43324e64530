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
dapgo.engine.loadbias from the process's auxiliary vector or memory map. Go plugins loaded
at run time are other BinaryInfos (bias 0, static addresses) held in `images`
(images.LoadedImages), each with its own load bias from the link map: what the executable
does not know is asked there with the process address."""

from __future__ import annotations

import bisect
import functools
import logging
import os
import posixpath
import struct
from collections.abc import Iterator, Sequence

import attrs

from dapgo.engine.errors import BinaryFormatError, NoDebugInfoError

from . import cache, debugfile
from . import dies as D
from .cfi import CfaRule, FrameTables
from .dies import DIE, DebugInfo, attr_int, attr_ref, children, die_name, pc_range, unit_of
from .elf import PT_TLS, ElfImage
from .images import LoadedImages, relocated
from .inlined import InlinedCall, Inlining
from .leb128 import uleb
from .lineprog import LineTables, Row
from .locations import Locator, member_offset
from .model import (
    AddrLoc,
    Function,
    GoType,
    LineLookup,
    Param,
    StructLayout,
    Symbol,
    TypeRef,
    VarInfo,
)
from .native import NativeCode
from .pclntab import PcLnTab
from .prologue import skip_prologue
from .sharedobj import SharedObject
from .types import TYPE_TAGS, TypeReader

_VAR_TAGS = frozenset({D.TAG_formal_parameter, D.TAG_variable})


log = logging.getLogger(__name__)

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
        self._memo = cache.Memo(self.build_id)
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
        # (fn.entry, pc, scope) -> frame_variables (relocated: cleared by relocate)
        self._frame_vars: dict[tuple[int, int, int | None], list[VarInfo]] = {}
        self._warmed = False  # warm_up has run
        self.bias = 0  # process address - static address (see relocate())
        self._params: dict[int, list[Param] | None] = {}
        self._data_syms: tuple[list[tuple[int, int, str]], list[int]] | None = None
        self._native: NativeCode | None = None
        self._frames: FrameTables | None = None
        self._inlining: Inlining | None = None
        # Go plugins loaded at run time (see images.py), each at its own load bias: the
        # executable's is `bias`
        self.images = LoadedImages()
        # runtime/cgo is linked in (every binary has the runtime's _cgo_init variable)
        self.has_cgo = self._syms.symbol("crosscall2") is not None

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

    def prefetch_stop_sections(self) -> None:
        """Start inflating the DWARF a first stop reads on a thread of their own, while
        the program starts: .debug_info (which a warm start, its facts in the memo, would
        otherwise inflate at the first `scopes`: 7 ms for gofmt), the line and frame
        tables, and location and range lists (0.5 MB of .debug_loc, ~1.5 ms, for a small
        Go 1.21 program)."""
        self._dbg.prefetch((".debug_info", ".debug_abbrev", ".debug_line", ".debug_frame",
                            ".debug_loc", ".debug_loclists", ".debug_ranges",
                            ".debug_rnglists"))

    def close(self) -> None:
        """Unmap the file now (not when the garbage collector gets to it), and the plugins'
        and shared objects' it loaded; idempotent. What the on-disk memo learned is written
        first."""
        self._memo.flush()
        self._elf.close()
        if self._dbg is not self._elf:
            self._dbg.close()
        self.images.close()

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
        self._frame_vars.clear()

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
        return fn if not b else Function(fn.name, fn.entry + b, fn.end + b, fn.go)

    def _fn_in(self, fn: Function) -> Function:
        b = self.bias
        return fn if not b else Function(fn.name, fn.entry - b, fn.end - b, fn.go)

    def _var_out(self, v: VarInfo) -> VarInfo:
        return relocated(v, self.bias)

    # --- symbols and functions -------------------------------------------------------------
    def symbol(self, name: str) -> Symbol | None:
        sym = self._syms.symbol(name)
        if sym is None or not self.bias:
            return sym
        return Symbol(sym.name, sym.addr + self.bias, sym.size)

    def function(self, name: str, images: bool = True) -> Function | None:
        sym = self._syms.symbol(name)
        if sym is not None:
            rec = self._pcln.func_for_pc(sym.addr)
            if rec is not None and rec.name == name and rec.entry == sym.addr:
                return self._fn_out(Function(rec.name, rec.entry, rec.end))
        rec = self._pcln.func_by_name(name)
        if rec is None:
            return self.images.function(name) if images and self.images else None
        return self._fn_out(Function(rec.name, rec.entry, rec.end))

    def function_for_pc(self, pc: int) -> Function | None:
        rec = self._pcln.func_for_pc(pc - self.bias)
        if rec is None:  # a plugin's code (images carry their own bias)
            return self.images.function_for_pc(pc) if self.images else None
        return self._fn_out(Function(rec.name, rec.entry, rec.end))

    # --- images loaded at run time ---------------------------------------------------------
    def dynamic_address(self) -> int | None:
        """Process address of the .dynamic section (None: a statically linked program)."""
        sec = self._elf.sections.get(".dynamic")
        return sec.addr + self.bias if sec is not None and sec.addr else None

    def entry_point(self) -> int:
        """The ELF entry point (the first instruction after the dynamic loader), as a
        process address (static_entry + bias)."""
        return self._elf.entry + self.bias

    @functools.cached_property
    def main_package(self) -> str | None:
        """The import path of the main package ("example.com/x/plug" for a plugin, whose
        runtime type names still say "main.")."""
        return _main_package(self._elf)

    def text_range(self) -> tuple[int, int]:
        """[first, last) address of the Go functions (static addresses)."""
        return self._pcln.text_range()

    def add_shared_object(self, obj: SharedObject) -> None:
        """A shared object that is not Go (libc...), for unwinding through its code."""
        self.images.add_native(obj)

    def add_image(self, image: BinaryInfo, bias: int) -> None:
        """A Go plugin loaded at `bias`: from now on its code, lines, variables and types
        are found through this BinaryInfo (the executable's answers come first)."""
        self.images.add(image, bias, image.text_range())

    @property
    def native(self) -> NativeCode:
        """C functions of a cgo program: names and lines."""
        if self._native is None:
            self._native = NativeCode(self._syms, self.dwarf, self._linetables,
                                      self._locations)
        return self._native

    def any_function_for_pc(self, pc: int) -> Function | None:
        """The Go function at pc, else (cgo programs) the C function symbol covering it."""
        fn = self.function_for_pc(pc)
        if fn is None and self.has_cgo:
            c_fn = self.native.function_for_pc(pc - self.bias)
            fn = None if c_fn is None else self._fn_out(c_fn)
            if fn is None and self.images:
                fn = self.images.native_function_for_pc(pc)
        return fn

    def any_line_for_pc(self, pc: int) -> tuple[str, int] | None:
        """File and line at pc from .gopclntab, else from a C unit's line program."""
        loc = self.line_for_pc(pc)
        if loc is None and self.has_cgo:
            loc = self.native.line_for_pc(pc - self.bias)
        return loc

    def cfa_rule(self, pc: int) -> CfaRule | None:
        """.eh_frame/.debug_frame rule at a pc of C code (see cfi.py)."""
        if self._frames is None:
            elf, dbg = self._elf, self._dbg  # .debug_frame may be in a separate debug file

            def eh() -> tuple[bytes, int] | None:
                sec = elf.sections.get(".eh_frame")
                return None if sec is None else (elf.data(".eh_frame"), sec.addr)

            def debug() -> bytes | None:
                return dbg.data(".debug_frame") if self.has_cgo and dbg.has(".debug_frame") \
                    else None

            self._frames = FrameTables(eh, debug)
        got = self._frames.rule(pc - self.bias)
        return self.images.cfa_rule(pc) if got is None and self.images else got

    @functools.cached_property
    def g_tls_offset(self) -> int:
        """Where a thread's g lives relative to FS base (Delve's rule): -8 in a Go-linked
        binary; with an external linker (cgo), runtime.tlsg's place in the TLS segment."""
        tlsg = self._syms.symbol("runtime.tlsg")  # an offset in the TLS block: no bias
        tls = next((p for p in self._elf.segments if p.type == PT_TLS), None)
        if tlsg is None or tls is None:
            return -8
        align = max(tls.align, 1)
        memsz = tls.memsz + ((-tls.vaddr - tls.memsz) & (align - 1))
        return -memsz + tlsg.addr

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
        static = pc - self.bias
        rec = self._pcln.func_for_pc(static)
        if rec is None:
            return self.images.line_for_pc(pc) if self.images else None
        return self._pcln.line_for_pc(rec, static)

    def sp_offset(self, pc: int) -> int | None:
        static = pc - self.bias
        rec = self._pcln.func_for_pc(static)
        if rec is None:
            return self.images.sp_offset(pc) if self.images else None
        return self._pcln.sp_offset(rec, static)

    def first_pc_after_prologue(self, fn: Function) -> int:
        """Delve's rule: the DWARF prologue_end row if the function has one (Go's amd64
        backend marks the instruction after the frame setup), else the address after the
        stack-check branch found by disassembly, else the function's first is_stmt row."""
        img = self.images.at(fn.entry) if self.images else None
        if img is not None:
            return img.info.first_pc_after_prologue(img.fn_in(fn)) + img.bias
        return self._first_pc_after_prologue(self._fn_in(fn)) + self.bias

    def _first_pc_after_prologue(self, fn: Function) -> int:
        key = str(fn.entry)
        got = self._memo.get("prologue", key)
        if isinstance(got, int):
            return got
        pc = self._prologue_end(fn)
        self._memo.put("prologue", key, pc)
        return pc

    def _prologue_end(self, fn: Function) -> int:
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

    def function_breakpoint_addresses(self, name: str) -> list[int]:
        """Where a function breakpoint on `name` goes: after the prologue of the Go
        function and at the start of each of its inlined copies; the entry of a C function
        (cgo programs)."""
        fn = self.function(name, images=False)
        if fn is None and self.images:
            pcs = self.images.function_breakpoint_addresses(name)
            if pcs:
                return pcs
        out = [self.first_pc_after_prologue(fn)] if fn is not None else []
        if fn is None and self.has_cgo:
            c_fn = self.native.function(name)
            if c_fn is not None:
                return [c_fn.entry + self.bias]
        # every inlined copy too (optimized builds), at its first instruction
        inlined = self._memo.get("inlined", name)
        if not (isinstance(inlined, list) and all(isinstance(a, int) for a in inlined)):
            inlined = self.inlining.entries(name)
            self._memo.put("inlined", name, inlined)
        return sorted(set(out) | {a + self.bias for a in inlined})

    def read_text(self, addr: int, size: int) -> bytes | None:
        """Bytes of the file image at a process address (code, rodata, initialised data);
        a plugin's too."""
        b = self._elf.read_addr(addr - self.bias, size)
        if b is None:
            return self.images.read_text(addr, size) if self.images else None
        return bytes(b)

    # --- DWARF -----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Set up DWARF decoding once (pyelftools' DWARFInfo, the unit index, the
        abbreviation table): called while the program runs, so that a warm start
        (breakpoints placed from the memo, no DWARF read) does not pay for it at its first
        stop (~4 ms for gofmt). Never fails: a problem shows where DWARF is really read."""
        if self._warmed:
            return
        self._warmed = True
        try:
            dwarf = self.dwarf
            starts = dwarf.unit_starts()
            cu = dwarf.unit_for(starts[0]) if starts else None
            if cu is not None:
                cu.get_abbrev_table()  # Go's units share one table
        except Exception:  # an optimisation only
            log.debug("DWARF warm-up failed", exc_info=True)

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
        if self.images:
            got = self.images.type_info(ref)
            if got is not None:
                return got
        return self._typereader.type_info(ref)

    def find_type(self, name: str) -> TypeRef | None:
        """TypeRef of a named type ("main.Point", "*runtime.g", "[]int"), or None."""
        got = self._typereader.find_type(name)
        if got is None and self.images:
            got = self.images.find_type(name)
        return got

    def type_for_runtime_offset(self, offset: int) -> TypeRef | None:
        """The DWARF type whose DW_AT_go_runtime_type is `offset` (a runtime type
        descriptor's offset from its module's `types`), or None."""
        if offset <= 0:
            return None
        got = self._runtime_types.get(offset, -1)
        if got == -1:
            remembered = self._memo.get("rtypes", str(offset))  # a DIE's offset, 0: none
            if isinstance(remembered, int):
                got = remembered or None
            else:
                got = None
                for die in self.dwarf.find_by_address_attr(offset, D.AT_go_runtime_type,
                                                           TYPE_TAGS):
                    got = die.offset
                    break
                self._memo.put("rtypes", str(offset), got or 0)
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
        """The constants declared with type `ref` as (name, value), in
        declaration order: those of the type's own package and of package main (where a
        program names values of another package's type); searched in those packages'
        units only (all of .debug_info when the package's unit is not found)."""
        got = self._constants.get(ref)
        if got is None:
            got = []
            type_name = self.type_info(ref).name.split("[", 1)[0]
            dot = type_name.rfind(".")
            within = self.dwarf.unit_ranges(type_name[:dot]) if dot > 0 else []
            if within:
                within = sorted(set(within) | set(self.dwarf.unit_ranges("main")))
            for name, value in self.dwarf.constants_of_type(ref, within or None):
                # the type's own package's constants by their short name; another
                # package's qualified, as Delve does (gofmt's main.printerMode is a
                # go/printer.Mode)
                own = dot > 0 and name.startswith(type_name[:dot + 1])
                got.append((name[dot + 1:] if own else name, value))
            got.sort(key=lambda c: c[1])
            self._constants[ref] = got
        return got

    def dict_index(self, ref: TypeRef) -> int | None:
        """DW_AT_go_dict_index of a type DIE: a generic function's type parameter, found
        at that index of the function's `.dict` argument."""
        die = self.dwarf.die(ref)
        return attr_int(die, D.AT_go_dict_index) if die is not None else None

    def field_offsets(self, type_name: str, paths: Sequence[str]
                      ) -> tuple[int, dict[str, int]] | None:
        """(size, offset of each dotted field path found) of a struct type, or None when
        the type is not found; remembered on disk (the runtime structs a first stop
        reads: no DWARF decoded on a warm start)."""
        key = f"{type_name}:{','.join(paths)}"
        got = self._memo.get("offsets", key)
        if (isinstance(got, list) and len(got) == 2 and isinstance(got[0], int)
                and isinstance(got[1], dict)
                and all(isinstance(v, int) for v in got[1].values())):
            return got[0], got[1]
        if got == []:
            return None
        out = self._member_offsets(type_name, paths) \
            if not any("." in p for p in paths) else None
        if out is None or len(out[1]) < len(paths):  # a promoted field, a typedef...
            out = self._path_offsets(type_name, paths)
        self._memo.put("offsets", key, list(out) if out is not None else [])
        return out

    def _member_offsets(self, type_name: str, names: Sequence[str]
                        ) -> tuple[int, dict[str, int]] | None:
        """field_offsets of direct fields: the members' offsets, their types not decoded."""
        for die in self.dwarf.find_named(type_name, frozenset({D.TAG_structure_type})):
            size = attr_int(die, D.AT_byte_size)
            if size is None:
                continue
            wanted = set(names)
            return size, {n: member_offset(c) for c in children(die)
                          if c.tag == D.TAG_member and (n := die_name(c) or "") in wanted}
        return None

    def _path_offsets(self, type_name: str, paths: Sequence[str]
                      ) -> tuple[int, dict[str, int]] | None:
        lay = self.struct_layout(type_name)
        if lay is None:
            return None
        found: dict[str, int] = {}
        for path in paths:
            try:
                found[path] = lay.offset(path)
            except KeyError:
                pass
        return lay.size, found

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
        out = [self._var_out(v) for v in out]
        if not out and self.images:  # a plugin's package (at the plugin's own bias)
            out = self.images.package_variables(package)
        return sorted(out, key=lambda v: v.name)

    def global_variable(self, name: str) -> VarInfo | None:
        v = self._global_variable(name)
        if v is not None:
            return self._var_out(v)
        return self.images.global_variable(name) if self.images else None

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
        if found is None and fn.go:  # optimized: an inlinable function's out-of-line copy
            found = self.inlining.concrete(fn.name, fn.entry)
        self._subprograms[fn.entry] = found
        return found

    # --- optimized code --------------------------------------------------------------------
    @property
    def inlining(self) -> Inlining:
        if self._inlining is None:
            self._inlining = Inlining(self.dwarf, self._linetables, self._locations)
        return self._inlining

    def inline_chain(self, fn: Function, pc: int) -> list[InlinedCall]:
        """The calls inlined into fn that pc is in, outermost first (empty: none)."""
        if not fn.go:
            return []
        img = self.images.at(fn.entry) if self.images else None
        if img is not None:
            return self.images.inline_chain(img, fn, pc)
        b = self.bias
        chain = self._inline_chain(self._fn_in(fn), pc - b)
        return chain if not b else [attrs.evolve(c, entry=c.entry + b) for c in chain]

    def _inline_chain(self, fn: Function, pc: int) -> list[InlinedCall]:
        rec = self._pcln.func_for_pc(fn.entry)
        if rec is None or not self._pcln.has_inlined(rec):  # -N -l code: no DWARF walk
            return []
        sub = self._subprogram(fn)
        return [] if sub is None else self.inlining.chain(sub, pc)

    def optimized(self, fn: Function) -> bool:
        """Was fn compiled with optimizations (its values may be wrong or missing)?"""
        img = self.images.at(fn.entry) if self.images else None
        if img is not None:
            return img.info.optimized(img.fn_in(fn))
        sub = self._subprogram(self._fn_in(fn)) if fn.go else None
        return sub is not None and self.inlining.optimized(sub)

    def frame_variables(self, fn: Function, pc: int, scope: int | None = None
                        ) -> list[VarInfo]:
        """fn's arguments and locals in scope at pc; with `scope` (the .debug_info offset of
        an inlined call's DIE), that inlined call's instead."""
        img = self.images.at(fn.entry) if self.images else None
        if img is not None:
            return self.images.frame_variables(img, fn, pc, scope)
        key = (fn.entry, pc, scope)
        known = self._frame_vars.get(key)
        if known is None:
            known = self._frame_vars[key] = self._read_frame_variables(fn, pc, scope)
        return list(known)

    def _read_frame_variables(self, fn: Function, pc: int, scope: int | None
                              ) -> list[VarInfo]:
        pc -= self.bias
        sub = self._subprogram(self._fn_in(fn)) if scope is None else self.dwarf.die(scope)
        if sub is None:
            return []
        args: list[VarInfo] = []
        locals_: list[VarInfo] = []
        inl = self.inlining
        for die in self._scope_vars(sub, pc):
            origin = inl.origin(die)
            t = attr_ref(die, D.AT_type) or attr_ref(origin, D.AT_type)
            name = die_name(die) or die_name(origin)
            if t is None or name is None:
                continue
            v = VarInfo(name, die.tag == D.TAG_formal_parameter, t,
                        self._locations.location(die, pc),
                        attr_int(die, D.AT_decl_line) or attr_int(origin, D.AT_decl_line))
            (args if v.is_arg else locals_).append(self._var_out(v))
        return args + locals_

    def function_params(self, fn: Function) -> list[Param] | None:
        """The function's formal parameters in order (receiver, arguments, results); None
        when DWARF does not describe the function, or (inlined everywhere, described only
        by its abstract DIE) not its results."""
        if fn.entry in self._params:
            return self._params[fn.entry]
        sub = self._subprogram(self._fn_in(fn))
        if sub is None:  # inlined elsewhere: the abstract DIE (DW_AT_inline) describes it
            sub = next(iter(self.dwarf.find_named(fn.name, frozenset({D.TAG_subprogram}))),
                       None)
        if sub is None:
            self._params[fn.entry] = None
            return None
        params: list[Param] = []
        inl = self.inlining
        for c in children(sub):
            if c.tag != D.TAG_formal_parameter:
                continue
            # an inlinable function's out-of-line copy: name and type on the abstract DIE
            o = inl.origin(c)
            t = attr_ref(c, D.AT_type) or attr_ref(o, D.AT_type)
            if t is None:
                continue
            var = c.attributes.get(D.AT_variable_parameter) \
                or o.attributes.get(D.AT_variable_parameter)
            params.append(Param(die_name(c) or die_name(o) or "", t,
                                bool(var is not None and var.value)))
        # an abstract DIE (and a copy made from one) omits unnamed results: then the
        # signature is unknown
        abstract = "DW_AT_inline" in sub.attributes or "DW_AT_abstract_origin" in sub.attributes
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
        if self.has_cgo:  # gcc's DWARF 5 keeps file names in .debug_line_str
            units |= self.native.unit_offsets()
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
            got = self.images.addresses_for_line(path, line) if self.images else None
            return got or LineLookup([], None, f"file not found in the binary: {path}"
                                     + _elsewhere_hint(self.files_named_like(path)))
        lines = self._linetables
        # (function index, inlined call or 0) -> lowest is_stmt address at the line: each
        # inlined copy of the line is a place of its own, even several in one function
        lowest: dict[tuple[int, int], int] = {}
        for off in self._files_named(fname).get(fname, []):
            cu = self.dwarf.unit_at(off)
            if cu is None:
                continue
            want = {i for i, f in enumerate(lines.files(cu)) if f == fname}
            for addr, fi, ln, stmt, _pe, end in lines.rows(cu):
                if ln != line or not stmt or end or fi not in want:
                    continue
                fn_i = self._pcln.index_for_pc(addr)
                if fn_i is None and self.has_cgo:  # C code: its symbol's entry is the key
                    c_fn = self.native.function_for_pc(addr)
                    fn_i = -c_fn.entry if c_fn is not None else None
                if fn_i is None:
                    continue
                key = (fn_i, self._inlined_at(fn_i, addr) if fn_i >= 0 else 0)
                if addr < lowest.get(key, addr + 1):
                    lowest[key] = addr
        found: set[int] = set()
        for (fn_i, _inl), addr in lowest.items():
            if fn_i < 0:  # a C function: its lowest is_stmt address
                found.add(addr + self.bias)
                continue
            rec = self._pcln.record(fn_i)
            if addr == rec.entry:
                addr = self._first_pc_after_prologue(Function(rec.name, rec.entry, rec.end))
            found.add(addr + self.bias)
        if not found:
            return LineLookup([], fname, f"no code at {fname}:{line}")
        return LineLookup(sorted(found), fname, None)

    def _inlined_at(self, fn_i: int, addr: int) -> int:
        """The innermost inlined call (its DIE offset) at addr in function fn_i, else 0."""
        rec = self._pcln.record(fn_i)
        if not self._pcln.has_inlined(rec):
            return 0
        chain = self._inline_chain(Function(rec.name, rec.entry, rec.end), addr)
        return chain[-1].die_offset if chain else 0

    def lines_for_function(self, fn: Function) -> list[tuple[int, str, int, bool, bool]]:
        """(address, file, line, is_stmt, prologue_end) DWARF line rows inside fn, by address.

        Only fn's own sequence of its unit's line program is decoded when the unit is known
        (through fn's subprogram DIE); the file index is the fallback."""
        img = self.images.at(fn.entry) if self.images else None
        if img is not None:
            return self.images.lines_for_function(img, fn)
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


def _main_package(elf: ElfImage) -> str | None:
    """The main package's import path, from .go.buildinfo's module info ("path\t...")."""
    if ".go.buildinfo" not in elf.sections:
        return None
    d = elf.data(".go.buildinfo")
    if d[:14] != b"\xff Go buildinf:" or len(d) <= 32 or not d[15] & 2:
        return None
    n, pos = uleb(d, 32)  # the Go version string, then the module info
    n, pos = uleb(d, pos + n)
    info = d[pos + 16:pos + n - 16]  # 16 sentinel bytes on each side
    for line in info.decode("utf-8", "replace").splitlines():
        if line.startswith("path\t"):
            return line[5:]
    return None


def _pclntab(elf: ElfImage) -> bytes | None:
    """The .gopclntab bytes: its own section, or (PIE before Go 1.22, where the linker puts
    it inside .data.rel.ro, as in Go 1.21 plugins) the bytes between runtime.pclntab and
    runtime.epclntab."""
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
            n, pos = uleb(d, 32)
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
