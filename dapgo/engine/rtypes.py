"""Runtime type descriptors (`runtime._type` / `internal/abi.Type`) -> DWARF types.

An interface value holds a pointer to its dynamic type's runtime descriptor (eface._type,
or itab._type / itab.Type). Like Delve, the DWARF type is the one whose
DW_AT_go_runtime_type is the descriptor's offset from `runtime.firstmoduledata.types`: the
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
        self._layout: tuple[int, int, int, int] | None = None  # str, tflag, types, etypes
        self._types_base: int | None = None

    def _offsets(self) -> tuple[int, int, int, int]:
        if self._layout is None:
            t = self.binary.member_offsets("internal/abi.Type") or self.binary.member_offsets(
                "runtime._type")
            md = self.binary.member_offsets("runtime.moduledata")
            if t is None or md is None:
                raise LookupError("runtime type layout not found in DWARF")
            try:
                self._layout = (t["Str"] if "Str" in t else t["str"],
                                t["TFlag"] if "TFlag" in t else t["tflag"],
                                md["types"], md["etypes"])
            except KeyError as exc:
                raise LookupError(f"runtime type layout: no field {exc}") from None
        return self._layout

    def module_types(self) -> int:
        """Start of the module's type descriptors (runtime.firstmoduledata.types)."""
        first = self.binary.global_variable("runtime.firstmoduledata")
        if first is None or first.location is None:
            raise LookupError("runtime.firstmoduledata not found")
        addr = getattr(first.location, "addr", None)
        if not isinstance(addr, int):
            raise LookupError("runtime.firstmoduledata has no fixed address")
        if self._types_base is None:
            self._types_base = self.target.u64(addr + self._offsets()[2])
        return self._types_base

    def name_of(self, rtype: int) -> str:
        """The Go name of a runtime type descriptor ("*main.T", "[]int", "error")."""
        str_off, tflag_off, _, _ = self._offsets()
        tflag = self.target.read(rtype + tflag_off, 1)[0]
        off = int.from_bytes(self.target.read(rtype + str_off, 4), "little", signed=True)
        base = self.module_types()
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
        tref = self.binary.type_for_runtime_offset(rtype - self.module_types())
        if tref is not None:
            info = RuntimeTypeInfo(self.binary.type_info(tref).name, tref)
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
