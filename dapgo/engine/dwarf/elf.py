"""The ELF container, read with pyelftools: header checks, the section table, section bytes
(SHF_COMPRESSED sections decompressed by pyelftools, on first use, once) and notes.
`prefetch()` decompresses chosen sections ahead, on a thread of their own (zlib releases the
GIL): the DWARF a first stop reads is then inflated while the program starts.

Two things stay outside pyelftools on purpose:
- `symbol()`: an exact-name .symtab lookup with bytes.find over .strtab and .symtab.
  Iterating cmd/go's 25,672 symbols through pyelftools takes ~0.8 s; this takes ~2 ms.
- `read_addr()`: bytes of the file image at a virtual address (a slice of the mapping)."""

from __future__ import annotations

import mmap
import struct
import threading
import zlib
from collections.abc import Iterable
from typing import IO, cast

import attrs
from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection
from elftools.elf.sections import Section as ElfSection

from dapgo.engine.errors import BinaryFormatError

from .model import Symbol

_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym: name, info, other, shndx, value, size
_PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr
_SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
_CHDR = struct.Struct("<IIQQ")  # Elf64_Chdr: type, reserved, size, alignment
SHT_NOBITS = 8
SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1
PT_LOAD = 1
PT_TLS = 7


@attrs.frozen
class Segment:
    """One program header."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int


def _segments(data: mmap.mmap) -> list[Segment]:
    phoff = struct.unpack_from("<Q", data, 32)[0]
    size, num = struct.unpack_from("<HH", data, 54)
    out = []
    for i in range(num):
        t, flags, off, vaddr, _pa, filesz, memsz, align = _PHDR.unpack_from(
            data, phoff + i * size)
        out.append(Segment(t, flags, off, vaddr, filesz, memsz, align))
    return out


def _section_headers(data: mmap.mmap) -> list[tuple[Section, int]]:
    """Every section (its header as `Section`) and its sh_link."""
    shoff = struct.unpack_from("<Q", data, 40)[0]
    size, num, strndx = struct.unpack_from("<HHH", data, 58)
    if not shoff:
        return []
    raw = [_SHDR.unpack_from(data, shoff + i * size) for i in range(num)]
    if num == 0 or strndx == 0xFFFF:  # extended numbering: in section 0's header
        first = _SHDR.unpack_from(data, shoff)
        num = num or first[5]
        strndx = first[6] if strndx == 0xFFFF else strndx
        raw = [_SHDR.unpack_from(data, shoff + i * size) for i in range(num)]
    str_off, str_size = raw[strndx][4], raw[strndx][5]
    names = data[str_off:str_off + str_size]
    out = []
    for name, typ, flags, addr, off, sz, link, _info, _align, _ent in raw:
        end = names.find(b"\0", name)
        data_size = sz
        compressed = bool(flags & SHF_COMPRESSED) and typ != SHT_NOBITS
        if compressed:
            data_size = _CHDR.unpack_from(data, off)[2]
        out.append((Section(names[name:end if end >= 0 else len(names)].decode(
            "utf-8", "replace"), typ == SHT_NOBITS, addr, off, sz, data_size, compressed),
            link))
    return out


@attrs.frozen
class Section:
    """The parts of one section header that the readers use."""

    name: str
    nobits: bool
    addr: int
    offset: int
    size: int  # bytes in the file
    data_size: int  # bytes once decompressed
    compressed: bool = False  # SHF_COMPRESSED


class ElfImage:
    """An x86-64 ELF64 file mapped in memory; section contents decoded on demand."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError) as exc:  # an empty file -> ValueError
            raise BinaryFormatError(f"{path} is not an ELF file ({exc})") from exc
        try:
            self._elf = ELFFile(cast(IO[bytes], self._map))  # mmap: read/seek/tell
            if self._elf.elfclass != 64 or not self._elf.little_endian:
                raise BinaryFormatError(
                    f"{path} is not a 64-bit little-endian ELF file (not x86-64)")
            machine = self._elf["e_machine"]
            if machine != "EM_X86_64":
                raise BinaryFormatError(f"{path} is not x86-64 (ELF machine {machine})")
            self.entry: int = self._elf["e_entry"]
            self.position_independent: bool = self._elf["e_type"] == "ET_DYN"
            # program and section headers read with struct: pyelftools builds an object
            # per section and segment and parses hash tables and the dynamic segment on
            # the way (~20 ms for libc), and dapgo opens every object of the link map
            self.segments: list[Segment] = _segments(self._map)
            self.load_segments: list[tuple[int, int, int]] = [
                (seg.vaddr, seg.memsz, seg.offset) for seg in self.segments
                if seg.type == PT_LOAD]
            headers = _section_headers(self._map)
        except (ELFError, ConstructError, struct.error, ValueError) as exc:
            self._map.close()
            raise BinaryFormatError(f"{path} is not an ELF file ({exc})") from exc
        self.sections: dict[str, Section] = {}
        self._by_index: list[Section] = []
        self._index: dict[str, int] = {}  # name -> index of its first section
        self._links: list[int] = []
        self._objects: dict[int, ElfSection] = {}  # pyelftools' sections, made when read
        for i, (sec, link) in enumerate(headers):
            self._by_index.append(sec)
            self._links.append(link)
            self.sections.setdefault(sec.name, sec)
            self._index.setdefault(sec.name, i)
        self._data: dict[str, bytes] = {}
        self._inflating: dict[str, threading.Event] = {}  # by prefetch(), under way

    def _section(self, name: str) -> ElfSection | None:
        """pyelftools' section object (for its contents), made on first use."""
        i = self._index.get(name)
        if i is None:
            return None
        obj = self._objects.get(i)
        if obj is None:
            obj = self._objects[i] = self._elf.get_section(i)
        return obj

    @property
    def elffile(self) -> ELFFile:
        return self._elf

    def close(self) -> None:
        try:
            self._map.close()
        except BufferError:  # a view into the map is still alive: it goes with the view
            pass

    def has(self, name: str) -> bool:
        return name in self.sections or ".z" + name[1:] in self.sections

    def data_size(self, name: str) -> int:
        """Size of a section's contents once decompressed, without decompressing it."""
        s = self.sections.get(name)
        if s is not None:
            return s.data_size
        return len(self.data(name))  # legacy .zdebug_*: the size is in the zlib header

    def prefetch(self, names: Iterable[str]) -> None:
        """Decompress those of `names` that are compressed (zlib) and not read yet, on a
        daemon thread; `data()` waits for one under way rather than inflate it again."""
        todo: list[tuple[str, Section]] = []
        for name in names:
            sec = self.sections.get(name)
            if sec is None or not sec.compressed or name in self._data \
                    or name in self._inflating:
                continue
            if _CHDR.unpack_from(self._map, sec.offset)[0] != ELFCOMPRESS_ZLIB:
                continue  # zstd and others: pyelftools' way, when read
            self._inflating[name] = threading.Event()
            todo.append((name, sec))
        if todo:
            threading.Thread(target=self._inflate, args=(todo,), name="dapgo-inflate",
                             daemon=True).start()

    def _inflate(self, todo: list[tuple[str, Section]]) -> None:
        for name, sec in todo:
            try:
                raw = self._map[sec.offset + _CHDR.size:sec.offset + sec.size]
                data = zlib.decompress(raw)
                if len(data) == sec.data_size:
                    self._data.setdefault(name, data)
            except (ValueError, zlib.error):  # closed meanwhile, or corrupt: data() says
                pass
            finally:
                self._inflating.pop(name).set()

    def data(self, name: str) -> bytes:
        """Contents of a section, decompressed (SHF_COMPRESSED or legacy .zdebug_*)."""
        cached = self._data.get(name)
        if cached is not None:
            return cached
        inflating = self._inflating.get(name)
        if inflating is not None:
            inflating.wait()
            cached = self._data.get(name)
            if cached is not None:
                return cached
        s = self._section(name)
        if s is not None:
            try:
                raw = s.data()
            except ELFError as exc:
                raise BinaryFormatError(f"{self.path}: section {name}: {exc}") from exc
        else:
            z = self._section(".z" + name[1:]) if name.startswith(".debug") else None
            if z is None:
                raise KeyError(name)
            # Go before 1.20 wrote ".zdebug_*" sections ("ZLIB", 8-byte big-endian size,
            # zlib stream), a GNU convention pyelftools only handles inside get_dwarf_info().
            raw = z.data()
            if raw[:4] == b"ZLIB":
                raw = zlib.decompress(raw[12:])
        return self._data.setdefault(name, raw)

    def read_addr(self, addr: int, size: int) -> bytes | None:
        """Bytes at a virtual address from an allocated, file-backed section."""
        for s in self._by_index:
            if s.addr and not s.nobits and s.addr <= addr < s.addr + s.size:
                off = s.offset + (addr - s.addr)
                return self._map[off:off + min(size, s.addr + s.size - addr)]
        return None

    def section_for_addr(self, addr: int) -> Section | None:
        for s in self._by_index:
            if s.addr and s.addr <= addr < s.addr + s.size:
                return s
        return None

    # --- notes -------------------------------------------------------------------------
    def note(self, section: str) -> tuple[str, int | str, bytes] | None:
        """(owner, type, descriptor bytes) of the first note in `section`."""
        s = self._section(section)
        if not isinstance(s, NoteSection):
            return None
        for n in s.iter_notes():
            return n["n_name"] or "", n["n_type"], bytes(n["n_descdata"])
        return None

    def build_id(self) -> str | None:
        n = self.note(".note.go.buildid")
        if n is not None and n[2]:
            return n[2].decode("latin-1")
        n = self.note(".note.gnu.build-id")
        if n is not None and n[2]:
            return n[2].hex()
        return None

    # --- symbols -----------------------------------------------------------------------
    def data_symbols(self, prefix: str) -> list[Symbol]:
        """Data objects (STT_OBJECT) whose name starts with `prefix`, from .symtab."""
        symtab = self._index.get(".symtab")
        if symtab is None:
            return []
        strs = self.data(self._by_index[self._links[symtab]].name)
        want = prefix.encode()
        out = []
        for name_off, info, _, shndx, value, size in _SYM.iter_unpack(self.data(".symtab")):
            if info & 0xF != 1 or shndx == 0:  # STT_OBJECT, defined
                continue
            if strs.startswith(want, name_off):
                end = strs.index(b"\0", name_off)
                out.append(Symbol(strs[name_off:end].decode("utf-8", "replace"), value, size))
        return out

    def symbol(self, name: str) -> Symbol | None:
        """Look a symbol up by exact name: bytes.find in .strtab, then in .symtab."""
        symtab = self._index.get(".symtab")
        if symtab is None:
            return None
        strs = self.data(self._by_index[self._links[symtab]].name)
        syms = self.data(".symtab")
        needle = name.encode() + b"\0"
        found = self._symbol_at(syms, strs, needle, b"\0", name)
        # An external linker may share string tails ("goAdd" inside "_cgoexp_..._goAdd"):
        # then the name's offset is inside another string
        return found if found is not None else self._symbol_at(syms, strs, needle, b"", name)

    @staticmethod
    def _symbol_at(syms: bytes, strs: bytes, needle: bytes, before: bytes, name: str
                   ) -> Symbol | None:
        pos = strs.find(before + needle, 1 - len(before))
        while pos >= 0:
            key = struct.pack("<I", pos + len(before))
            spos = syms.find(key)
            while spos >= 0:
                if spos % _SYM.size == 0:
                    _, _info, _, shndx, value, size = _SYM.unpack_from(syms, spos)
                    if shndx != 0:
                        return Symbol(name, value, size)
                spos = syms.find(key, spos + 1)
            pos = strs.find(before + needle, pos + 1)
        return None
