"""Runtime type descriptors (`runtime._type` / `internal/abi.Type`) -> DWARF types.

An interface value holds a pointer to its dynamic type's runtime descriptor (eface._type,
or itab._type / itab.Type). Like Delve, the DWARF type is the one whose
DW_AT_go_runtime_type is the descriptor's offset from its module's `types` (the executable's
`runtime.firstmoduledata.types`; a Go plugin's module further down its `next` list): the
runtime's own name (`Str`, a nameOff into the same table) says `fs.PathError` where DWARF
says `io/fs.PathError`, so it is only the fallback, and the name shown when DWARF has no
such type. Field offsets come from DWARF, never constants.
"""

from __future__ import annotations

import attrs

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.model import TypeRef
from dapgo.engine.target import Target

TFLAG_UNCOMMON = 1
TFLAG_EXTRA_STAR = 2


@attrs.frozen
class RuntimeTypeInfo:
    """What the engine learned about one runtime type descriptor."""

    name: str
    tref: TypeRef | None  # None: the name has no DWARF type


class RuntimeTypes:
    """Resolves runtime type descriptor addresses to names and DWARF types (cached)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.binary: BinaryInfo = target.binary
        self._cache: dict[int, RuntimeTypeInfo] = {}
        self._type_layout: tuple[int, int] | None = None  # abi.Type's Str, TFlag
        self._module_layout: tuple[int, int, int] | None = None  # moduledata's types, etypes, next
        self._first: tuple[int, int, int] | None = None  # firstmoduledata, types, etypes

    def _type_offsets(self) -> tuple[int, int]:
        """Offsets of a type descriptor's Str and TFlag (field_offsets: remembered on disk
        by build id, a warm start decodes no DWARF)."""
        if self._type_layout is None:
            t = self.binary.field_offsets("internal/abi.Type", ("Str", "TFlag")) \
                or self.binary.field_offsets("runtime._type", ("str", "tflag"))
            if t is None:
                raise LookupError("runtime type layout not found in DWARF")
            tf = t[1]
            try:
                self._type_layout = (tf["Str"] if "Str" in tf else tf["str"],
                                     tf["TFlag"] if "TFlag" in tf else tf["tflag"])
            except KeyError as exc:
                raise LookupError(f"runtime type layout: no field {exc}") from None
        return self._type_layout

    def _module_offsets(self) -> tuple[int, int, int]:
        """Offsets of runtime.moduledata's types, etypes and next (0: no next)."""
        if self._module_layout is None:
            md = self.binary.field_offsets("runtime.moduledata", ("types", "etypes", "next"))
            if md is None or "types" not in md[1] or "etypes" not in md[1]:
                raise LookupError("runtime.moduledata layout not found in DWARF")
            mf = md[1]
            self._module_layout = (mf["types"], mf["etypes"], mf.get("next", 0))
        return self._module_layout

    def _first_module(self) -> tuple[int, int, int]:
        """(address, types, etypes) of runtime.firstmoduledata, the executable's module:
        from .symtab (the linker's runtime.types and runtime.etypes are what it writes
        into firstmoduledata), else from the moduledata in memory."""
        if self._first is not None:
            return self._first
        sym = self.binary.symbol("runtime.firstmoduledata")  # .symtab: no DWARF search
        types, etypes = self.binary.symbol("runtime.types"), self.binary.symbol("runtime.etypes")
        if sym is not None and types is not None and etypes is not None:
            self._first = (sym.addr, types.addr, etypes.addr)
            return self._first
        addr: object = sym.addr if sym is not None else None
        if addr is None:
            first = self.binary.global_variable("runtime.firstmoduledata")
            if first is None or first.location is None:
                raise LookupError("runtime.firstmoduledata not found")
            addr = getattr(first.location, "addr", None)
        if not isinstance(addr, int):
            raise LookupError("runtime.firstmoduledata has no fixed address")
        types_off, etypes_off, _ = self._module_offsets()
        self._first = (addr, self.target.u64(addr + types_off),
                       self.target.u64(addr + etypes_off))
        return self._first

    def module_types(self) -> int:
        """Start of the executable's type descriptors (runtime.firstmoduledata.types)."""
        return self._first_module()[1]

    def _module_types(self, rtype: int) -> int:
        """`types` of the module whose type section holds `rtype`: the executable's
        (runtime.firstmoduledata), or a plugin's, further down the modules' `next` list."""
        addr, first_types, first_etypes = self._first_module()
        if first_types <= rtype < first_etypes:
            return first_types
        types_off, etypes_off, next_off = self._module_offsets()
        md = self.target.u64(addr + next_off) if next_off else 0
        for _ in range(64):  # one module per plugin
            if not md:
                break
            types = self.target.u64(md + types_off)
            if types <= rtype < self.target.u64(md + etypes_off):
                return types
            md = self.target.u64(md + next_off)
        return first_types

    def name_of(self, rtype: int) -> str:
        """The Go name of a runtime type descriptor ("*main.T", "[]int", "error")."""
        str_off, tflag_off = self._type_offsets()
        tflag = self.target.read(rtype + tflag_off, 1)[0]
        off = int.from_bytes(self.target.read(rtype + str_off, 4), "little", signed=True)
        base = self._module_types(rtype)
        addr = base + off
        head = self.target.read(addr, 11)
        n, pos = _uvarint(head, 1)  # byte 0: flags; then the varint length
        raw = self.target.read(addr + pos, n).decode("utf-8", "replace")
        if tflag & TFLAG_EXTRA_STAR and raw.startswith("*"):
            raw = raw[1:]
        return raw

    def resolve(self, rtype: int) -> RuntimeTypeInfo:
        """Name and DWARF type of the descriptor at `rtype`."""
        got = self._cache.get(rtype)
        if got is not None:
            return got
        base = self._module_types(rtype)
        if base == self.module_types():
            tref = self.binary.type_for_runtime_offset(rtype - base)
            name = self.binary.type_info(tref).name if tref is not None else None
        else:  # a plugin's type: its own DWARF, its own module's offsets; the runtime's
            # name, as the program prints it (a plugin's main package is "main" there)
            tref = self.binary.images.type_for_runtime_offset(base, rtype - base)
            name = self.name_of(rtype) if tref is not None else None
        if tref is not None and name is not None:
            info = RuntimeTypeInfo(name, tref)
        else:
            name = self.name_of(rtype)
            tref = self.binary.find_type(name)
            if tref is None:
                tref = self.binary.find_type(_dwarf_spelling(name))
            info = RuntimeTypeInfo(name, tref)
        self._cache[rtype] = info
        return info


def _dwarf_spelling(name: str) -> str:
    """Runtime names write the empty interface as `interface {}`; so does DWARF, but
    the runtime writes `any`-free forms with spacing that can differ slightly."""
    return name.replace("interface{}", "interface {}")


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    return result, pos
