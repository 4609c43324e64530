"""DWARF debugging information entries, decoded by pyelftools, reached without a full walk.

`DebugInfo` owns the pyelftools `DWARFInfo` of one binary. It is built from our own section
descriptors so that nothing is decompressed before it is read (`ELFFile.get_dwarf_info()`
decompresses and copies every debug section up front: ~41 ms on cmd/go, of which
.debug_frame/.debug_loclists/.debug_rnglists/.debug_addr, never needed to reach the first
stop, are ~7 ms, and .debug_info would be decompressed twice, ours for bytes.find and its own).

Units, abbreviation tables, DIEs, attribute forms (DWARF 4 and 5, strx/addrx/loclistx...),
children and references are pyelftools' (DIEs decoded by fastdie.GoDIE). What is ours is
the locator: `find_named()` finds DIEs by name with a bytes.find over .debug_info (~1 ms on
4.9 MB) and an abbreviation check, then hands the offset to pyelftools; the units' bounds
and names, read from their headers' bytes; constants of a type, read where bytes.find
puts them. Walking every DIE through pyelftools takes ~14 s on cmd/go, so nothing here
ever walks a whole unit."""

from __future__ import annotations

import io
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import IO, Any, cast

from elftools.common.exceptions import DWARFError, ELFParseError
from elftools.dwarf.compileunit import CompileUnit
from elftools.dwarf.die import DIE, AttributeValue
from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DwarfConfig, DWARFInfo

from . import fastdie
from .elf import ElfImage
from .leb128 import uleb

fastdie.install()

__all__ = ["DIE", "CompileUnit", "DebugInfo"]

# Tags and attributes are pyelftools' names. Go's own attributes (DW_AT_go_*, in the
# DW_AT_lo_user range) are unknown to pyelftools, which keys them by number.
TAG_array_type = "DW_TAG_array_type"
TAG_formal_parameter = "DW_TAG_formal_parameter"
TAG_lexical_block = "DW_TAG_lexical_block"
TAG_member = "DW_TAG_member"
TAG_pointer_type = "DW_TAG_pointer_type"
TAG_structure_type = "DW_TAG_structure_type"
TAG_subroutine_type = "DW_TAG_subroutine_type"
TAG_typedef = "DW_TAG_typedef"
TAG_subrange_type = "DW_TAG_subrange_type"
TAG_base_type = "DW_TAG_base_type"
TAG_subprogram = "DW_TAG_subprogram"
TAG_variable = "DW_TAG_variable"
TAG_unspecified_type = "DW_TAG_unspecified_type"

AT_location = "DW_AT_location"
AT_name = "DW_AT_name"
AT_byte_size = "DW_AT_byte_size"
AT_low_pc = "DW_AT_low_pc"
AT_high_pc = "DW_AT_high_pc"
AT_count = "DW_AT_count"
AT_data_member_location = "DW_AT_data_member_location"
AT_decl_line = "DW_AT_decl_line"
AT_encoding = "DW_AT_encoding"
AT_type = "DW_AT_type"
AT_ranges = "DW_AT_ranges"
AT_go_kind = 0x2900
AT_go_key = 0x2901
AT_go_elem = 0x2902
AT_go_embedded_field = 0x2903
AT_go_runtime_type = 0x2904
AT_go_dict_index = 0x2906
AT_const_value = "DW_AT_const_value"
TAG_constant = "DW_TAG_constant"
AT_variable_parameter = "DW_AT_variable_parameter"

_LOCAL_REFS = frozenset({"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8",
                         "DW_FORM_ref_udata"})
_ADDR_FORMS = frozenset({"DW_FORM_addr", "DW_FORM_addrx", "DW_FORM_addrx1", "DW_FORM_addrx2",
                         "DW_FORM_addrx3", "DW_FORM_addrx4"})
_ERRORS = (DWARFError, ELFParseError, ValueError, KeyError, IndexError, AssertionError)

# pyelftools' DWARFInfo argument -> section name
_SECTIONS = {
    "debug_info_sec": ".debug_info", "debug_aranges_sec": ".debug_aranges",
    "debug_abbrev_sec": ".debug_abbrev", "debug_frame_sec": ".debug_frame",
    "eh_frame_sec": None, "debug_str_sec": ".debug_str", "debug_loc_sec": ".debug_loc",
    "debug_ranges_sec": ".debug_ranges", "debug_line_sec": ".debug_line",
    "debug_pubtypes_sec": ".debug_pubtypes", "debug_pubnames_sec": ".debug_pubnames",
    "debug_addr_sec": ".debug_addr", "debug_str_offsets_sec": ".debug_str_offsets",
    "debug_line_str_sec": ".debug_line_str", "debug_loclists_sec": ".debug_loclists",
    "debug_rnglists_sec": ".debug_rnglists", "debug_sup_sec": None,
    "gnu_debugaltlink_sec": None, "debug_types_sec": ".debug_types",
}


# bytes of a name looked back over: an anonymous struct's name spells out every field and
# tag (encoding/json's tests have some of over 512 bytes)
_MAX_NAME_RUN = 1 << 16
_NAME_START = re.compile(r"[\w*\[<.(]")


class _LazySectionStream:
    """A seekable byte stream over one section, decompressed on its first read or seek.

    After that first use it forwards straight to io.BytesIO's C methods."""

    def __init__(self, load: Callable[[], bytes]) -> None:
        self._load = load

    def _open(self) -> io.BytesIO:
        buf = io.BytesIO(self._load())
        for method in ("read", "seek", "tell"):
            setattr(self, method, getattr(buf, method))
        return buf

    def read(self, n: int = -1) -> bytes:
        return self._open().read(n)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._open().seek(pos, whence)

    def tell(self) -> int:
        return self._open().tell()


class _SectionBytes(io.BytesIO):
    """A section already in memory, its bytes at hand for fastdie.GoDIE (`data`)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.data = data


class DebugInfo:
    """pyelftools' DWARFInfo over an ElfImage, plus name lookup by bytes.find."""

    def __init__(self, elf: ElfImage) -> None:
        self._elf = elf
        self.info: bytes = elf.data(".debug_info")  # searched by find_named
        descs: dict[str, DebugSectionDescriptor | None] = {}
        for arg, name in _SECTIONS.items():
            descs[arg] = self._descriptor(name) if name and elf.has(name) else None
        descs["debug_info_sec"] = DebugSectionDescriptor(
            cast(IO[bytes], _SectionBytes(self.info)), ".debug_info", None, len(self.info), 0)
        # where every unit starts and ends (read from their length fields, on first use)
        # and the units made so far: pyelftools' lookup parses every unit header between
        # the last one it knows and the one asked for
        self._unit_bounds: tuple[list[int], list[int]] | None = None
        self._units: dict[int, CompileUnit] = {}
        self._unit_names: dict[str, list[tuple[int, int]]] | None = None
        # (abbreviation table, code) -> how to read a constant's value (None: not one)
        self._constant_readers: dict[tuple[int, int], Callable[[bytes, int], Any] | None] = {}
        self.dwarf = DWARFInfo(
            config=DwarfConfig(little_endian=True, machine_arch="x64", default_address_size=8),
            **descs)

    def _descriptor(self, name: str) -> DebugSectionDescriptor:
        elf = self._elf
        stream = _LazySectionStream(lambda: elf.data(name))
        return DebugSectionDescriptor(cast(IO[bytes], stream), name, None, elf.data_size(name),
                                      0)

    # --- units and DIEs --------------------------------------------------------------------
    def unit_for(self, offset: int) -> CompileUnit | None:
        """The compilation unit whose .debug_info range holds `offset`."""
        if not 0 <= offset < len(self.info):
            return None
        starts, ends = self._bounds()
        i = bisect_right(starts, offset) - 1
        if i < 0 or offset >= ends[i]:
            return None
        cu = self._units.get(starts[i])
        if cu is None:
            try:
                cu = self._units[starts[i]] = self.dwarf.get_CU_at(starts[i])
            except _ERRORS:
                return None
        return cu

    def unit_ranges(self, name: str) -> list[tuple[int, int]]:
        """The [start, end) .debug_info ranges of the units named `name` (Go names a unit
        after its package's import path), read from the bytes of each unit's first DIE."""
        if self._unit_names is None:
            names: dict[str, list[tuple[int, int]]] = {}
            for start, end in zip(*self._bounds(), strict=True):
                unit = self._unit_name(start)
                if unit is not None:
                    names.setdefault(unit, []).append((start, end))
            self._unit_names = names
        return self._unit_names.get(name, [])

    def _unit_name(self, start: int) -> str | None:
        data = self.info
        version = int.from_bytes(data[start + 4:start + 6], "little")
        if int.from_bytes(data[start:start + 4], "little") == 0xFFFFFFFF:
            return None  # 64-bit DWARF: not Go's
        if version >= 5:
            abbrev_at, die_at = start + 8, start + 12
        else:
            abbrev_at, die_at = start + 6, start + 11
        try:
            table = self.dwarf.get_abbrev_table(int.from_bytes(data[abbrev_at:abbrev_at + 4],
                                                               "little"))
            code, pos = uleb(data, die_at)
            decl = table.get_abbrev(code)
        except _ERRORS:
            return None
        specs = decl["attr_spec"]
        if not specs or specs[0].name != AT_name or specs[0].form != "DW_FORM_string":
            return None
        end = data.find(b"\0", pos)
        return data[pos:end].decode("utf-8", "replace") if end >= 0 else None

    def unit_starts(self) -> list[int]:
        """The .debug_info offset of every unit's header."""
        return self._bounds()[0]

    def _bounds(self) -> tuple[list[int], list[int]]:
        """[start] and [end] of every unit, from the units' initial length fields."""
        if self._unit_bounds is None:
            starts, ends = [], []
            data, pos = self.info, 0
            while pos + 4 <= len(data):
                length = int.from_bytes(data[pos:pos + 4], "little")
                size = 4
                if length == 0xFFFFFFFF:  # 64-bit DWARF: an 8-byte length follows
                    length = int.from_bytes(data[pos + 4:pos + 12], "little")
                    size = 12
                if length == 0:
                    break
                starts.append(pos)
                pos += size + length
                ends.append(min(pos, len(data)))
            self._unit_bounds = (starts, ends)
        return self._unit_bounds

    def die(self, offset: int) -> DIE | None:
        """The DIE at a .debug_info offset (None if no unit holds it or it does not parse)."""
        cu = self.unit_for(offset)
        if cu is None:
            return None
        try:
            return cu.get_DIE_from_refaddr(offset)
        except _ERRORS:
            return None

    def unit_at(self, offset: int) -> CompileUnit | None:
        """The compilation unit whose header is at `offset`."""
        try:
            return self.dwarf.get_CU_at(offset)
        except _ERRORS:
            return None

    def units(self) -> Iterator[CompileUnit]:
        """Every compilation unit (headers only; no DIE is decoded)."""
        return self.dwarf.iter_CUs()

    # --- lookup by name ------------------------------------------------------------------
    def find_named(self, name: str, tags: frozenset[str]) -> Iterator[DIE]:
        """DIEs with one of `tags` whose first attribute is DW_AT_name (DW_FORM_string) == name.

        Go writes a DIE's name inline as its first attribute, so the name's bytes sit right
        after the abbreviation code: bytes.find locates candidates, the unit's abbreviation
        table (pyelftools) rules out the false ones, pyelftools decodes the rest."""
        needle = name.encode() + b"\0"
        data = self.info
        pos = data.find(needle)
        while pos >= 0:
            # The abbreviation code before the name is a ULEB128 of one byte or two.
            starts: list[tuple[int, int]] = []
            if pos >= 1 and 0 < data[pos - 1] < 0x80:
                starts.append((pos - 1, data[pos - 1]))
            if pos >= 2 and data[pos - 2] >= 0x80 and data[pos - 1] < 0x80:
                starts.append((pos - 2, (data[pos - 2] & 0x7F) | (data[pos - 1] << 7)))
            for start, code in starts:
                die = self._candidate(start, code, tags)
                if die is not None and die_name(die) == name:
                    yield die
            pos = data.find(needle, pos + 1)

    def find_by_address_attr(self, value: int, attr: int, tags: frozenset[str]) -> Iterator[DIE]:
        """DIEs with one of `tags`, named inline, whose DW_FORM_addr attribute `attr` is
        `value` (Go's DW_AT_go_runtime_type: a runtime type's offset in its module).

        bytes.find locates the 8 address bytes; the DIE's start is found going back over
        its few fixed-size attributes to the inline name before them, and every candidate is
        decoded and checked by pyelftools."""
        data = self.info
        full = value.to_bytes(8, "little")
        # bytes.find skips along by its needle's last byte: without the address's high
        # zero bytes (a rarer last byte) it finds the same places about twice as fast
        short = full.rstrip(b"\0") or full
        pos = data.find(short)
        while pos >= 0:
            if data[pos:pos + 8] == full:
                for die in self._named_dies_before(pos, 40, tags):
                    a = _attrs(die).get(attr)
                    if a is not None and a.form == "DW_FORM_addr" and a.value == value:
                        yield die
                        break
            pos = data.find(short, pos + 1)

    def constants_of_type(self, ref: int, within: list[tuple[int, int]] | None = None
                          ) -> list[tuple[str, int]]:
        """(name, value) of the DW_TAG_constant DIEs whose type is `ref`, only in the
        [start, end) ranges `within` when given. Go writes a constant as its abbreviation
        code, its name inline, its type (DW_FORM_ref_addr) and its value: bytes.find
        locates the reference right after a name's NUL, and the name and value are read
        there, once the unit's abbreviation says it is such a constant (no DIE is made)."""
        data = self.info
        needle = ref.to_bytes(4, "little")
        out: list[tuple[str, int]] = []
        for lo, hi in within if within is not None else [(0, len(data))]:
            pos = data.find(needle, lo, hi)
            while pos >= 0:
                if pos > 0 and data[pos - 1] == 0:
                    got = self._constant_at(pos)
                    if got is not None:
                        out.append(got)
                pos = data.find(needle, pos + 1, hi)
        return out

    def _constant_at(self, ref_at: int) -> tuple[str, int] | None:
        """The constant whose type reference is at `ref_at`, if the bytes before it are a
        constant's abbreviation code and inline name."""
        data = self.info
        end = ref_at - 1  # the name's NUL
        start = self._printable_run(end)
        # the code is the byte before the printable run, or (a printable code) its first
        for at in (start - 1, start):
            if at < 0 or at >= end - 1:
                continue
            code = data[at]
            if not 0 < code < 0x80:
                continue
            read = self._constant_reader(at, code)
            if read is not None:
                try:
                    value = read(data, ref_at + 4)[0]
                except (IndexError, ValueError):
                    return None
                return data[at + 1:end].decode("utf-8", "replace"), value
        return None

    def _constant_reader(self, at: int, code: int) -> Callable[[bytes, int], Any] | None:
        """The reader of the value of a constant whose abbreviation `code` is at `at`
        (name string, type ref_addr, const_value), None if it is not such a constant."""
        cu = self.unit_for(at)
        if cu is None or at < cu.cu_die_offset:
            return None
        key = (cu["debug_abbrev_offset"], code)
        if key not in self._constant_readers:
            reader = None
            try:
                decl = cu.get_abbrev_table().get_abbrev(code)
            except _ERRORS:
                decl = None
            if decl is not None and decl["tag"] == TAG_constant:
                specs = [(a.name, a.form) for a in decl["attr_spec"]]
                if (len(specs) >= 3 and specs[0] == (AT_name, "DW_FORM_string")
                        and specs[1] == (AT_type, "DW_FORM_ref_addr")
                        and specs[2][0] == AT_const_value):
                    reader = fastdie.value_reader(specs[2][1])
            self._constant_readers[key] = reader
        return self._constant_readers[key]

    def _printable_run(self, end: int, limit: int = _MAX_NAME_RUN) -> int:
        """Where the run of a name's bytes (printable ASCII, or UTF-8: `score·1`; at most
        `limit`) ending at `end` (exclusive: its NUL, or a place inside it) starts."""
        data = self.info
        start = end
        while start > 0 and end - start < limit and (0x20 <= data[start - 1] < 0x7F
                                                     or data[start - 1] >= 0x80):
            start -= 1
        return start

    def _named_dies_before(self, pos: int, reach: int, tags: frozenset[str]) -> Iterator[DIE]:
        """DIEs with one of `tags` whose inline name ends (its NUL) within `reach` bytes
        before `pos`: the name is a run of printable bytes and the abbreviation code the
        byte before it (a printable code is tried too)."""
        data = self.info
        tried: set[int] = set()
        for end in range(pos - 1, max(pos - 1 - reach, 0), -1):
            if data[end] != 0:
                continue
            start = self._printable_run(end)
            for at in range(max(start - 1, 0), min(start + 2, end)):
                if at in tried or not 0 < data[at] < 0x80:
                    continue
                tried.add(at)
                die = self._candidate(at, data[at], tags)
                if die is not None:
                    yield die

    def _candidate(self, start: int, code: int, tags: frozenset[str]) -> DIE | None:
        cu = self.unit_for(start)
        if cu is None or start < cu.cu_die_offset:
            return None
        table = cu.get_abbrev_table()
        try:
            decl = table.get_abbrev(code)
        except _ERRORS:
            return None
        if decl["tag"] not in tags or not decl["attr_spec"]:
            return None
        first = decl["attr_spec"][0]
        if first.name != AT_name or first.form != "DW_FORM_string":
            return None
        try:
            die = cu.get_DIE_from_refaddr(start)
        except _ERRORS:
            return None
        name = die_name(die)
        # Go names what it writes inline, as source spells it (`*T`, `[]T`, `<-chan T`,
        # `func(...)`): an empty name, or one that starts with a space, is other bytes
        if not name or not _NAME_START.match(name) or not self._plausible(cu, die) \
                or self._inside_a_name(cu, die):
            return None
        return die

    def _inside_a_name(self, cu: CompileUnit, die: DIE) -> bool:
        """Is `die` (decoded where a name was found) the tail of a longer inline name,
        not a DIE? A real DIE follows the previous one's last attribute (mostly a zero
        byte: the high byte of a reference or an address); one found inside a name follows
        more of that name, which a DIE further back holds and ends where `die`'s does."""
        data = self.info
        start = die.offset
        name = die_name(die) or ""
        nul = _name_end(data, start, name)
        run = max(self._printable_run(start, _MAX_NAME_RUN), cu.cu_die_offset)
        if run == start:
            return False
        table = cu.get_abbrev_table()
        for q in range(max(run - 2, cu.cu_die_offset), start):
            code = data[q]
            if code >= 0x80 and q + 1 < start:
                code = (code & 0x7F) | (data[q + 1] << 7)
            try:
                decl = table.get_abbrev(code)
            except _ERRORS:
                continue
            spec = decl["attr_spec"]
            if spec and spec[0].name == AT_name and spec[0].form == "DW_FORM_string":
                try:
                    outer = cu.get_DIE_from_refaddr(q)
                except _ERRORS:
                    continue
                longer = die_name(outer) or ""
                if len(longer) > len(name) and _name_end(data, q, longer) == nul \
                        and self._plausible(cu, outer):
                    return True
        return False

    def _plausible(self, cu: CompileUnit, die: DIE) -> bool:
        """Is a DIE decoded at a place found by bytes a real one? A name can end another
        one (`bool` in `func(unsafe.Pointer, unsafe.Pointer) bool`): decoded from the byte
        before it, such a "DIE" runs on into the bytes that follow. A real one refers only
        inside the section and is followed by the null entry or another DIE of its unit."""
        data = self.info
        end = die.offset + die.size
        if end >= cu.cu_offset + cu.size:
            return end == cu.cu_offset + cu.size
        for a in _attrs(die).values():
            if a.form == "DW_FORM_ref_addr" and not 0 <= a.value < len(data):
                return False
            if a.form in _UNIT_REFS and not 0 < a.value < cu.size:
                return False
        code = data[end] & 0x7F
        if data[end] >= 0x80 and end + 1 < len(data):
            code |= data[end + 1] << 7
        if code == 0:
            return True
        try:
            cu.get_abbrev_table().get_abbrev(code)
        except _ERRORS:
            return False
        return True


def _name_end(data: bytes, start: int, name: str) -> int:
    """Where the NUL of the inline name of a DIE at `start` is (after its code's bytes)."""
    code_len = 1 if data[start] < 0x80 else 2
    return start + code_len + len(name.encode())


_UNIT_REFS = frozenset({"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8",
                        "DW_FORM_ref_udata"})  # offsets from the unit's start


# --- attribute helpers (pyelftools DIE -> Python values) --------------------------------------
# Called thousands of times at a first stop: each is one dict lookup, no further call.
def _attrs(die: DIE) -> dict[str | int, AttributeValue]:
    """A DIE's attributes: keyed by name, or by number for vendor attributes (DW_AT_go_*)."""
    return die.attributes  # type: ignore[return-value]


def unit_of(die: DIE) -> CompileUnit:
    cu = die.cu
    assert isinstance(cu, CompileUnit)
    return cu


def attr_value(die: DIE, attr: str | int, default: Any = None) -> Any:
    a = die.attributes.get(attr)  # type: ignore[arg-type]
    return default if a is None else a.value


def die_name(die: DIE) -> str | None:
    a = die.attributes.get(AT_name)
    v = None if a is None else a.value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else None


def attr_int(die: DIE, attr: str | int) -> int | None:
    a = die.attributes.get(attr)  # type: ignore[arg-type]
    v = None if a is None else a.value
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def attr_ref(die: DIE, attr: str | int) -> int | None:
    """Absolute .debug_info offset of the DIE a reference attribute points at."""
    a = die.attributes.get(attr)  # type: ignore[arg-type]
    if a is None or not isinstance(a.value, int):
        return None
    if a.form in _LOCAL_REFS:
        return int(die.cu.cu_offset + a.value)
    return int(a.value)


def pc_range(die: DIE) -> tuple[int, int] | None:
    """[low_pc, high_pc) of a DIE with both attributes (high_pc as an address or a length)."""
    lo = die.attributes.get(AT_low_pc)
    hi = die.attributes.get(AT_high_pc)
    if lo is None or hi is None or not isinstance(hi.value, int):
        return None
    if hi.form in _ADDR_FORMS:
        return lo.value, hi.value
    return lo.value, lo.value + hi.value


def children(die: DIE) -> Iterator[DIE]:
    return die.iter_children()
