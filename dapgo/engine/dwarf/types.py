"""Go types from DWARF type DIEs: GoType (one level, lazily) and StructLayout (field offsets,
nested structs resolved), keyed by the type DIE's .debug_info offset (TypeRef). The DIEs
are pyelftools'; this module knows how Go describes its types with them."""

from __future__ import annotations

from collections.abc import Callable

from . import dies as D
from .dies import DIE, DebugInfo, attr_int, attr_ref, attr_value, children, die_name
from .locations import member_offset
from .model import Field, GoType, StructLayout, StructMember, TypeRef

# reflect.Kind -> dapgo kind name
_REFLECT_KIND = {
    1: "bool", 2: "int", 3: "int", 4: "int", 5: "int", 6: "int",
    7: "uint", 8: "uint", 9: "uint", 10: "uint", 11: "uint", 12: "uintptr",
    13: "float", 14: "float", 15: "complex", 16: "complex", 17: "array", 18: "chan",
    19: "func", 20: "interface", 21: "map", 22: "ptr", 23: "slice", 24: "string",
    25: "struct", 26: "unsafe.Pointer",
}
# DW_ATE_* fallback for base types without DW_AT_go_kind
_ENCODING = {0x02: "bool", 0x04: "float", 0x03: "complex", 0x05: "int", 0x06: "int",
             0x07: "uint", 0x08: "uint", 0x10: "uint"}

TYPE_TAGS = frozenset({D.TAG_structure_type, D.TAG_typedef, D.TAG_base_type,
                       D.TAG_pointer_type, D.TAG_array_type, D.TAG_subroutine_type,
                       D.TAG_unspecified_type})


class TypeReader:
    """Decodes and caches Go types from one DebugInfo."""

    def __init__(self, info: DebugInfo) -> None:
        self.info = info
        self._types: dict[TypeRef, GoType] = {}
        self._layouts: dict[TypeRef, StructLayout] = {}

    def _die(self, ref: TypeRef) -> DIE:
        die = self.info.die(ref)
        if die is None:
            raise KeyError(f"no type DIE at {ref:#x}")
        return die

    def _underlying(self, die: DIE) -> DIE:
        seen = 0
        while die.tag == D.TAG_typedef and seen < 32:
            t = attr_ref(die, D.AT_type)
            if t is None:
                break
            die = self._die(t)
            seen += 1
        return die

    def type_info(self, ref: TypeRef) -> GoType:
        cached = self._types.get(ref)
        if cached is not None:
            return cached
        die = self._die(ref)
        name = die_name(die) or ""
        under = self._underlying(die)
        kind_code = self._chain_attr(die, D.AT_go_kind)
        kind = _REFLECT_KIND.get(kind_code or 0)
        if kind is None:
            kind = self._kind_from_tag(under)
        size = attr_int(under, D.AT_byte_size) or 0
        elem: TypeRef | None = None
        key: TypeRef | None = None
        length: int | None = None
        fields: list[StructMember] = []
        go_elem = self._chain_attr(die, D.AT_go_elem, ref=True)
        if kind == "ptr":
            elem = attr_ref(under, D.AT_type)
        elif kind in ("slice", "chan"):
            elem = go_elem
        elif kind == "map":
            key = self._chain_attr(die, D.AT_go_key, ref=True)
            elem = go_elem
        elif kind == "array":
            elem = attr_ref(under, D.AT_type)
            for c in children(under):
                if c.tag == D.TAG_subrange_type:
                    length = attr_int(c, D.AT_count)
                    break
            if length is None and elem is not None:
                esize = self.type_info(elem).size
                length = size // esize if esize else 0
        if under.tag == D.TAG_structure_type:
            for c in children(under):
                if c.tag != D.TAG_member:
                    continue
                t = attr_ref(c, D.AT_type)
                if t is None:
                    continue
                fields.append(StructMember(die_name(c) or "", member_offset(c), t,
                                           bool(attr_value(c, D.AT_go_embedded_field))))
        gt = GoType(name=name, kind=kind, size=size, elem=elem, fields=fields, length=length,
                    key=key, offset=ref)
        self._types[ref] = gt
        return gt

    def _chain_attr(self, die: DIE, attr: int, ref: bool = False) -> int | None:
        """First value of `attr` along the typedef chain from `die` (Go puts DW_AT_go_kind,
        go_key and go_elem on the typedef of interfaces, maps and channels). `ref`: the
        attribute is a reference, returned as an absolute .debug_info offset."""
        for _ in range(32):
            v = attr_ref(die, attr) if ref else attr_int(die, attr)
            if v is not None or die.tag != D.TAG_typedef:
                return v
            t = attr_ref(die, D.AT_type)
            if t is None:
                return None
            die = self._die(t)
        return None

    def _kind_from_tag(self, die: DIE) -> str:
        if die.tag == D.TAG_pointer_type:
            return "ptr" if D.AT_type in die.attributes else "unsafe.Pointer"
        if die.tag == D.TAG_structure_type:
            return "struct"
        if die.tag == D.TAG_array_type:
            return "array"
        if die.tag == D.TAG_subroutine_type:
            return "func"
        if die.tag == D.TAG_base_type:
            enc = attr_int(die, D.AT_encoding)
            if die_name(die) == "uintptr":
                return "uintptr"
            return _ENCODING.get(enc or 0, "uint")
        return "unsafe.Pointer"

    def type_name(self, ref: TypeRef) -> str:
        return die_name(self._die(ref)) or ""

    def find_type(self, name: str) -> TypeRef | None:
        for die in self.info.find_named(name, TYPE_TAGS):
            return die.offset
        return None

    def layout(self, ref: TypeRef) -> StructLayout | None:
        cached = self._layouts.get(ref)
        if cached is not None:
            return cached
        die = self._die(ref)
        under = self._underlying(die)
        if under.tag != D.TAG_structure_type:
            return None
        fields: dict[str, Field] = {}
        nested = _LazyLayouts(self.layout)
        for c in children(under):
            if c.tag != D.TAG_member:
                continue
            t = attr_ref(c, D.AT_type)
            if t is None:
                continue
            tdie = self._die(t)
            tunder = self._underlying(tdie)
            fname = die_name(c) or ""
            fields[fname] = Field(fname, member_offset(c), die_name(tdie) or "",
                                  attr_int(tunder, D.AT_byte_size) or 0)
            if tunder.tag == D.TAG_structure_type:
                nested.pending[fname] = tunder.offset
        lay = StructLayout(name=die_name(die) or die_name(under) or "",
                           size=attr_int(under, D.AT_byte_size) or 0, fields=fields,
                           nested=nested)
        self._layouts[ref] = lay
        return lay


class _LazyLayouts(dict[str, "StructLayout | None"]):
    """A struct's nested struct layouts, each decoded on its first lookup (runtime structs
    such as moduledata nest dozens that a lookup of one field never needs)."""

    def __init__(self, decode: Callable[[TypeRef], StructLayout | None]) -> None:
        super().__init__()
        self.pending: dict[str, TypeRef] = {}
        self._decode = decode

    def get(self, key: str, default: object = None) -> StructLayout | None:
        if key not in self and key in self.pending:
            self[key] = self._decode(self.pending.pop(key))
        return super().get(key)
