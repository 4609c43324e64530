"""x86-64 instruction decoding (capstone), set up once for the whole engine.

Used by the DWARF layer (a function's stack-check prologue), the BPF layer (`dapgo trace`'s
RET sites) and the engine core (whether a probed instruction transfers control). capstone is
imported on first use: the DAP server starts without it.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def disassembler() -> Any:
    """The one capstone x86-64 decoder, with instruction details (operands, groups)."""
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    return md


def decode_one(code: bytes, addr: int) -> Any:
    """The instruction at the start of `code` (at address `addr`), or None."""
    return next(iter(disassembler().disasm(code, addr, 1)), None)


def transfers_control(insn: Any) -> bool:
    """A call, jump or return: control goes elsewhere than the next instruction."""
    import capstone

    return any(insn.group(g) for g in (capstone.CS_GRP_CALL, capstone.CS_GRP_JUMP,
                                       capstone.CS_GRP_RET))


def ret_sites(code: bytes, addr: int) -> list[int]:
    """Addresses of the one-byte RET instructions in `code` (which starts at `addr`)."""
    return [a for a, size, mnem, _ops in disassembler().disasm_lite(code, addr)
            if mnem == "ret" and size == 1]


# The stack check a Go function starts with (amd64): optionally `LEA R12, [RSP-N]` (large
# frames), `CMP RSP|R12, [R14+16]` (g.stackguard0), `JBE|JB morestack`.
_STACK_CHECK = frozenset({"lea", "cmp", "jbe", "jb"})


def frame_push_site(code: bytes, addr: int) -> int | None:
    """The address of the `PUSH RBP` a Go function's frame setup starts with: the first
    instruction, or the one right after the stack check. A uprobe there is emulated by the
    kernel (no single step out of line), and, as at the entry, every argument is still where
    the register ABI put it and nothing is pushed yet. None when the function starts
    otherwise (frameless leaves, assembly)."""
    for a, _size, mnem, ops in disassembler().disasm_lite(code[:48], addr):
        if mnem == "push":
            return a if ops == "rbp" else None
        if mnem not in _STACK_CHECK:
            return None
    return None
