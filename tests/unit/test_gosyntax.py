"""Go (Plan 9) assembler syntax from capstone's decoding: the forms the disassembly view shows
for Go code (real encodings of instructions the Go compiler emits)."""

from __future__ import annotations

import pytest

from dapgo.engine.gosyntax import go_syntax, register
from dapgo.engine.instructions import decode_one


@pytest.mark.parametrize(("code", "text"), [
    ("493b6610", "CMPQ SP, 0x10(R14)"),  # the stack check: compares keep Intel's order
    ("4883ec18", "SUBQ $0x18, SP"),
    ("48896c2410", "MOVQ BP, 0x10(SP)"),
    ("488d6c2410", "LEAQ 0x10(SP), BP"),
    ("48c744242000000000", "MOVQ $0x0, 0x20(SP)"),
    ("c3", "RET"),
    ("cc", "INT $0x3"),
    ("0f1f4000", "NOPL 0(AX)"),
    ("f20f104008", "MOVSD 0x8(AX), X0"),
    ("64488b0c25f8ffffff", "MOVQ FS:0xfffffffffffffff8, CX"),
    ("0fb6c0", "MOVBLZX AL, AX"),
    ("f0480fc10a", "LOCK; XADDQ CX, 0(DX)"),
    ("488b4cd8f8", "MOVQ -0x8(AX)(BX*8), CX"),
    ("31c0", "XORL AX, AX"),
    ("4d8b4618", "MOVQ 0x18(R14), R8"),
])
def test_go_syntax(code: str, text: str) -> None:
    insn = decode_one(bytes.fromhex(code), 0x401000)
    assert go_syntax(insn, lambda _a: None) == text


def test_targets_by_symbol() -> None:
    names = {0x401027: "main.add", 0x500000: "main.hits"}
    call = decode_one(bytes.fromhex("e822000000"), 0x401000)  # call 0x401027
    assert go_syntax(call, names.get) == "CALL main.add(SB)"
    jump = decode_one(bytes.fromhex("7634"), 0x401000)
    assert go_syntax(jump, names.get) == "JBE 0x401036"
    load = decode_one(bytes.fromhex("488b05f9efff00"), 0x401000)  # mov rax, [rip+...]
    assert go_syntax(load, lambda a: names.get(a) or f"sym{a:#x}").startswith("MOVQ sym")


def test_register_names() -> None:
    assert [register(r) for r in ("rax", "r8d", "r15b", "xmm3", "rip", "sil", "fs")] == \
        ["AX", "R8", "R15", "X3", "IP", "SIB", "FS"]
