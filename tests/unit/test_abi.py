"""The register ABI layout (dapgo.engine.abi) against Go's abi-internal.md and amd64."""

from __future__ import annotations

from dapgo.engine.abi import FLOAT_REGS, INT_REGS, Part, Placement, assign
from dapgo.engine.calls import call_policy
from dapgo.engine.dwarf.model import GoType, StructMember

TYPES: dict[int, GoType] = {}


def t(name: str, kind: str, size: int, ref: int, **kw: object) -> GoType:
    g = GoType(name=name, kind=kind, size=size, offset=ref, **kw)  # type: ignore[arg-type]
    TYPES[ref] = g
    return g


U8 = t("uint8", "uint", 1, 1)
UPTR = t("uintptr", "uintptr", 8, 2)
ARR2 = t("[2]uintptr", "array", 16, 3, elem=2, length=2)
R1 = t("struct { x uintptr; y [2]uintptr }", "struct", 24, 4,
       fields=[StructMember("x", 0, 2, False), StructMember("y", 8, 3, False)])
STR = t("string", "string", 16, 5)
F64 = t("float64", "float", 8, 6)
F32 = t("float32", "float", 4, 7)
C128 = t("complex128", "complex", 16, 8)
INT = t("int", "int", 8, 9)
SLICE = t("[]int", "slice", 24, 10, elem=9)
IFACE = t("error", "interface", 16, 11)
ARR1 = t("[1]float64", "array", 8, 12, elem=6, length=1)
POINT = t("main.Point", "struct", 16, 13,
          fields=[StructMember("X", 0, 9, False), StructMember("Y", 8, 9, False)])
MIXED = t("main.M", "struct", 16, 14,
          fields=[StructMember("A", 0, 1, False), StructMember("F", 4, 7, False),
                  StructMember("B", 8, 6, False)])


def test_the_example_of_abi_internal() -> None:
    """func f(a1 uint8, a2 [2]uintptr, a3 uint8) (r1 struct{x uintptr; y [2]uintptr},
    r2 string): a2 and r1 hold arrays, so go on the stack; a1, a3 and r2 in registers."""
    lay = assign([U8, ARR2, U8], [R1, STR], TYPES.__getitem__)
    assert lay.args == (Placement(parts=(Part(0, 1, "rax"),)), Placement(stack=0),
                        Placement(parts=(Part(0, 1, "rbx"),)))
    assert lay.results == (Placement(stack=16),
                           Placement(parts=(Part(0, 8, "rax"), Part(8, 8, "rbx"))))
    # a2 [0,16), r1 [16,40), spill a1 at 40 and a3 at 41, padded to 48
    assert lay.size == 48


def test_floats_complex_and_structs_split_over_both_register_files() -> None:
    lay = assign([F64, C128, MIXED, ARR1, F32], [F64, INT], TYPES.__getitem__)
    assert lay.args[0].parts == (Part(0, 8, "x0"),)
    assert lay.args[1].parts == (Part(0, 8, "x1"), Part(8, 8, "x2"))
    assert lay.args[2].parts == (Part(0, 1, "rax"), Part(4, 4, "x3"), Part(8, 8, "x4"))
    assert lay.args[3].parts == (Part(0, 8, "x5"),)  # an array of one element
    assert lay.args[4].parts == (Part(0, 4, "x6"),)
    assert lay.results == (Placement(parts=(Part(0, 8, "x0"),)),
                           Placement(parts=(Part(0, 8, "rax"),)))


def test_strings_slices_interfaces_take_consecutive_int_registers() -> None:
    lay = assign([STR, SLICE, IFACE], [POINT], TYPES.__getitem__)
    assert [p.reg for a in lay.args for p in a.parts] == list(INT_REGS[:7])
    assert [p.offset for p in lay.args[1].parts] == [0, 8, 16]
    assert lay.results[0].parts == (Part(0, 8, "rax"), Part(8, 8, "rbx"))
    assert lay.size == 16 + 24 + 16  # spill space only


def test_what_does_not_fit_goes_whole_to_the_stack_and_later_values_still_use_registers(
        ) -> None:
    ints = [INT] * 8
    lay = assign([*ints, SLICE, INT], [], TYPES.__getitem__)
    assert [a.parts[0].reg for a in lay.args[:8]] == list(INT_REGS[:8])
    assert lay.args[8] == Placement(stack=0)  # needs 3 registers, 1 left: all on the stack
    assert lay.args[9].parts == (Part(0, 8, INT_REGS[8]),)
    assert lay.size == 24 + 9 * 8
    floats = assign([F64] * 16, [], TYPES.__getitem__)
    assert [a.parts[0].reg for a in floats.args[:15]] == list(FLOAT_REGS)
    assert floats.args[15] == Placement(stack=0)


def test_zero_sized_values_and_empty_calls() -> None:
    empty = t("struct {}", "struct", 0, 15)
    lay = assign([empty, INT], [], TYPES.__getitem__)
    assert lay.args[0] == Placement(stack=0)
    assert lay.args[1].parts == (Part(0, 8, "rax"),)
    assert assign([], [], TYPES.__getitem__).size == 0


def test_which_contexts_may_call() -> None:
    assert call_policy("f(1)", "repl")[:2] == ("f(1)", True)
    assert call_policy("f(1)", "watch")[:2] == ("f(1)", True)
    _expr, may, why = call_policy("f(1)", "hover")
    assert not may and "hover" in why
    assert call_policy("  call f(1)", "hover")[:2] == ("f(1)", True)  # Delve's console form
    assert not call_policy("f(1)", "clipboard")[1]
    assert call_policy("call", "repl")[0] == "call"  # a variable named call
