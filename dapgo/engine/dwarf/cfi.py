"""Call frame information for code that has no .gopclntab entry (C code in cgo programs).

Go code is unwound with .gopclntab's SP deltas (stack.py); C code compiled by gcc/clang is
described by .eh_frame (and, where the linker kept it, .debug_frame). pyelftools decodes the
CIEs/FDEs and runs their instructions (`CallFrameInfo`, `FDE.get_decoded()`); this module
indexes FDEs by address and answers, for one pc, where the CFA is and where the return
address and the caller's RBP were saved.

Only .eh_frame is read for an ordinary Go binary: the Go linker's own .debug_frame describes
Go functions (which pclntab already covers) and is large. .debug_frame is read only when
.eh_frame has no entry for a pc and the binary has C code (a cgo program)."""

from __future__ import annotations

import bisect
import io
from collections.abc import Callable

import attrs
from elftools.dwarf.callframe import FDE, CallFrameInfo, CFIEntry, RegisterRule
from elftools.dwarf.structs import DWARFStructs

from .dies import _ERRORS

RSP, RBP, RA = 7, 6, 16  # DWARF register numbers on x86-64


@attrs.frozen
class CfaRule:
    """At one pc: CFA = register `reg` (RSP or RBP) + `offset`; the return address and the
    caller's RBP saved at CFA + their offsets (bp_offset None: RBP unchanged)."""

    reg: int
    offset: int
    ra_offset: int
    bp_offset: int | None


class _Table:
    def __init__(self, entries: list[CFIEntry | object]) -> None:
        fdes = [(e.header.initial_location, e.header.address_range, e) for e in entries
                if isinstance(e, FDE) and e.header.address_range]
        fdes.sort(key=lambda t: t[0])
        self._starts = [t[0] for t in fdes]
        self._fdes = fdes

    def fde_for(self, pc: int) -> FDE | None:
        i = bisect.bisect_right(self._starts, pc) - 1
        if i < 0:
            return None
        start, size, fde = self._fdes[i]
        return fde if start <= pc < start + size else None


def _parse(data: bytes, address: int, eh: bool) -> _Table:
    structs = DWARFStructs(little_endian=True, dwarf_format=32, address_size=8)
    try:
        cfi = CallFrameInfo(io.BytesIO(data), len(data), address, structs, for_eh_frame=eh)
        return _Table(list(cfi.get_entries()))
    except _ERRORS:  # malformed CFI: no rules rather than a failed stack
        return _Table([])


class FrameTables:
    """CFA rules by pc from .eh_frame, then .debug_frame (both optional)."""

    def __init__(self, eh_frame: Callable[[], tuple[bytes, int] | None],
                 debug_frame: Callable[[], bytes | None]) -> None:
        self._load_eh = eh_frame
        self._load_debug = debug_frame
        self._eh: _Table | None = None
        self._debug: _Table | None = None
        self._rules: dict[int, CfaRule | None] = {}

    def _fde(self, pc: int) -> FDE | None:
        if self._eh is None:
            got = self._load_eh()
            self._eh = _Table([]) if got is None else _parse(got[0], got[1], True)
        fde = self._eh.fde_for(pc)
        if fde is not None:
            return fde
        if self._debug is None:
            data = self._load_debug()
            self._debug = _Table([]) if data is None else _parse(data, 0, False)
        return self._debug.fde_for(pc)

    def rule(self, pc: int) -> CfaRule | None:
        """The CFA rule in force at `pc`, or None without CFI (or with an expression CFA)."""
        if pc in self._rules:
            return self._rules[pc]
        got: CfaRule | None = None
        fde = self._fde(pc)
        if fde is not None:
            try:
                rows = fde.get_decoded().table
            except _ERRORS:
                rows = []
            row = None
            for r in rows:
                if r["pc"] > pc:
                    break
                row = r
            if row is not None:
                got = _row_rule(row)
        self._rules[pc] = got
        return got


def _row_rule(row: dict[object, object]) -> CfaRule | None:
    cfa = row.get("cfa")
    reg = getattr(cfa, "reg", None)
    if reg not in (RSP, RBP) or getattr(cfa, "expr", None) is not None:
        return None
    ra = row.get(RA)
    if not isinstance(ra, RegisterRule) or ra.type != RegisterRule.OFFSET:
        return None
    bp = row.get(RBP)
    bp_off = (int(bp.arg) if isinstance(bp, RegisterRule) and bp.type == RegisterRule.OFFSET
              and isinstance(bp.arg, int) else None)
    if not isinstance(ra.arg, int):
        return None
    return CfaRule(int(reg), int(getattr(cfa, "offset", 0) or 0), ra.arg, bp_off)
