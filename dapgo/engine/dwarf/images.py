"""Go images loaded at run time (plugins, `-buildmode=plugin`), seen through the program's
BinaryInfo.

A plugin is a shared object with its own .gopclntab and DWARF, loaded at a bias (the
link map's l_addr). The program's BinaryInfo answers for the executable first and hands
what it does not know (a pc, a file, a function name) to the images here, converting
addresses (static + bias) on the way. DWARF type references are .debug_info offsets,
so those of image k carry k in their high bits (`TAG_SHIFT`); the executable's carry 0."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import attrs

from .cfi import CfaRule
from .inlined import InlinedCall
from .model import (
    AddrLoc,
    Function,
    GoType,
    LineLookup,
    Piece,
    PiecesLoc,
    StructMember,
    TypeRef,
    VarInfo,
)
from .sharedobj import SharedObject

if TYPE_CHECKING:
    from .binary import BinaryInfo

_MAIN = re.compile(r"(?<![\w./])main\.")
TAG_SHIFT = 40  # .debug_info offsets stay far below 1 TiB
_MASK = (1 << TAG_SHIFT) - 1


def relocated(v: VarInfo, bias: int) -> VarInfo:
    """v with its fixed addresses (a package variable's) moved by a load bias."""
    loc = v.location
    if not bias:
        return v
    if isinstance(loc, AddrLoc):
        loc = AddrLoc(loc.addr + bias)
    elif isinstance(loc, PiecesLoc):
        loc = PiecesLoc([Piece(p.size, AddrLoc(p.loc.addr + bias))
                         if isinstance(p.loc, AddrLoc) else p for p in loc.pieces])
    else:
        return v
    return VarInfo(v.name, v.is_arg, v.type, loc, v.decl_line)


@attrs.define
class Image:
    info: BinaryInfo
    bias: int
    tag: int
    lo: int  # its code, in process addresses
    hi: int

    def fn_out(self, fn: Function) -> Function:
        return Function(fn.name, fn.entry + self.bias, fn.end + self.bias, fn.go)

    def fn_in(self, fn: Function) -> Function:
        return Function(fn.name, fn.entry - self.bias, fn.end - self.bias, fn.go)

    def ref_out(self, ref: TypeRef | None) -> TypeRef | None:
        return None if ref is None else ref | (self.tag << TAG_SHIFT)

    def var_out(self, v: VarInfo) -> VarInfo:
        t = self.ref_out(v.type)
        assert t is not None
        return attrs.evolve(relocated(v, self.bias), type=t)

    def type_out(self, t: GoType) -> GoType:
        return attrs.evolve(
            t, elem=self.ref_out(t.elem), key=self.ref_out(t.key),
            offset=self.ref_out(t.offset) or 0,
            fields=[StructMember(f.name, f.offset, self.ref_out(f.type) or 0, f.embedded)
                    for f in t.fields])


class LoadedImages:
    """The images added so far, by the address range of their code."""

    def __init__(self) -> None:
        self.images: list[Image] = []
        self.natives: list[SharedObject] = []  # shared objects that are not Go

    def __bool__(self) -> bool:
        return bool(self.images) or bool(self.natives)

    def close(self) -> None:
        """Unmap every image's file (the program's session is over)."""
        images, natives, self.images, self.natives = self.images, self.natives, [], []
        for img in images:
            img.info.close()
        for obj in natives:
            obj.close()

    def add_native(self, obj: SharedObject) -> None:
        self.natives.append(obj)

    def native_at(self, pc: int) -> SharedObject | None:
        for obj in self.natives:
            if obj.holds(pc):
                return obj
        return None

    def add(self, info: BinaryInfo, bias: int, text: tuple[int, int]) -> Image:
        img = Image(info, bias, len(self.images) + 1, text[0] + bias, text[1] + bias)
        self.images.append(img)
        return img

    def paths(self) -> list[str]:
        return [i.info.path for i in self.images]

    def at(self, pc: int) -> Image | None:
        for img in self.images:
            if img.lo <= pc < img.hi:
                return img
        return None

    def of_ref(self, ref: TypeRef) -> tuple[Image, TypeRef] | None:
        tag = ref >> TAG_SHIFT
        if not tag or tag > len(self.images):
            return None
        return self.images[tag - 1], ref & _MASK

    # --- pc lookups ------------------------------------------------------------------------
    def function_for_pc(self, pc: int) -> Function | None:
        img = self.at(pc)
        fn = img.info.function_for_pc(pc - img.bias) if img else None
        return img.fn_out(fn) if img and fn else None

    def line_for_pc(self, pc: int) -> tuple[str, int] | None:
        img = self.at(pc)
        return img.info.line_for_pc(pc - img.bias) if img else None

    def sp_offset(self, pc: int) -> int | None:
        img = self.at(pc)
        return img.info.sp_offset(pc - img.bias) if img else None

    def cfa_rule(self, pc: int) -> CfaRule | None:
        img = self.at(pc)
        if img is not None:
            return img.info.cfa_rule(pc - img.bias)
        obj = self.native_at(pc)
        return obj.cfa_rule(pc) if obj is not None else None

    def native_function_for_pc(self, pc: int) -> Function | None:
        obj = self.native_at(pc)
        return obj.function_for_pc(pc) if obj is not None else None

    def read_text(self, addr: int, size: int) -> bytes | None:
        img = self.at(addr)
        return img.info.read_text(addr - img.bias, size) if img else None

    # --- by function -----------------------------------------------------------------------
    def inline_chain(self, img: Image, fn: Function, pc: int) -> list[InlinedCall]:
        return [attrs.evolve(c, entry=c.entry + img.bias)
                for c in img.info.inline_chain(img.fn_in(fn), pc - img.bias)]

    def frame_variables(self, img: Image, fn: Function, pc: int, scope: int | None
                        ) -> list[VarInfo]:
        return [img.var_out(v) for v in
                img.info.frame_variables(img.fn_in(fn), pc - img.bias, scope)]

    def lines_for_function(self, img: Image, fn: Function
                           ) -> list[tuple[int, str, int, bool, bool]]:
        return [(a + img.bias, f, ln, s, p)
                for a, f, ln, s, p in img.info.lines_for_function(img.fn_in(fn))]

    # --- by name ---------------------------------------------------------------------------
    def function(self, name: str) -> Function | None:
        for img in self.images:
            fn = img.info.function(name)
            if fn is not None:
                return img.fn_out(fn)
        return None

    def function_breakpoint_addresses(self, name: str) -> list[int]:
        for img in self.images:
            pcs = img.info.function_breakpoint_addresses(name)
            if pcs:
                return [pc + img.bias for pc in pcs]
        return []

    def addresses_for_line(self, path: str, line: int) -> LineLookup | None:
        for img in self.images:
            got = img.info.addresses_for_line(path, line)
            if got.addresses:
                return LineLookup([a + img.bias for a in got.addresses], got.file)
        return None

    def package_variables(self, package: str) -> list[VarInfo]:
        for img in self.images:
            vs = img.info.package_variables(package)
            if vs:
                return [img.var_out(v) for v in vs]
        return []

    def global_variable(self, name: str) -> VarInfo | None:
        for img in self.images:
            v = img.info.global_variable(name)
            if v is not None:
                return img.var_out(v)
        return None

    def find_type(self, name: str) -> TypeRef | None:
        """A type by its runtime name. A plugin is a main package, which the runtime
        calls "main" and DWARF by its import path."""
        for img in self.images:
            ref = img.info.find_type(name)
            path = img.info.main_package
            if ref is None and path and "main." in name:
                ref = img.info.find_type(_MAIN.sub(path.replace("\\", r"\\") + ".", name))
            if ref is not None:
                return img.ref_out(ref)
        return None

    def type_for_runtime_offset(self, types: int, offset: int) -> TypeRef | None:
        """The DWARF type of a plugin's runtime type descriptor: `types` is its module's
        type section (a process address in the plugin's image), `offset` the descriptor's
        offset from it (DW_AT_go_runtime_type)."""
        for img in self.images:
            try:
                img.info.file_offset(types - img.bias)
            except ValueError:
                continue
            return img.ref_out(img.info.type_for_runtime_offset(offset))
        return None

    def type_info(self, ref: TypeRef) -> GoType | None:
        found = self.of_ref(ref)
        if found is None:
            return None
        img, raw = found
        return img.type_out(img.info.type_info(raw))
