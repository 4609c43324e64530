"""Plain attrs data classes returned by the binary reader (BinaryInfo and its helpers)."""

from __future__ import annotations

import attrs

# A type is referred to by the absolute .debug_info offset of its DIE.
TypeRef = int


@attrs.frozen
class Symbol:
    """One ELF .symtab entry."""

    name: str
    addr: int
    size: int


@attrs.frozen
class Function:
    """A function from .gopclntab: [entry, end) in the text segment; `go` False for a C
    function of a cgo program (an ELF symbol, no Go variables)."""

    name: str
    entry: int
    end: int
    go: bool = True


@attrs.frozen
class LineLookup:
    """Answer to addresses_for_line: addresses (maybe empty), the matched file, a message."""

    addresses: list[int]
    file: str | None
    message: str | None = None


@attrs.frozen
class Field:
    name: str
    offset: int
    type_name: str
    size: int


@attrs.frozen
class StructLayout:
    """Layout of a Go struct type; `offset("a.b.c")` walks nested struct fields."""

    name: str
    size: int
    fields: dict[str, Field]
    # Layouts of nested struct-typed fields, resolved lazily by the owner.
    _nested: dict[str, StructLayout | None] = attrs.field(factory=dict, eq=False, repr=False)

    def offset(self, path: str) -> int:
        """Byte offset of a (possibly dotted) field path; KeyError if any part is unknown."""
        head, _, rest = path.partition(".")
        f = self.fields[head]
        if not rest:
            return f.offset
        sub = self._nested.get(head)
        if sub is None:
            raise KeyError(f"{self.name}.{head} is not a struct (looking up {path!r})")
        return f.offset + sub.offset(rest)

    def field(self, path: str) -> Field:
        """The Field at a dotted path (offset is relative to the field's own parent)."""
        head, _, rest = path.partition(".")
        if not rest:
            return self.fields[head]
        sub = self._nested.get(head)
        if sub is None:
            raise KeyError(f"{self.name}.{head} is not a struct (looking up {path!r})")
        return sub.field(rest)


@attrs.frozen
class StackLoc:
    """Value lives in memory at CFA + offset (Go: DW_OP_fbreg with CFA as frame base)."""

    cfa_offset: int


@attrs.frozen
class RegLoc:
    """Value lives in a register (DWARF register number; amd64: 0=rax 1=rdx 2=rcx 3=rbx...)."""

    regnum: int


@attrs.frozen
class AddrLoc:
    """Value lives at a fixed address (globals)."""

    addr: int


@attrs.frozen
class Piece:
    """One DW_OP_piece: `size` bytes found at `loc` (None: that piece is optimized out)."""

    size: int
    loc: StackLoc | RegLoc | AddrLoc | None


@attrs.frozen
class PiecesLoc:
    """Value split over pieces, in order of increasing byte offset."""

    pieces: list[Piece]


Location = StackLoc | RegLoc | AddrLoc | PiecesLoc


@attrs.frozen
class VarInfo:
    name: str
    is_arg: bool
    type: TypeRef
    location: Location | None
    decl_line: int | None = None


@attrs.frozen
class Param:
    """A formal parameter of a function, in declaration order: an argument (the receiver
    first) or a result (`~r0` when unnamed)."""

    name: str
    type: TypeRef
    is_result: bool


@attrs.frozen
class StructMember:
    name: str
    offset: int
    type: TypeRef
    embedded: bool


@attrs.frozen
class GoType:
    """A decoded Go type. kind is one of the reflect-like names listed in KINDS."""

    name: str
    kind: str
    size: int
    elem: TypeRef | None = None
    fields: list[StructMember] = attrs.field(factory=list)
    length: int | None = None
    key: TypeRef | None = None
    offset: TypeRef = 0


KINDS = frozenset({
    "bool", "int", "uint", "float", "complex", "string", "slice", "array", "map", "struct",
    "ptr", "interface", "chan", "func", "unsafe.Pointer", "uintptr",
})
