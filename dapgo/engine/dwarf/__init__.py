"""Reading Go ELF binaries: symbols, .gopclntab, DWARF types/variables/lines (lazy, cached).

The engine uses only `BinaryInfo` and the data classes re-exported here."""

from .binary import BinaryInfo
from .model import (
    AddrLoc,
    Field,
    Function,
    GoType,
    LineLookup,
    Location,
    Param,
    Piece,
    PiecesLoc,
    RegLoc,
    StackLoc,
    StructLayout,
    StructMember,
    Symbol,
    TypeRef,
    VarInfo,
)

__all__ = [
    "AddrLoc",
    "BinaryInfo",
    "Field",
    "Function",
    "GoType",
    "LineLookup",
    "Location",
    "Param",
    "Piece",
    "PiecesLoc",
    "RegLoc",
    "StackLoc",
    "StructLayout",
    "StructMember",
    "Symbol",
    "TypeRef",
    "VarInfo",
]
