"""A small, fast DWARF 4/5 .debug_info reader: unit headers, abbreviation tables and single
DIEs decoded on demand from raw section bytes, plus name lookup by bytes.find.

Walking all DIEs of a large Go binary is what makes pyelftools slow (~14 s for cmd/go); this
reader never does: it decodes only the DIE (and its children) that a request needs."""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Iterator

import attrs

from .leb import cstr, sleb, uleb

# Tags
TAG_array_type = 0x01
TAG_formal_parameter = 0x05
TAG_lexical_block = 0x0B
TAG_member = 0x0D
TAG_pointer_type = 0x0F
TAG_compile_unit = 0x11
TAG_structure_type = 0x13
TAG_subroutine_type = 0x15
TAG_typedef = 0x16
TAG_inlined_subroutine = 0x1D
TAG_subrange_type = 0x21
TAG_base_type = 0x24
TAG_subprogram = 0x2E
TAG_variable = 0x34
TAG_unspecified_type = 0x3B

# Attributes
AT_sibling = 0x01
AT_location = 0x02
AT_name = 0x03
AT_byte_size = 0x0B
AT_stmt_list = 0x10
AT_low_pc = 0x11
AT_high_pc = 0x12
AT_language = 0x13
AT_comp_dir = 0x1B
AT_const_value = 0x1C
AT_inline = 0x20
AT_producer = 0x25
AT_count = 0x37
AT_data_member_location = 0x38
AT_decl_file = 0x3A
AT_decl_line = 0x3B
AT_encoding = 0x3E
AT_external = 0x3F
AT_frame_base = 0x40
AT_type = 0x49
AT_ranges = 0x55
AT_str_offsets_base = 0x72
AT_addr_base = 0x73
AT_rnglists_base = 0x74
AT_loclists_base = 0x8C
AT_go_kind = 0x2900
AT_go_key = 0x2901
AT_go_elem = 0x2902
AT_go_embedded_field = 0x2903
AT_go_runtime_type = 0x2904
AT_go_package_name = 0x2905
AT_go_dict_index = 0x2906

_FIXED = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x0C: 1, 0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8,
          0x1E: 16, 0x20: 8, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3,
          0x2C: 4}
_ADDRX = {0x1B, 0x29, 0x2A, 0x2B, 0x2C}
_STRX = {0x1A, 0x25, 0x26, 0x27, 0x28}
_REF_LOCAL = {0x11, 0x12, 0x13, 0x14, 0x15}
FORM_addr = 0x01
FORM_implicit_const = 0x21


@attrs.frozen
class AbbrevEntry:
    tag: int
    has_children: bool
    specs: tuple[tuple[int, int, int], ...]  # (attr, form, implicit const)


@attrs.define
class Unit:
    offset: int
    end: int
    version: int
    addr_size: int
    abbrev_offset: int
    die_offset: int
    offset_size: int
    addr_base: int = 8
    str_offsets_base: int = 8
    loclists_base: int = 12
    rnglists_base: int = 12
    low_pc: int = 0
    name: str = ""
    stmt_list: int | None = None
    comp_dir: str = ""
    bases_read: bool = False


@attrs.define
class Die:
    offset: int
    tag: int
    attrs: dict[int, object]
    forms: dict[int, int]
    has_children: bool
    end: int  # offset just after this DIE's attributes (first child, if any)
    unit: Unit

    def get(self, attr: int, default: object = None) -> object:
        return self.attrs.get(attr, default)

    @property
    def name(self) -> str | None:
        v = self.attrs.get(AT_name)
        return v if isinstance(v, str) else None

    def int_attr(self, attr: int) -> int | None:
        v = self.attrs.get(attr)
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    def pc_range(self) -> tuple[int, int] | None:
        lo = self.int_attr(AT_low_pc)
        hi = self.attrs.get(AT_high_pc)
        if lo is None or not isinstance(hi, int):
            return None
        if self.forms.get(AT_high_pc) in (FORM_addr, *_ADDRX):
            return lo, hi
        return lo, lo + hi


class DebugInfo:
    """Lazy view of .debug_info (+ .debug_abbrev/.debug_str/.debug_addr/...)."""

    def __init__(self, section: Callable[[str], bytes | None]) -> None:
        self._section = section
        info = section(".debug_info")
        abbrev = section(".debug_abbrev")
        assert info is not None and abbrev is not None
        self.info: bytes = info
        self.abbrev: bytes = abbrev
        self._abbrevs: dict[int, dict[int, AbbrevEntry]] = {}
        self._units: list[Unit] | None = None
        self._unit_starts: list[int] = []

    def sec(self, name: str) -> bytes:
        d = self._section(name)
        return d if d is not None else b""

    # --- units ---------------------------------------------------------------------------
    @property
    def units(self) -> list[Unit]:
        if self._units is None:
            units: list[Unit] = []
            data = self.info
            pos = 0
            while pos + 11 <= len(data):
                length = struct.unpack_from("<I", data, pos)[0]
                osz = 4
                hdr = pos + 4
                if length == 0xFFFFFFFF:
                    length = struct.unpack_from("<Q", data, pos + 4)[0]
                    osz = 8
                    hdr = pos + 12
                end = hdr + length
                version = struct.unpack_from("<H", data, hdr)[0]
                if version >= 5:
                    unit_type = data[hdr + 2]
                    addr_size = data[hdr + 3]
                    abbrev_off = int.from_bytes(data[hdr + 4:hdr + 4 + osz], "little")
                    die = hdr + 4 + osz
                    if unit_type in (2, 6):  # type / split_type units: signature + offset
                        die += 8 + osz
                    elif unit_type in (4, 5):  # skeleton / split_compile: dwo id
                        die += 8
                else:
                    abbrev_off = int.from_bytes(data[hdr + 2:hdr + 2 + osz], "little")
                    addr_size = data[hdr + 2 + osz]
                    die = hdr + 3 + osz
                units.append(Unit(pos, end, version, addr_size, abbrev_off, die, osz))
                pos = end
            self._units = units
            self._unit_starts = [u.offset for u in units]
        return self._units

    def unit_for(self, offset: int) -> Unit | None:
        units = self.units
        i = bisect.bisect_right(self._unit_starts, offset) - 1
        if i < 0 or offset >= units[i].end:
            return None
        u = units[i]
        if not u.bases_read:
            self._read_bases(u)
        return u

    def _read_bases(self, u: Unit) -> None:
        u.bases_read = True
        die = self.die_at(u.die_offset, u)
        if die is None:
            return
        for attr, field in ((AT_addr_base, "addr_base"), (AT_str_offsets_base, "str_offsets_base"),
                            (AT_loclists_base, "loclists_base"),
                            (AT_rnglists_base, "rnglists_base")):
            v = die.int_attr(attr)
            if v is not None:
                setattr(u, field, v)
        # Re-read now that the bases are known (addrx / strx values depend on them).
        die = self.die_at(u.die_offset, u)
        assert die is not None
        u.low_pc = die.int_attr(AT_low_pc) or 0
        u.name = die.name or ""
        u.stmt_list = die.int_attr(AT_stmt_list)
        cd = die.get(AT_comp_dir)
        u.comp_dir = cd if isinstance(cd, str) else ""

    def abbrevs(self, offset: int) -> dict[int, AbbrevEntry]:
        table = self._abbrevs.get(offset)
        if table is not None:
            return table
        table = {}
        data = self.abbrev
        pos = offset
        while True:
            code, pos = uleb(data, pos)
            if code == 0:
                break
            tag, pos = uleb(data, pos)
            children = data[pos] != 0
            pos += 1
            specs = []
            while True:
                attr, pos = uleb(data, pos)
                form, pos = uleb(data, pos)
                ic = 0
                if form == FORM_implicit_const:
                    ic, pos = sleb(data, pos)
                if attr == 0 and form == 0:
                    break
                specs.append((attr, form, ic))
            table[code] = AbbrevEntry(tag, children, tuple(specs))
        self._abbrevs[offset] = table
        return table

    # --- DIEs ----------------------------------------------------------------------------
    def die(self, offset: int) -> Die | None:
        u = self.unit_for(offset)
        return None if u is None else self.die_at(offset, u)

    def die_at(self, offset: int, u: Unit) -> Die | None:
        """Decode the DIE at `offset`; None for a null entry (end of siblings)."""
        data = self.info
        code, pos = uleb(data, offset)
        if code == 0:
            return None
        ab = self.abbrevs(u.abbrev_offset)[code]
        values: dict[int, object] = {}
        forms: dict[int, int] = {}
        for attr, form, ic in ab.specs:
            val, pos = self._form(form, pos, u, ic)
            values[attr] = val
            forms[attr] = form
        return Die(offset, ab.tag, values, forms, ab.has_children, pos, u)

    def _form(self, form: int, pos: int, u: Unit, ic: int) -> tuple[object, int]:
        data = self.info
        if form == 0x08:  # string
            return cstr(data, pos)
        if form == 0x0F:  # udata
            return uleb(data, pos)
        if form == 0x10:  # ref_addr
            sz = u.addr_size if u.version <= 2 else u.offset_size
            return int.from_bytes(data[pos:pos + sz], "little"), pos + sz
        if form == 0x17:  # sec_offset
            return int.from_bytes(data[pos:pos + u.offset_size], "little"), pos + u.offset_size
        if form == 0x01:  # addr
            return int.from_bytes(data[pos:pos + u.addr_size], "little"), pos + u.addr_size
        if form == 0x0A:  # block1
            n = data[pos]
            return bytes(data[pos + 1:pos + 1 + n]), pos + 1 + n
        if form in (0x18, 0x09):  # exprloc, block
            n, pos = uleb(data, pos)
            return bytes(data[pos:pos + n]), pos + n
        if form == 0x03:
            n = struct.unpack_from("<H", data, pos)[0]
            return bytes(data[pos + 2:pos + 2 + n]), pos + 2 + n
        if form == 0x04:
            n = struct.unpack_from("<I", data, pos)[0]
            return bytes(data[pos + 4:pos + 4 + n]), pos + 4 + n
        if form == 0x19:  # flag_present
            return True, pos
        if form == 0x0C:  # flag
            return data[pos] != 0, pos + 1
        if form == 0x0D:  # sdata
            return sleb(data, pos)
        if form == FORM_implicit_const:
            return ic, pos
        if form in (0x0E, 0x1F):  # strp, line_strp
            off = int.from_bytes(data[pos:pos + u.offset_size], "little")
            sec = self.sec(".debug_str" if form == 0x0E else ".debug_line_str")
            return cstr(sec, off)[0], pos + u.offset_size
        if form == 0x16:  # indirect
            real, pos = uleb(data, pos)
            return self._form(real, pos, u, ic)
        if form in (0x22, 0x23):  # loclistx, rnglistx
            idx, pos = uleb(data, pos)
            sec = self.sec(".debug_loclists" if form == 0x22 else ".debug_rnglists")
            base = u.loclists_base if form == 0x22 else u.rnglists_base
            off = int.from_bytes(sec[base + idx * u.offset_size:
                                     base + (idx + 1) * u.offset_size], "little")
            return base + off, pos
        if form in _FIXED:
            n = _FIXED[form]
            raw = int.from_bytes(data[pos:pos + n], "little")
            pos += n
        elif form in _ADDRX or form == 0x1A or form == 0x15:
            raw, pos = uleb(data, pos)
        else:
            raise ValueError(f"unsupported DWARF form {form:#x}")
        if form in _ADDRX:
            addr = self.sec(".debug_addr")
            o = u.addr_base + raw * u.addr_size
            return int.from_bytes(addr[o:o + u.addr_size], "little"), pos
        if form in _STRX:
            so = self.sec(".debug_str_offsets")
            o = u.str_offsets_base + raw * u.offset_size
            soff = int.from_bytes(so[o:o + u.offset_size], "little")
            return cstr(self.sec(".debug_str"), soff)[0], pos
        if form in _REF_LOCAL:
            return u.offset + raw, pos
        if form == 0x1E:
            return data[pos - 16:pos], pos
        return raw, pos

    def skip_subtree(self, die: Die) -> int:
        """Offset just after `die` and all of its descendants."""
        sib = die.attrs.get(AT_sibling)
        if isinstance(sib, int) and die.forms.get(AT_sibling) in _REF_LOCAL | {0x10}:
            return sib
        if not die.has_children:
            return die.end
        pos = die.end
        while True:
            child = self.die_at(pos, die.unit)
            if child is None:
                return pos + 1
            pos = self.skip_subtree(child)

    def children(self, die: Die) -> Iterator[Die]:
        if not die.has_children:
            return
        pos = die.end
        while pos < die.unit.end:
            child = self.die_at(pos, die.unit)
            if child is None:
                return
            yield child
            pos = self.skip_subtree(child)

    # --- lookup by name ------------------------------------------------------------------
    def find_named(self, name: str, tags: frozenset[int]) -> Iterator[Die]:
        """DIEs with one of `tags` whose first attribute is DW_AT_name (string form) == name.

        Finds candidates with bytes.find over .debug_info and verifies each one by decoding
        it: the abbreviation code just before the string must name such an entry."""
        needle = name.encode() + b"\0"
        data = self.info
        pos = data.find(needle)
        while pos >= 0:
            for back in (1, 2):
                start = pos - back
                if start < 0:
                    continue
                if back == 2 and data[start] < 0x80:
                    continue
                if back == 1 and data[start] >= 0x80:
                    continue
                u = self.unit_for(start)
                if u is None:
                    continue
                code, _ = uleb(data, start)
                ab = self.abbrevs(u.abbrev_offset).get(code)
                if ab is None or ab.tag not in tags or not ab.specs:
                    continue
                if ab.specs[0][:2] != (AT_name, 0x08):
                    continue
                try:
                    die = self.die_at(start, u)
                except (IndexError, ValueError, KeyError, struct.error):
                    continue
                if die is not None and die.name == name:
                    yield die
            pos = data.find(needle, pos + 1)
