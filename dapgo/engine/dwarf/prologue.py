"""Finding the first instruction after a Go function's stack-growth prologue on amd64.

Go's compiler does not emit DW_LNS_set_prologue_end for amd64 code, so (like Delve) we
disassemble the function's first instructions and recognise the stack check:

    CMPQ SP, 16(R14); JLS morestack                         (small frames, register ABI)
    LEAQ -N(SP), R12; CMPQ R12, 16(R14); JLS morestack      (medium frames)
    MOVQ SP, R12; SUBQ $N, R12; JCS ...; CMPQ R12, 16(R14); JLS (huge frames)
    MOVQ FS:-8, RCX; CMPQ SP, 16(RCX); JLS ...              (pre-regabi / ABI0)

The answer is the address right after the conditional jump; functions without a stack
check (NOSPLIT) have no prologue to skip, so their entry is returned."""

from __future__ import annotations

from typing import Any

from dapgo.engine.instructions import disassembler


def _is_stack_guard_cmp(insn: Any, X: Any) -> bool:
    if insn.id != X.X86_INS_CMP or len(insn.operands) != 2:
        return False
    a, b = insn.operands
    if a.type != X.X86_OP_REG or b.type != X.X86_OP_MEM:
        return False
    if a.reg not in (X.X86_REG_RSP, X.X86_REG_R12):
        return False
    return b.mem.base in (X.X86_REG_R14, X.X86_REG_RCX) and b.mem.disp == 16


def skip_prologue(code: bytes, entry: int, max_insns: int = 8) -> int:
    """Address after the stack-check branch in `code` (the function's first bytes)."""
    # capstone on first use: a warm start finds prologues in the on-disk memo
    from capstone import x86_const as X

    saw_cmp = False
    for n, insn in enumerate(disassembler().disasm(code, entry)):
        if n >= max_insns:
            break
        if saw_cmp:
            if insn.id in (X.X86_INS_JBE, X.X86_INS_JB):
                return int(insn.address + insn.size)
            return entry
        if _is_stack_guard_cmp(insn, X):
            saw_cmp = True
    return entry
