"""Where a variable lives, and which addresses a scope covers.

Decoding is pyelftools': DWARF expressions by `DWARFExprParser`, location lists (DWARF 4
.debug_loc and DWARF 5 .debug_loclists) by `LocationParser` over `DWARFInfo.location_lists()`,
range lists (.debug_ranges / .debug_rnglists) by `DWARFInfo.range_lists()`. This module picks
the entry that covers a pc and maps the operations Go emits for variables (DW_OP_fbreg
relative to DW_OP_call_frame_cfa, DW_OP_regN, DW_OP_addr, DW_OP_piece) onto model.Location.
An expression of one such operation (almost every variable of an unoptimized function) is
read directly, ~10x faster than through the parser; tests/dwarf/test_fastdie.py compares the two."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elftools.dwarf.dwarf_expr import DWARFExprParser
from elftools.dwarf.dwarfinfo import DWARFInfo
from elftools.dwarf.locationlists import (
    BaseAddressEntry,
    LocationEntry,
    LocationExpr,
    LocationLists,
    LocationListsPair,
    LocationParser,
)
from elftools.dwarf.ranges import BaseAddressEntry as RangeBaseEntry
from elftools.dwarf.ranges import RangeEntry, RangeLists, RangeListsPair
from elftools.dwarf.structs import DWARFStructs

from .dies import (
    DIE,
    AT_data_member_location,
    AT_location,
    AT_low_pc,
    AT_ranges,
    attr_int,
    unit_of,
)
from .leb128 import sleb, uleb
from .model import AddrLoc, Location, Piece, PiecesLoc, RegLoc, StackLoc

Simple = StackLoc | RegLoc | AddrLoc

_PARSERS: dict[tuple[int, int], DWARFExprParser] = {}
_EXPR_FORMS = frozenset({"DW_FORM_exprloc", "DW_FORM_block1", "DW_FORM_block2",
                         "DW_FORM_block4", "DW_FORM_block"})
_REG0 = 0x50  # DW_OP_reg0; DW_OP_reg0..DW_OP_reg31 are consecutive
_OP_ADDR, _OP_FBREG, _OP_CFA, _OP_REGX = 0x03, 0x91, 0x9C, 0x90
_NOT_ONE_OP = object()


def expr_parser(structs: DWARFStructs) -> DWARFExprParser:
    """pyelftools' expression parser for a unit's address size and offset size (cached)."""
    key = (structs.address_size, structs.dwarf_format)
    p = _PARSERS.get(key)
    if p is None:
        p = _PARSERS[key] = DWARFExprParser(structs)
    return p


def _one_op(expr: list[int], address_size: int) -> Location | object | None:
    """A single-operation expression read directly; _NOT_ONE_OP for any other."""
    n = len(expr)
    if n == 0:
        return None
    op = expr[0]
    if op == _OP_CFA and n == 1:
        return StackLoc(0)
    if op == _OP_FBREG:
        offset, end = sleb(bytes(expr), 1)
        if end == n:
            return StackLoc(offset)
    elif _REG0 <= op <= _REG0 + 31 and n == 1:
        return RegLoc(op - _REG0)
    elif op == _OP_REGX:
        reg, end = uleb(bytes(expr), 1)
        if end == n:
            return RegLoc(reg)
    elif op == _OP_ADDR and n == 1 + address_size:
        return AddrLoc(int.from_bytes(bytes(expr[1:]), "little"))
    return _NOT_ONE_OP


def decode_expr(expr: Iterable[int], structs: DWARFStructs) -> Location | None:
    """A Go location expression as a Location; None when empty (optimized out) or when it
    uses an operation Go does not emit for variables."""
    if isinstance(expr, list):
        quick = _one_op(expr, structs.address_size)
        if quick is not _NOT_ONE_OP:
            return quick  # type: ignore[return-value]
    return parse_expr(expr, structs)


def parse_expr(expr: Iterable[int], structs: DWARFStructs) -> Location | None:
    """decode_expr through pyelftools' expression parser, whatever the expression."""
    ops = expr_parser(structs).parse_expr(expr)
    if not ops:
        return None
    pieces: list[Piece] = []
    cur: Simple | None = None
    saw_piece = False
    for op in ops:
        name = op.op_name
        if _REG0 <= op.op <= _REG0 + 31:
            cur = RegLoc(op.op - _REG0)
        elif name == "DW_OP_regx":
            cur = RegLoc(op.args[0])
        elif name == "DW_OP_fbreg":
            cur = StackLoc(op.args[0])
        elif name == "DW_OP_call_frame_cfa":
            cur = StackLoc(0)
        elif name == "DW_OP_addr":
            cur = AddrLoc(op.args[0])
        elif name == "DW_OP_piece":
            pieces.append(Piece(op.args[0], cur))
            cur = None
            saw_piece = True
        else:
            return None
    return PiecesLoc(pieces) if saw_piece else cur


def member_offset(die: DIE) -> int:
    """DW_AT_data_member_location as a byte offset (a constant, or DW_OP_plus_uconst)."""
    a = die.attributes.get(AT_data_member_location)
    if a is None:
        return 0
    if isinstance(a.value, int):
        return a.value
    ops = expr_parser(die.cu.structs).parse_expr(a.value)
    if len(ops) == 1 and ops[0].op_name == "DW_OP_plus_uconst":
        return int(ops[0].args[0])
    return 0


def _unit_base(die: DIE) -> int:
    """The unit's base address (DW_AT_low_pc of its top DIE), for unit-relative list entries."""
    return attr_int(die.cu.get_top_DIE(), AT_low_pc) or 0


class Locator:
    """Location and range lookups over one DWARFInfo."""

    def __init__(self, dwarf: DWARFInfo) -> None:
        self._dwarf = dwarf
        self._loc_parser: LocationParser | None = None
        self._ranges: RangeLists | RangeListsPair | None = None

    def _locparser(self) -> LocationParser:
        if self._loc_parser is None:
            lists: LocationLists | LocationListsPair | None = self._dwarf.location_lists()
            self._loc_parser = LocationParser(lists)
        return self._loc_parser

    def location(self, die: DIE, pc: int | None) -> Location | None:
        """DW_AT_location of `die` at `pc` (pc None: a single expression only, e.g. globals)."""
        attr = die.attributes.get(AT_location)
        if attr is None:
            return None
        if attr.form in _EXPR_FORMS:
            # Go writes single expressions as DW_FORM_block1 in DWARF 4 and 5 units too;
            # pyelftools' LocationParser, by the letter of DWARF 4, takes blocks there for
            # constants, so the expression goes to the parser directly.
            return decode_expr(attr.value, die.cu.structs)
        version = die.cu["version"]
        if pc is None or not LocationParser.attribute_has_location(attr, version):
            return None
        parsed: Any = self._locparser().parse_from_attribute(attr, version, die)
        if isinstance(parsed, LocationExpr):
            return decode_expr(parsed.loc_expr, die.cu.structs)
        base = _unit_base(die)
        default: list[int] | None = None
        for e in parsed:
            if isinstance(e, BaseAddressEntry):
                base = e.base_address
            elif isinstance(e, LocationEntry):
                if e.begin_offset == -1 and e.end_offset == -1:  # DW_LLE_default_location
                    default = e.loc_expr
                    continue
                lo, hi = e.begin_offset, e.end_offset
                if not e.is_absolute:
                    lo, hi = base + lo, base + hi
                if lo <= pc < hi:
                    return decode_expr(e.loc_expr, die.cu.structs)
        return None if default is None else decode_expr(default, die.cu.structs)

    def ranges(self, die: DIE) -> list[tuple[int, int]]:
        """The [lo, hi) address ranges of DW_AT_ranges (empty if the DIE has none)."""
        attr = die.attributes.get(AT_ranges)
        if attr is None or not isinstance(attr.value, int):
            return []
        if self._ranges is None:
            self._ranges = self._dwarf.range_lists()
            if self._ranges is None:
                return []
        base = _unit_base(die)
        out: list[tuple[int, int]] = []
        for e in self._ranges.get_range_list_at_offset(attr.value, cu=unit_of(die)):
            if isinstance(e, RangeBaseEntry):
                base = e.base_address
            elif isinstance(e, RangeEntry):
                lo, hi = e.begin_offset, e.end_offset
                out.append((lo, hi) if e.is_absolute else (base + lo, base + hi))
        return out
