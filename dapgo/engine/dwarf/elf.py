"""Raw ELF64 access with `struct`: section headers, section bytes (zlib-decompressed),
notes (build ids) and .symtab lookups. No pyelftools: this is the hot path of open()."""

from __future__ import annotations

import mmap
import struct
import zlib

import attrs

from dapgo.engine.errors import BinaryFormatError

from .model import Symbol

SHF_COMPRESSED = 0x800
EM_X86_64 = 62
_SYM = struct.Struct("<IBBHQQ")


@attrs.frozen
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class ElfImage:
    """An ELF64 little-endian file mapped in memory; sections decoded on demand."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError) as exc:  # empty file -> ValueError
            raise BinaryFormatError(f"{path} is not an ELF file ({exc})") from exc
        m = self._map
        if len(m) < 64 or m[:4] != b"\x7fELF":
            raise BinaryFormatError(f"{path} is not an ELF file")
        if m[4] != 2 or m[5] != 1:
            raise BinaryFormatError(f"{path} is not a 64-bit little-endian ELF file (not x86-64)")
        machine = struct.unpack_from("<H", m, 18)[0]
        if machine != EM_X86_64:
            raise BinaryFormatError(f"{path} is not x86-64 (ELF machine {machine})")
        self.entry: int = struct.unpack_from("<Q", m, 24)[0]
        shoff = struct.unpack_from("<Q", m, 40)[0]
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", m, 58)
        raw = [struct.unpack_from("<IIQQQQIIQQ", m, shoff + i * shentsize) for i in range(shnum)]
        strtab_off = raw[shstrndx][4] if shnum else 0
        self.sections: dict[str, Section] = {}
        self._by_index: list[Section] = []
        for r in raw:
            end = m.find(b"\0", strtab_off + r[0])
            name = m[strtab_off + r[0]:end].decode("latin-1")
            s = Section(name, r[1], r[2], r[3], r[4], r[5], r[6], r[9])
            self._by_index.append(s)
            self.sections.setdefault(name, s)
        self._data: dict[str, bytes] = {}
        self._symtab_names: bytes | None = None

    def close(self) -> None:
        self._map.close()

    def has(self, name: str) -> bool:
        return name in self.sections or ".z" + name[1:] in self.sections

    def data(self, name: str) -> bytes:
        """Contents of a section, decompressed (SHF_COMPRESSED or legacy .zdebug)."""
        cached = self._data.get(name)
        if cached is not None:
            return cached
        s = self.sections.get(name)
        legacy = False
        if s is None and name.startswith(".debug"):
            s = self.sections.get(".z" + name[1:])
            legacy = True
        if s is None:
            raise KeyError(name)
        if s.type == 8:  # SHT_NOBITS
            return b""
        raw = self._map[s.offset:s.offset + s.size]
        if s.flags & SHF_COMPRESSED:
            ch_type = struct.unpack_from("<I", raw, 0)[0]
            if ch_type != 1:
                raise BinaryFormatError(f"{self.path}: section {name} uses compression {ch_type}")
            raw = zlib.decompress(raw[24:])
        elif legacy and raw[:4] == b"ZLIB":
            raw = zlib.decompress(raw[12:])
        self._data[name] = raw
        return raw

    def read_addr(self, addr: int, size: int) -> bytes | None:
        """Bytes at a virtual address from an allocated, file-backed section."""
        for s in self._by_index:
            if s.addr and s.type != 8 and s.addr <= addr < s.addr + s.size:
                off = s.offset + (addr - s.addr)
                return self._map[off:off + min(size, s.addr + s.size - addr)]
        return None

    def section_for_addr(self, addr: int) -> Section | None:
        for s in self._by_index:
            if s.addr and s.addr <= addr < s.addr + s.size:
                return s
        return None

    # --- notes -------------------------------------------------------------------------
    def note(self, section: str) -> tuple[str, int, bytes] | None:
        """(owner, type, descriptor) of the first note in `section`."""
        if section not in self.sections:
            return None
        d = self.data(section)
        if len(d) < 12:
            return None
        namesz, descsz, ntype = struct.unpack_from("<III", d, 0)
        owner = d[12:12 + namesz].rstrip(b"\0").decode("latin-1")
        doff = 12 + ((namesz + 3) & ~3)
        return owner, ntype, d[doff:doff + descsz]

    def build_id(self) -> str | None:
        n = self.note(".note.go.buildid")
        if n is not None and n[2]:
            return n[2].decode("latin-1")
        n = self.note(".note.gnu.build-id")
        if n is not None and n[2]:
            return n[2].hex()
        return None

    # --- symbols -----------------------------------------------------------------------
    def symbol(self, name: str) -> Symbol | None:
        """Look a symbol up by exact name: bytes.find in .strtab, then in .symtab."""
        if ".symtab" not in self.sections:
            return None
        symtab = self.sections[".symtab"]
        strtab = self._by_index[symtab.link]
        strs = self.data(strtab.name)
        syms = self.data(".symtab")
        needle = name.encode() + b"\0"
        pos = strs.find(b"\0" + needle)
        while pos >= 0:
            name_off = pos + 1
            key = struct.pack("<I", name_off)
            spos = syms.find(key)
            while spos >= 0:
                if spos % _SYM.size == 0:
                    _, _info, _, shndx, value, size = _SYM.unpack_from(syms, spos)
                    if shndx != 0:
                        return Symbol(name, value, size)
                spos = syms.find(key, spos + 1)
            pos = strs.find(b"\0" + needle, pos + 1)
        return None
