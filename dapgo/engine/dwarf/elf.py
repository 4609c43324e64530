"""The ELF container, read with pyelftools: header checks, the section table, section bytes
(SHF_COMPRESSED sections decompressed by pyelftools, on first use, once) and notes.

Two things stay outside pyelftools on purpose:
- `symbol()`: an exact-name .symtab lookup with bytes.find over .strtab and .symtab.
  Iterating cmd/go's 25,672 symbols through pyelftools takes ~0.8 s; this takes ~2 ms.
- `read_addr()`: bytes of the file image at a virtual address (a slice of the mapping)."""

from __future__ import annotations

import mmap
import struct
import zlib
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


@attrs.frozen
class Section:
    """The parts of one section header that the readers use."""

    name: str
    nobits: bool
    addr: int
    offset: int
    size: int  # bytes in the file
    data_size: int  # bytes once decompressed


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
            self.load_segments: list[tuple[int, int, int]] = [
                (seg["p_vaddr"], seg["p_memsz"], seg["p_offset"])
                for seg in self._elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
            self._secs: list[ElfSection] = list(self._elf.iter_sections())
        except (ELFError, ConstructError) as exc:
            self._map.close()
            raise BinaryFormatError(f"{path} is not an ELF file ({exc})") from exc
        self.sections: dict[str, Section] = {}
        self._by_index: list[Section] = []
        self._by_name: dict[str, ElfSection] = {}
        for s in self._secs:
            sec = Section(s.name, s["sh_type"] == "SHT_NOBITS", s["sh_addr"], s["sh_offset"],
                          s["sh_size"], s.data_size)
            self._by_index.append(sec)
            self.sections.setdefault(s.name, sec)
            self._by_name.setdefault(s.name, s)
        self._data: dict[str, bytes] = {}

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
        s = self._by_name.get(name)
        if s is not None:
            return s.data_size
        return len(self.data(name))  # legacy .zdebug_*: the size is in the zlib header

    def data(self, name: str) -> bytes:
        """Contents of a section, decompressed (SHF_COMPRESSED or legacy .zdebug_*)."""
        cached = self._data.get(name)
        if cached is not None:
            return cached
        s = self._by_name.get(name)
        if s is not None:
            try:
                raw = s.data()
            except ELFError as exc:
                raise BinaryFormatError(f"{self.path}: section {name}: {exc}") from exc
        else:
            z = self._by_name.get(".z" + name[1:]) if name.startswith(".debug") else None
            if z is None:
                raise KeyError(name)
            # Go before 1.20 wrote ".zdebug_*" sections ("ZLIB", 8-byte big-endian size,
            # zlib stream), a GNU convention pyelftools only handles inside get_dwarf_info().
            raw = z.data()
            if raw[:4] == b"ZLIB":
                raw = zlib.decompress(raw[12:])
        self._data[name] = raw
        return raw

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
        s = self._by_name.get(section)
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
        symtab = self._by_name.get(".symtab")
        if symtab is None:
            return []
        strs = self.data(self._by_index[symtab["sh_link"]].name)
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
        symtab = self._by_name.get(".symtab")
        if symtab is None:
            return None
        strs = self.data(self._by_index[symtab["sh_link"]].name)
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
