"""A stopped frame's variables as Go sees them at the frame's line.

Owns which DWARF variables of a function are in scope (lexical blocks covering the pc, and
a local only from the line after its declaration, as Delve), their display names (a
shadowed variable is `(x)`, `((x))`... behind the innermost `x`; an escaped variable, which
DWARF names `&x` with a pointer type, is `x` with its value type), the generic function's
`.dict` argument (hidden; shape-typed variables get their instantiated types from it), and
their values, or why one cannot be read.
"""

from __future__ import annotations

from collections import Counter

import attrs

from dapgo.engine.dwarf import VarInfo
from dapgo.engine.dwarf.model import GoType
from dapgo.engine.stack import Frame
from dapgo.engine.target import Registers
from dapgo.engine.values import UnreadableError, Value, ValueReader

DICT_ARG = ".dict"


@attrs.frozen
class FrameVar:
    """One variable of a frame: its display name, its DWARF description, and its value or
    why it cannot be read."""

    shown: str  # display name: `x`, `(x)` for a shadowed one
    name: str  # Go name (an escaped `&x` is `x`)
    var: VarInfo
    value: Value | str

    @property
    def escaped(self) -> bool:
        return self.var.name.startswith("&")


def visible_vars(reader: ValueReader, frame: Frame, pc: int) -> list[VarInfo]:
    """The frame's arguments then locals in scope at `pc` and at the frame's line, outer
    blocks before inner ones (DWARF's order); `.dict` included. A call inlined into the
    frame's code (optimized builds) has its own variables (`frame.inlined_scope`); C code
    none."""
    code = frame.code
    if code is None or not code.go:
        return []
    line = frame.line
    return [v for v in reader.binary.frame_variables(code, pc, frame.inlined_scope)
            if v.is_arg or not v.decl_line or not line or v.decl_line < line]


def display_names(found: list[VarInfo]) -> list[tuple[str, str, VarInfo]]:
    """(shown, Go name, variable) for each variable but `.dict`, innermost unadorned."""
    kept = [(v.name[1:] if v.name.startswith("&") else v.name, v) for v in found
            if v.name != DICT_ARG]
    total = Counter(name for name, _ in kept)
    seen: Counter[str] = Counter()
    out = []
    for name, v in kept:
        seen[name] += 1
        hidden_by = total[name] - seen[name]  # inner declarations after this one
        out.append(("(" * hidden_by + name + ")" * hidden_by, name, v))
    return out


def read_frame_vars(reader: ValueReader, frame: Frame, pc: int, regs: Registers | None
                    ) -> list[FrameVar]:
    """Every visible variable of `frame` with its value (see the module docstring)."""
    found = visible_vars(reader, frame, pc)
    generic = frame.function is not None and "[" in frame.function.name
    dict_addr: int | None = None
    if generic:
        for v in found:
            if v.name == DICT_ARG:
                got = _read(reader, v, frame, regs, None)
                dict_addr = got.word() if isinstance(got, Value) else None
    out = []
    for shown, name, v in display_names(found):
        t = _instantiated(reader, v, dict_addr) if generic else None
        value = _read(reader, v, frame, regs, t)
        if isinstance(value, Value) and v.name.startswith("&"):
            value = _deref(reader, value)
        out.append(FrameVar(shown, name, v, value))
    return out


def _read(reader: ValueReader, v: VarInfo, frame: Frame, regs: Registers | None,
          t: GoType | None) -> Value | str:
    if v.location is None:
        return "optimized out"
    try:
        where = reader.address_of(v.location, frame.cfa, regs)
        return reader.value_at(t if t is not None else v.type, where)
    except (UnreadableError, OSError) as exc:
        return str(exc) or "cannot read memory"


def _deref(reader: ValueReader, p: Value) -> Value | str:
    """The value an escaped variable's pointer points at."""
    addr = p.word()
    if addr == 0:
        return "not yet allocated (nil address)"
    try:
        return reader.deref(p)
    except (OSError, LookupError) as exc:
        return f"cannot read memory at {addr:#x}: {exc}"


def _instantiated(reader: ValueReader, v: VarInfo, dict_addr: int | None) -> GoType | None:
    """A shape-typed variable's instantiated type, from the `.dict` entry its type's
    DW_AT_go_dict_index names (None: not shape-typed, or not resolvable)."""
    if not dict_addr:
        return None
    tref = v.type
    index = reader.binary.dict_index(tref)
    pointer = False
    if index is None:
        # an escaped shape-typed variable: *T, where T has the index
        t = reader.type_of(tref)
        if t.kind != "ptr" or t.elem is None:
            return None
        index = reader.binary.dict_index(t.elem)
        pointer = True
        if index is None:
            return None
    try:
        rtype = reader.target.u64(dict_addr + 8 * index)
        info = reader.rtypes.resolve(rtype)
    except (OSError, LookupError):
        return None
    if info.tref is None:
        return None
    inst = reader.type_of(info.tref)
    return reader.pointer_to(inst) if pointer else inst
