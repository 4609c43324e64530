"""Inlined calls and optimized code, from DWARF (DW_TAG_inlined_subroutine).

The Go compiler writes, inside each concrete function's DW_TAG_subprogram, one
DW_TAG_inlined_subroutine per inlined call: its code ranges, the call's file and line, its
parameters and locals (location lists), and DW_AT_abstract_origin pointing at the inlined
function's abstract DW_TAG_subprogram (name, declared types). A pc inside nested inlined
calls is in several logical frames at once; `chain()` names them. `entries()` finds every
inlined copy of a function by a bytes.find for references to its abstract DIE, so a function
breakpoint stops in each copy as Delve's does.

A unit is optimized when its DW_AT_producer does not carry `-N` (Go's "disable
optimizations" flag), Delve's rule for its "optimized function" warning."""

from __future__ import annotations

import attrs

from . import dies as D
from .dies import (
    DIE,
    DebugInfo,
    attr_int,
    attr_ref,
    attr_value,
    children,
    die_name,
    pc_range,
    unit_of,
)
from .lineprog import LineTables
from .locations import Locator

TAG_inlined_subroutine = "DW_TAG_inlined_subroutine"
_SCOPE_TAGS = frozenset({D.TAG_lexical_block, TAG_inlined_subroutine})


@attrs.frozen
class InlinedCall:
    """One inlined call covering a pc: the inlined function, where it was called from, and
    its DW_TAG_inlined_subroutine (for its variables)."""

    name: str
    die_offset: int
    entry: int  # the first address of the inlined code
    call_file: str | None
    call_line: int


class Inlining:
    def __init__(self, dwarf: DebugInfo, lines: LineTables, locator: Locator) -> None:
        self._dwarf = dwarf
        self._lines = lines
        self._locator = locator
        self._optimized: dict[int, bool] = {}

    def ranges(self, die: DIE) -> list[tuple[int, int]]:
        r = pc_range(die)
        return [r] if r is not None else self._locator.ranges(die)

    def origin(self, die: DIE) -> DIE:
        """The DIE holding a concrete DIE's name and type (its abstract origin), or itself."""
        ref = attr_ref(die, "DW_AT_abstract_origin")
        if ref is None:
            return die
        got = self._dwarf.die(ref)
        return got if got is not None else die

    def chain(self, sub: DIE, pc: int) -> list[InlinedCall]:
        """The inlined calls covering pc inside concrete subprogram `sub`, outermost first."""
        out: list[InlinedCall] = []
        scope = sub
        while True:
            nxt = None
            for c in children(scope):
                if c.tag in _SCOPE_TAGS and any(lo <= pc < hi for lo, hi in self.ranges(c)):
                    nxt = c
                    break
            if nxt is None:
                return out
            if nxt.tag == TAG_inlined_subroutine:
                out.append(self._call(nxt))
            scope = nxt

    def _call(self, die: DIE) -> InlinedCall:
        files = self._lines.files(unit_of(die))
        fi = attr_int(die, "DW_AT_call_file")
        rs = self.ranges(die)
        return InlinedCall(
            name=die_name(self.origin(die)) or "?",
            die_offset=die.offset,
            entry=min(lo for lo, _ in rs) if rs else 0,
            call_file=files[fi] if fi is not None and 0 <= fi < len(files) and files[fi]
            else None,
            call_line=attr_int(die, "DW_AT_call_line") or 0,
        )

    def _abstract(self, name: str) -> list[DIE]:
        return [d for d in self._dwarf.find_named(name, frozenset({D.TAG_subprogram}))
                if attr_value(d, "DW_AT_inline") is not None]

    def _referrers(self, abstract: DIE, tag: str) -> list[DIE]:
        """DIEs of `tag` whose DW_AT_abstract_origin is `abstract`. Go writes that reference
        (DW_FORM_ref_addr) as the first attribute, right after a one-byte abbreviation code,
        so they are found with bytes.find and checked by decoding."""
        out = []
        data = self._dwarf.info
        needle = abstract.offset.to_bytes(4, "little")
        pos = data.find(needle)
        while pos >= 0:
            die = self._dwarf.die(pos - 1) if pos >= 1 and 0 < data[pos - 1] < 0x80 else None
            if (die is not None and die.offset == pos - 1 and die.tag == tag
                    and attr_ref(die, "DW_AT_abstract_origin") == abstract.offset):
                out.append(die)
            pos = data.find(needle, pos + 1)
        return out

    def entries(self, name: str) -> list[int]:
        """First addresses of every inlined copy of function `name`."""
        out: set[int] = set()
        for abstract in self._abstract(name):
            for die in self._referrers(abstract, TAG_inlined_subroutine):
                rs = self.ranges(die)
                if rs:
                    out.add(min(lo for lo, _ in rs))
        return sorted(out)

    def concrete(self, name: str, entry: int) -> DIE | None:
        """The out-of-line DW_TAG_subprogram of an inlinable function (it has no name of
        its own, only an abstract origin)."""
        for abstract in self._abstract(name):
            for die in self._referrers(abstract, D.TAG_subprogram):
                r = pc_range(die)
                if r is not None and r[0] == entry:
                    return die
        return None

    def optimized(self, die: DIE) -> bool:
        """Was the unit holding `die` compiled with optimizations (no `-N`)?"""
        cu = die.cu
        got = self._optimized.get(cu.cu_offset)
        if got is None:
            v = attr_value(cu.get_top_DIE(), "DW_AT_producer", b"")
            producer = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            flags = producer.partition(";")[2].split()
            got = producer.startswith("Go ") and "-N" not in flags
            self._optimized[cu.cu_offset] = got
        return got
