"""Go's register-based calling convention (ABIInternal) on amd64, as pure layout logic.

Given the types of a function's receiver and arguments and of its results, `assign` says
where each value travels: in which integer registers (RAX, RBX, RCX, RDI, RSI, R8-R11) and
SSE registers (X0-X14) its parts go, or at which offset of the argument frame on the stack,
and how large that frame is (stack arguments, stack results, spill space), following the
algorithm of Go's cmd/compile/abi-internal.md. Used to inject function calls.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from dapgo.engine.dwarf.model import GoType, TypeRef

INT_REGS = ("rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11")
FLOAT_REGS = tuple(f"x{i}" for i in range(15))
PTR_SIZE = 8

TypeOf = Callable[[TypeRef], GoType]


class AbiError(Exception):
    """A type the calling convention cannot lay out here."""


@attrs.frozen
class Part:
    """`size` bytes at `offset` in the value travel in register `reg` ("rax", "x0")."""

    offset: int
    size: int
    reg: str


@attrs.frozen
class Placement:
    """Where one value travels: register parts, or `stack` (offset in the argument frame)."""

    parts: tuple[Part, ...] = ()
    stack: int | None = None


@attrs.frozen
class FrameLayout:
    args: tuple[Placement, ...]
    results: tuple[Placement, ...]
    size: int  # the whole argument frame, spill space included


def alignment(t: GoType, type_of: TypeOf) -> int:
    k = t.kind
    if k in ("bool", "int", "uint", "uintptr", "float"):
        return max(1, min(t.size, PTR_SIZE))
    if k == "complex":
        return max(1, t.size // 2)
    if k == "struct":
        return max((alignment(type_of(f.type), type_of) for f in t.fields), default=1)
    if k == "array":
        return alignment(type_of(t.elem), type_of) if t.elem is not None else 1
    return PTR_SIZE  # pointers, strings, slices, interfaces, maps, chans, funcs


def _up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class _Assigner:
    def __init__(self, type_of: TypeOf) -> None:
        self.type_of = type_of
        self.i = 0
        self.fp = 0

    def regs(self, t: GoType, base: int, out: list[Part]) -> bool:
        """Register-assign a value of type t at byte `base` of the whole value."""
        k = t.kind
        if k in ("bool", "int", "uint", "uintptr", "ptr", "unsafe.Pointer", "map", "chan",
                 "func"):
            return self._int(base, t.size or PTR_SIZE, out)
        if k == "float":
            return self._float(base, t.size, out)
        if k == "complex":
            half = t.size // 2
            return self._float(base, half, out) and self._float(base + half, half, out)
        if k == "string" or k == "interface":
            return self._int(base, 8, out) and self._int(base + 8, 8, out)
        if k == "slice":
            return all(self._int(base + 8 * j, 8, out) for j in range(3))
        if k == "struct":
            return all(self.regs(self.type_of(f.type), base + f.offset, out)
                       for f in t.fields)
        if k == "array":
            n = t.length or 0
            if n == 0:
                return True
            if n == 1 and t.elem is not None:
                return self.regs(self.type_of(t.elem), base, out)
            return False
        raise AbiError(f"cannot pass a value of type {t.name or k} ({k})")

    def _int(self, base: int, size: int, out: list[Part]) -> bool:
        if self.i >= len(INT_REGS):
            return False
        out.append(Part(base, size, INT_REGS[self.i]))
        self.i += 1
        return True

    def _float(self, base: int, size: int, out: list[Part]) -> bool:
        if self.fp >= len(FLOAT_REGS):
            return False
        out.append(Part(base, size, FLOAT_REGS[self.fp]))
        self.fp += 1
        return True


def assign(args: list[GoType], results: list[GoType], type_of: TypeOf) -> FrameLayout:
    """The placement of every argument (receiver first) and result, and the frame size."""
    a = _Assigner(type_of)
    offset = 0

    def place(t: GoType) -> Placement:
        nonlocal offset
        i, fp = a.i, a.fp
        if t.size == 0:
            offset = _up(offset, alignment(t, type_of))
            return Placement(stack=offset)
        parts: list[Part] = []
        if a.regs(t, 0, parts):
            return Placement(parts=tuple(parts))
        a.i, a.fp = i, fp
        offset = _up(offset, alignment(t, type_of))
        at = offset
        offset += t.size
        return Placement(stack=at)

    placed_args = tuple(place(t) for t in args)
    offset = _up(offset, PTR_SIZE)
    a.i = a.fp = 0
    placed_results = tuple(place(t) for t in results)
    offset = _up(offset, PTR_SIZE)
    for t, p in zip(args, placed_args, strict=True):
        if p.parts:  # spill space for register arguments
            offset = _up(offset, alignment(t, type_of)) + t.size
    offset = _up(offset, PTR_SIZE)
    return FrameLayout(placed_args, placed_results, offset)
