"""x86-64 instructions written the way Go's assembler and Delve write them (Plan 9 syntax),
from capstone's decoding (dapgo.engine.instructions).

`MOVQ 0x20(SP), AX` for capstone's `mov rax, qword ptr [rsp + 0x20]`: operands source first
(but compares, as Go: `CMPQ SP, 0x10(R14)`), registers by Go's names, the operand size as a
mnemonic suffix, immediates with `$`, memory as `disp(BASE)(INDEX*scale)`, call and jump
targets by symbol (`CALL main.add(SB)`); conditional jumps by their Intel names (`JBE`), as
Delve's disassembly shows them.
Instructions this does not know a Go name for keep capstone's mnemonic, upper-cased.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_SIZE = {1: "B", 2: "W", 4: "L", 8: "Q"}
_PREFIXES = {"lock": "LOCK", "rep": "REP", "repe": "REP", "repz": "REP", "repne": "REPN",
             "repnz": "REPN", "notrack": "", "bnd": ""}
# no operand-size suffix in Go's spelling
_PLAIN = {"call", "jmp", "ret", "leave", "cdq", "cqo", "cwd", "cdqe", "syscall", "hlt",
          "ud2", "pause", "cpuid", "rdtsc", "mfence", "lfence", "sfence", "endbr64",
          "prefetcht0", "prefetchnta"}
# compared, not assigned: Go keeps Intel's operand order (CMPQ SP, 0x10(R14))
_INTEL_ORDER = {"cmp", "ucomisd", "ucomiss", "comisd", "comiss"}
_GENERAL_REG = re.compile(r"^r(\d+)[dwb]?$")
_LEGACY = {
    "rax": "AX", "eax": "AX", "ax": "AX", "al": "AL", "ah": "AH",
    "rbx": "BX", "ebx": "BX", "bx": "BX", "bl": "BL", "bh": "BH",
    "rcx": "CX", "ecx": "CX", "cx": "CX", "cl": "CL", "ch": "CH",
    "rdx": "DX", "edx": "DX", "dx": "DX", "dl": "DL", "dh": "DH",
    "rsi": "SI", "esi": "SI", "si": "SI", "sil": "SIB",
    "rdi": "DI", "edi": "DI", "di": "DI", "dil": "DIB",
    "rsp": "SP", "esp": "SP", "sp": "SP", "spl": "SPB",
    "rbp": "BP", "ebp": "BP", "bp": "BP", "bpl": "BPB",
    "rip": "IP", "eip": "IP",
}

Symbolizer = Callable[[int], "str | None"]  # address -> "main.add" / "main.add+0x10"


def register(name: str) -> str:
    """Go's name of a register: rax -> AX, r8d -> R8, xmm3 -> X3, fs -> FS."""
    if name in _LEGACY:
        return _LEGACY[name]
    m = _GENERAL_REG.match(name)
    if m:
        return f"R{m.group(1)}"
    for prefix, go in (("xmm", "X"), ("ymm", "Y"), ("zmm", "Z")):
        if name.startswith(prefix):
            return go + name[len(prefix):]
    return name.upper()


def _hex(v: int) -> str:
    return f"-{-v:#x}" if v < 0 else f"{v:#x}"


def _is_vector(insn: Any) -> bool:
    import capstone.x86 as x86

    return any(op.type == x86.X86_OP_REG and insn.reg_name(op.reg)[:3] in ("xmm", "ymm", "zmm")
               for op in insn.operands)


def _mnemonic(insn: Any) -> str:
    """Go's mnemonic (prefixes such as LOCK come first, separated by '; ')."""
    words = insn.mnemonic.split()
    prefixes = [_PREFIXES.get(w, w.upper()) for w in words[:-1]]
    m = words[-1]
    ops = insn.operands
    if m == "int3":
        name = "INT $0x3"
    elif m in _PLAIN:
        name = {"call": "CALL", "jmp": "JMP", "ret": "RET"}.get(m, m.upper())
    elif m.startswith(("j", "set", "cmov")):  # JBE, SETEQ as Delve shows them: JBE, SETE
        name = m.upper()
    elif m in ("movzx", "movsx", "movsxd") and len(ops) == 2:
        ext = "ZX" if m == "movzx" else "SX"
        name = f"MOV{_SIZE.get(ops[1].size, '')}{_SIZE.get(ops[0].size, '')}{ext}"
    elif _is_vector(insn) or not ops:
        name = m.upper()
    else:
        name = m.upper() + _SIZE.get(ops[0].size, "")
    return "; ".join([p for p in prefixes if p] + [name])


def _operand(insn: Any, op: Any, symbolize: Symbolizer, branch: bool) -> str:
    import capstone.x86 as x86

    if op.type == x86.X86_OP_REG:
        return register(insn.reg_name(op.reg))
    if op.type == x86.X86_OP_IMM:
        if branch:  # a call or jump target: by name only at a symbol's start (as Go)
            name = symbolize(op.imm)
            return f"{name}(SB)" if name and "+" not in name else _hex(op.imm)
        return "$" + _hex(op.imm)
    mem = op.mem
    seg = insn.reg_name(mem.segment) if mem.segment else ""
    base = insn.reg_name(mem.base) if mem.base else ""
    index = insn.reg_name(mem.index) if mem.index else ""
    if base == "rip":
        target = insn.address + insn.size + mem.disp
        name = symbolize(target)
        return f"{name}(SB)" if name else f"{_hex(mem.disp)}(IP)"
    out = f"{seg.upper()}:" if seg else ""
    if not base and not index:
        return out + f"{mem.disp & (1 << 64) - 1:#x}"
    out += _hex(mem.disp) if mem.disp else "0"
    if base:
        out += f"({register(base)})"
    if index:
        out += f"({register(index)}*{mem.scale})"
    return out


def go_syntax(insn: Any, symbolize: Symbolizer) -> str:
    """One decoded instruction (capstone, with details) in Go's assembler syntax."""
    mnemonic = _mnemonic(insn)
    if insn.mnemonic == "int3":
        return mnemonic
    branch = insn.mnemonic.split()[-1] in ("call", "jmp") or insn.mnemonic.startswith("j")
    ops = [_operand(insn, op, symbolize, branch) for op in insn.operands]
    if insn.mnemonic.split()[-1] not in _INTEL_ORDER:
        ops.reverse()  # Go: sources first, the destination last
    return f"{mnemonic} {', '.join(ops)}" if ops else mnemonic
