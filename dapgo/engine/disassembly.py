"""DAP's `disassemble`: a window of instructions around an address, in Go or Intel syntax,
with the function (symbol) and source line of each.

Code is decoded from the binary's file image (never from the program's memory, which holds
dapgo's int3 bytes at breakpoints), a whole function at a time from its entry, so that an
instruction boundary is always known, even for a window that starts before the address
(DAP's negative instructionOffset). Functions in .gopclntab cover the text without gaps;
outside them each byte is an invalid placeholder, so a window always has the size asked.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.model import Function
from dapgo.engine.gosyntax import go_syntax
from dapgo.engine.instructions import disassembler
from dapgo.engine.model import DisassemblyFlavor as Syntax
from dapgo.engine.model import Instruction


class Disassembler:
    def __init__(self, binary: BinaryInfo) -> None:
        self.binary = binary
        self._decoded = lru_cache(maxsize=64)(self._decode_uncached)

    def symbolize(self, addr: int) -> str | None:
        """A code or data address by name: `main.add`, `main.add+0x12`, `main.hits`."""
        fn = self.binary.function_for_pc(addr)
        if fn is not None:
            return fn.name if addr == fn.entry else f"{fn.name}+{addr - fn.entry:#x}"
        data = self.binary.data_symbol_at(addr)
        if data is None:
            return None
        return data[0] if data[1] == 0 else f"{data[0]}+{data[1]:#x}"

    def _decode_uncached(self, fn: Function) -> tuple[Any, ...]:
        code = self.binary.read_text(fn.entry, fn.end - fn.entry) or b""
        out: list[Any] = []
        pos = 0
        md = disassembler()
        while pos < len(code):
            got = list(md.disasm(code[pos:], fn.entry + pos))
            out.extend(got)
            if got:
                pos = got[-1].address + got[-1].size - fn.entry
            if pos < len(code):  # capstone stopped at a byte it cannot decode: skip it
                out.append(_Bad(fn.entry + pos, code[pos:pos + 1]))
                pos += 1
        return tuple(out)

    def _render(self, insn: Any, fn: Function | None, syntax: Syntax) -> Instruction:
        if isinstance(insn, _Bad):
            return Instruction(insn.address, insn.bytes, "(bad)" if insn.bytes else "??",
                               valid=False)
        if syntax == "go":
            text = go_syntax(insn, self.symbolize)
        else:
            text = f"{insn.mnemonic} {insn.op_str}".strip()
            target = _target(insn)
            name = self.symbolize(target) if target is not None else None
            if name:
                text += f" <{name}>"
        loc = self.binary.line_for_pc(insn.address)
        return Instruction(insn.address, bytes(insn.bytes), text, fn.name if fn else None,
                           loc[0] if loc else None, loc[1] if loc else None)

    def window(self, address: int, instruction_offset: int, count: int, syntax: Syntax
               ) -> list[Instruction]:
        """`count` instructions, the first `instruction_offset` instructions from the one at
        (or containing) `address`."""
        if count <= 0:
            return []
        fn = self.binary.function_for_pc(address)
        if fn is None:
            return [_placeholder(address + i)
                    for i in range(instruction_offset, instruction_offset + count)]
        blocks: list[tuple[Function | None, Any]] = [(fn, i) for i in self._decoded(fn)]
        idx = next(i for i, (_f, insn) in enumerate(blocks)
                   if insn.address <= address < insn.address + insn.size)
        lo, hi = idx + instruction_offset, idx + instruction_offset + count
        first = fn
        while lo < 0:  # earlier functions
            prev = self.binary.function_for_pc(first.entry - 1) if first else None
            if prev is None:
                start = blocks[0][1].address
                pad = [(None, _Bad(start - k, b"")) for k in range(-lo, 0, -1)]
                blocks = pad + blocks
                lo, hi = 0, hi + len(pad)
                break
            more = [(prev, i) for i in self._decoded(prev)]
            blocks = more + blocks
            lo, hi, first = lo + len(more), hi + len(more), prev
        last: Function | None = fn
        while hi > len(blocks):  # later functions
            nxt = self.binary.function_for_pc(last.end) if last else None
            if nxt is None:
                end = blocks[-1][1].address + blocks[-1][1].size
                blocks += [(None, _Bad(end + k, b"")) for k in range(hi - len(blocks))]
                break
            blocks += [(nxt, i) for i in self._decoded(nxt)]
            last = nxt
        return [self._render(insn, f, syntax) for f, insn in blocks[lo:hi]]


class _Bad:
    """A byte that is not an instruction (or an address outside the program's code)."""

    def __init__(self, address: int, data: bytes) -> None:
        self.address = address
        self.bytes = data
        self.size = 1


def _placeholder(addr: int) -> Instruction:
    return Instruction(addr, b"", "??", valid=False)


def _target(insn: Any) -> int | None:
    """A call or jump's target, or the address a rip-relative operand names."""
    import capstone.x86 as x86

    ops = insn.operands
    if (insn.mnemonic == "call" or insn.mnemonic.startswith("j")) and len(ops) == 1 \
            and ops[0].type == x86.X86_OP_IMM:
        return int(ops[0].imm)
    for op in ops:
        if op.type == x86.X86_OP_MEM and op.mem.base == x86.X86_REG_RIP:
            return int(insn.address + insn.size + op.mem.disp)
    return None


def is_instruction_start(disasm: Disassembler, addr: int) -> bool:
    """Does an instruction of a function begin exactly at `addr`?"""
    fn = disasm.binary.function_for_pc(addr)
    if fn is None:
        return False
    return any(i.address == addr and not isinstance(i, _Bad) for i in disasm._decoded(fn))
