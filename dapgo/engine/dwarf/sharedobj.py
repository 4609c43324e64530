"""A shared object that is not Go (libc, the dynamic loader, a C library): what unwinding
through its code needs. Its functions are named by its ELF symbols (.dynsym when it is
stripped) and its frames unwound with its .eh_frame; addresses in and out are process
addresses (static + the load bias from the link map)."""

from __future__ import annotations

from .cfi import CfaRule, FrameTables
from .elf import PT_LOAD, ElfImage
from .model import Function
from .native import FunctionSymbols


class SharedObject:
    def __init__(self, path: str, bias: int) -> None:
        self.path = path
        self.bias = bias
        self._elf = ElfImage(path)
        self._symbols = FunctionSymbols(self._elf)
        elf = self._elf
        self._frames = FrameTables(self._eh_frame, lambda: None)
        # its code, in process addresses: the executable PT_LOAD segments
        self.code: list[tuple[int, int]] = [
            (p.vaddr + bias, p.vaddr + p.memsz + bias)
            for p in elf.segments if p.type == PT_LOAD and p.flags & 1]

    def _eh_frame(self) -> tuple[bytes, int] | None:
        sec = self._elf.sections.get(".eh_frame")
        return None if sec is None else (self._elf.data(".eh_frame"), sec.addr)

    def holds(self, pc: int) -> bool:
        return any(lo <= pc < hi for lo, hi in self.code)

    def function_for_pc(self, pc: int) -> Function | None:
        fn = self._symbols.function_for_pc(pc - self.bias)
        if fn is None:
            return None
        return Function(fn.name, fn.entry + self.bias, fn.end + self.bias, go=False)

    def cfa_rule(self, pc: int) -> CfaRule | None:
        return self._frames.rule(pc - self.bias)

    def close(self) -> None:
        self._elf.close()
