"""pyelftools' DIEs, decoded without construct for the attribute forms Go writes.

pyelftools decodes each attribute of a DIE through a construct parser: ~11 µs a DIE, 4 ms of
the 13 ms a first stop in a 118-local Go function took to list its locals (353 DIEs: the
function's variables and their types). `GoDIE` is pyelftools' DIE with the same attributes
(name, form, value, raw_value, offset), tag, size and children, decoded straight from the
section's bytes with a plan made once per abbreviation: the fixed-size forms, LEB128s,
inline strings, blocks and expression locations that Go's linker emits (DWARF 4 and 5). An
abbreviation with any other form (strx, addrx, loclistx..., whose values need the unit's
bases) is decoded by pyelftools, as is any DIE of a stream whose bytes are not at hand.

`install()` makes pyelftools' compilation units create GoDIEs: they name the class through
their module (elftools.dwarf.compileunit.DIE), which is where it is replaced.
tests/dwarf/test_fastdie.py compares every DIE of real Go binaries with pyelftools' own.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import elftools.dwarf.compileunit as _compileunit
from elftools.dwarf.die import DIE, AttributeValue

from .leb128 import sleb, uleb

# A reader: (section bytes, position) -> (raw value, position after it)
_Reader = Callable[[bytes, int], tuple[Any, int]]
# A plan: (tag, has_children, [(attribute name, form, size, reader, translate)]); size > 0:
# a fixed-size form whose reader is a struct's unpack_from, read in the loop without a call
# (as are inline strings, size -1); None: the DIE is left to pyelftools
_Spec = tuple[Any, str, int, Any, Callable[[Any], Any] | None]
_Plan = tuple[Any, bool, list[_Spec]] | None
_STRING = -1
_new_tuple = tuple.__new__  # AttributeValue(...) without the namedtuple's Python __new__

_U8, _U16, _U32, _U64 = (struct.Struct(f).unpack_from for f in ("<B", "<H", "<I", "<Q"))
_FIXED = {"DW_FORM_addr": (_U64, 8), "DW_FORM_data1": (_U8, 1), "DW_FORM_ref1": (_U8, 1),
          "DW_FORM_flag": (_U8, 1), "DW_FORM_data2": (_U16, 2), "DW_FORM_ref2": (_U16, 2),
          "DW_FORM_data4": (_U32, 4), "DW_FORM_ref4": (_U32, 4),
          "DW_FORM_ref_addr": (_U32, 4), "DW_FORM_sec_offset": (_U32, 4),
          "DW_FORM_strp": (_U32, 4), "DW_FORM_data8": (_U64, 8), "DW_FORM_ref8": (_U64, 8)}


def _fixed(unpack: Callable[[bytes, int], tuple[int]], size: int) -> _Reader:
    def read(data: bytes, pos: int) -> tuple[int, int]:
        return unpack(data, pos)[0], pos + size
    return read


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\0", pos)
    return data[pos:end], end + 1


def _block(length: _Reader) -> _Reader:
    def read(data: bytes, pos: int) -> tuple[list[int], int]:
        n, pos = length(data, pos)
        return list(data[pos:pos + n]), pos + n
    return read


def _present(data: bytes, pos: int) -> tuple[bytes, int]:
    return b"", pos  # as pyelftools: no bytes, the value True


_READERS: dict[str, _Reader] = {
    **{form: _fixed(unpack, size) for form, (unpack, size) in _FIXED.items()},
    "DW_FORM_udata": uleb, "DW_FORM_ref_udata": uleb, "DW_FORM_sdata": sleb,
    "DW_FORM_string": _string,
    "DW_FORM_flag_present": _present,
    "DW_FORM_block1": _block(_fixed(_U8, 1)), "DW_FORM_block2": _block(_fixed(_U16, 2)),
    "DW_FORM_block4": _block(_fixed(_U32, 4)), "DW_FORM_block": _block(uleb),
    "DW_FORM_exprloc": _block(uleb),
}
# 32-bit DWARF only: a 64-bit unit's ref_addr, sec_offset and strp are 8 bytes
_OFFSET_FORMS = frozenset({"DW_FORM_ref_addr", "DW_FORM_sec_offset", "DW_FORM_strp"})


def value_reader(form: str) -> Callable[[bytes, int], tuple[int, int]] | None:
    """(value, next position) of an integer attribute of `form` (a constant's value);
    None for a form that is not an integer."""
    integer = ("DW_FORM_sdata", "DW_FORM_udata", "DW_FORM_data1", "DW_FORM_data2",
               "DW_FORM_data4", "DW_FORM_data8")
    return _READERS[form] if form in integer else None


def _plan(die: DIE, code: int) -> _Plan:
    cu = die.cu
    decl = cu.get_abbrev_table().get_abbrev(code)
    strings = cu.dwarfinfo.get_string_from_table
    specs: list[_Spec] = []
    for spec in decl["attr_spec"]:
        reader = _READERS.get(spec.form)
        if reader is None or (spec.form in _OFFSET_FORMS and cu.structs.dwarf_format != 32):
            return None
        translate: Callable[[Any], Any] | None = None
        if spec.form == "DW_FORM_strp":
            translate = strings
        elif spec.form == "DW_FORM_flag":
            translate = bool
        elif spec.form == "DW_FORM_flag_present":
            translate = _true
        fixed = _FIXED.get(spec.form)
        if fixed is not None:
            specs.append((spec.name, spec.form, fixed[1], fixed[0], translate))
        elif spec.form == "DW_FORM_string":
            specs.append((spec.name, spec.form, _STRING, None, translate))
        else:
            specs.append((spec.name, spec.form, 0, reader, translate))
    return decl["tag"], decl.has_children(), specs


def _true(_raw: object) -> bool:
    return True


class GoDIE(DIE):
    """pyelftools' DIE, decoded by a per-abbreviation plan when its forms allow."""

    def _parse_DIE(self) -> None:
        data = getattr(self.stream, "data", None)
        if not isinstance(data, bytes):
            super()._parse_DIE()
            return
        offset = self.offset
        try:
            code, pos = uleb(data, offset)
            self.abbrev_code = code
            if code == 0:
                self.size = pos - offset
                return
            plans: dict[int, _Plan] = self.cu.__dict__.setdefault("_dapgo_plans", {})
            if code in plans:
                plan = plans[code]
            else:
                plan = plans[code] = _plan(self, code)
            if plan is None:
                super()._parse_DIE()
                return
            self.tag, self.has_children, specs = plan
            attributes = self.attributes
            for name, form, size, read, translate in specs:
                at = pos
                if size > 0:
                    raw = read(data, pos)[0]
                    pos += size
                elif size == _STRING:
                    pos = data.index(b"\0", at) + 1
                    raw = data[at:pos - 1]
                else:
                    raw, pos = read(data, pos)
                attributes[name] = _new_tuple(AttributeValue, (
                    name, form, raw if translate is None else translate(raw), raw, at, 0))
            self.size = pos - offset
        except (IndexError, struct.error, ValueError):
            # past the section's end or a bad code: pyelftools says what is wrong
            self.attributes.clear()
            super()._parse_DIE()


def install() -> None:
    """Make pyelftools' compilation units decode their DIEs as GoDIEs."""
    _compileunit.DIE = GoDIE  # type: ignore[misc]
