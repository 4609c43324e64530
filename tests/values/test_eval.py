"""Expression evaluation through the facade (`Debugger.evaluate`) at @stop."""

from __future__ import annotations

import pytest

from dapgo.engine.errors import DebuggerError
from dapgo.engine.eval.syntax import EvalError, parse

from .conftest import Stop

CASES = [
    # identifiers, globals, literals
    ("n", "42", "int"),
    ("main.hits", "7", "int"),
    ("hits", "7", "int"),
    ("greeting", '"hello, world"', "string"),
    ("07", "7", "int"),
    ("0x1F", "31", "int"),
    ("0b101", "5", "int"),
    ("1_000", "1000", "int"),
    ("1.5e3", "1500", "float64"),
    ("'a'", "97", "int32"),
    ("`raw`", '"raw"', "string"),
    ("true", "true", "bool"),
    # arithmetic with Go semantics
    ("n+1", "43", "int"),
    ("n/5", "8", "int"),
    ("-7/2", "-3", "int"),
    ("-7%2", "-1", "int"),
    ("i32 % 7", "-2", "int32"),
    ("i8*100", "-32", "int8"),
    ("u8+100", "44", "uint8"),
    ("uint8(255)+1", "0", "uint8"),
    ("int8(200+n)", "-14", "int8"),
    ("^u8", "55", "uint8"),
    ("1<<10", "1024", "int"),
    ("n >> 1", "21", "int"),
    ("n &^ 2", "40", "int"),
    ("u64 + 1", "18000000000000000001", "uint64"),
    ("float64(n)/8", "5.25", "float64"),
    ("f64 * 2", "6.5", "float64"),
    ("c128 * 2", "(3 + 5i)", "complex128"),
    ("7.0/2", "3.5", "float64"),
    ('s + "!"', '"hello!"', "string"),
    # comparison and boolean operators
    ('n == 42 && s == "hello"', "true", "bool"),
    ("n < 10 || b", "true", "bool"),
    ("!b", "false", "bool"),
    ("by == 'A'", "true", "bool"),
    ('s < "world"', "true", "bool"),
    ("nilPtr == nil", "true", "bool"),
    ("pp != nil", "true", "bool"),
    ("err != nil", "true", "bool"),
    ("nilErr == nil", "true", "bool"),
    # fields, pointers, indexing, slicing
    ("pp.X", "1", "int"),
    ("(*pp).Y", "2", "int"),
    ("*pp", "main.Point {X: 1, Y: 2}", "main.Point"),
    ("&n", "*42", "*int"),
    ("*&n", "42", "int"),
    ("emb.ID", "9", "int"),
    ("emb.X", "7", "int"),
    ("emb.Base.Note", '"base"', "string"),
    ("nested.Inner.Leaf.Y", "6", "int"),
    ("nested.Pts[1].X", "3", "int"),
    ('nested.Tags["t"][1]', "2", "int"),
    ("rect.Max.Y - rect.Min.Y", "4", "int"),
    ("cyc.Next.Next.Next.Val", "2", "int"),
    ("sl[1]", "2", "int"),
    ("arr[2]", "3", "int"),
    ("big.A[19]", "19", "int64"),
    ("s[1]", "101", "uint8"),
    ("sl[1:]", "[]int len: 2, cap: 2, [2,3]", "[]int"),
    ("sl[:2:2]", "[]int len: 2, cap: 2, [1,2]", "[]int"),
    ("arr[1:]", "[]int len: 2, cap: 2, [2,3]", "[]int"),
    ("greeting[7:]", '"world"', "string"),
    ("len(sl)", "3", "int"),
    ("cap(bigSlice)", "256", "int"),
    ("len(s)", "5", "int"),
    ("len(m)", "1", "int"),
    ("len(bigMap)", "10000", "int"),
    ("len(ch)", "2", "int"),
    ("cap(ch)", "4", "int"),
    ("len(arr)", "3", "int"),
    # maps with constant keys
    ('m["a"]', "1", "int"),
    ("intMap[2]", '"two"', "string"),
    ("bigMap[9999]", "99980001", "int"),
    ('strMap["k7"]', "7", "int"),
    # interfaces and type assertions
    ("err.(*errors.errorString)", '*errors.errorString {s: "boom"}', "*errors.errorString"),
    ("err.(*errors.errorString).s", '"boom"', "string"),
    ("myErr.(*main.MyErr).Code", "3", "int"),
    ("anyInt.(int)", "5", "int"),
    ("anyInt.(int) + 1", "6", "int"),
    ("shape.(main.Rect).Max", "main.Point {X: 4, Y: 6}", "main.Point"),
    ("anyPt.(main.Point).X", "1", "int"),
    ("wrapped.(*fmt.wrapError).err.(*errors.errorString).s", '"boom"', "string"),
    # conversions
    ("main.Named(s)", '"hello"', "main.Named"),
    ("float32(f64)", "3.25", "float32"),
    ("int(f64)", "3", "int"),
    ("uint16(i8)", "65528", "uint16"),
    ("time.Duration(n)", "time.Duration 42ns", "time.Duration"),
    ("dur", "time.Duration 1.5s", "time.Duration"),
]


@pytest.mark.parametrize(("expr", "value", "type_"), CASES, ids=[c[0] for c in CASES])
def test_evaluate(stopped_default: Stop, expr: str, value: str, type_: str) -> None:
    r = stopped_default.eval(expr)
    assert (r.value, r.type) == (value, type_)


ACROSS = ["n/5", "pp.X", 'm["a"]', "bigMap[9999]", "err.(*errors.errorString).s",
          "emb.X", "len(growing) == growingN", "s[1:3]", "anyInt.(int)"]


@pytest.mark.parametrize("expr", ACROSS)
def test_evaluate_across_versions(stopped: Stop, expr: str) -> None:
    expected = {"n/5": "8", "pp.X": "1", 'm["a"]': "1", "bigMap[9999]": "99980001",
                "err.(*errors.errorString).s": '"boom"', "emb.X": "7",
                "len(growing) == growingN": "true", "s[1:3]": '"el"', "anyInt.(int)": "5"}
    assert stopped.eval(expr).value == expected[expr]


def test_evaluate_children(stopped_default: Stop) -> None:
    r = stopped_default.eval("nested.Pts")
    assert r.indexed_children == 2
    kids = stopped_default.children(r)
    assert [k.value for k in kids] == ["main.Point {X: 1, Y: 2}", "main.Point {X: 3, Y: 4}"]


def test_global_without_thread(stopped_default: Stop) -> None:
    r = stopped_default.debugger.evaluate("main.hits * 2", None, 0, "watch")
    assert (r.value, r.type) == ("14", "int")


def test_package_path_with_slashes(stopped_default: Stop) -> None:
    r = stopped_default.eval("io/fs.ErrNotExist")
    assert r.value.startswith("error(*errors.errorString) *{s: \"file does not exist\"}")
    r = stopped_default.eval("io/fs.ErrNotExist.(*errors.errorString).s")
    assert r.value == '"file does not exist"'
    assert stopped_default.eval("internal/poll.ErrFileClosing != nil").value == "true"
    with pytest.raises(DebuggerError, match="could not find symbol"):
        stopped_default.eval("no/such/pkg.Var")


ERRORS = [
    ("1 +", "expected operand"),
    ("(n", "expected ')'"),
    ("n)", "expected end of expression"),
    ("sl[", "expected operand"),
    ('"abc', "not terminated"),
    ("n $ 2", "invalid character"),
    ("", "empty expression"),
    ("foo", "could not find symbol value for foo"),
    ("sl[5]", "index out of range [5] with length 3"),
    ("sl[1:9]", "slice bounds out of range"),
    ("n / 0", "integer divide by zero"),
    ("n > 3.5", "truncated to integer"),
    ("u8 + 300", "overflows"),
    ("n + i8", "mismatched types int and int8"),
    ("s + 1", "cannot use 1"),
    ("nilPtr.X", "nil pointer dereference"),
    ("*n", "invalid indirect"),
    ("pt.Z", "has no field or method Z"),
    ("err.(*main.MyErr)", "interface conversion: error is *errors.errorString, not *main.MyErr"),
    ("nilErr.(*main.MyErr)", "interface is nil"),
    ("n.(int)", "non-interface"),
    ('m["zz"]', "not found in map"),
    ("nosuch(1, 2)", "could not find function main.nosuch"),
    ("!n", "operator ! not defined"),
    ("sl == sl", "can only be compared to nil"),
    ("len(n)", "invalid argument"),
    ("&(n + 1)", "cannot take the address"),
]


@pytest.mark.parametrize(("expr", "message"), ERRORS, ids=[e[0] or "<empty>" for e in ERRORS])
def test_invalid(stopped_default: Stop, expr: str, message: str) -> None:
    with pytest.raises(DebuggerError) as exc:
        stopped_default.eval(expr)
    assert message in str(exc.value)


def test_parser_alone() -> None:
    tree = parse("a.b[1:2].(*main.T).c + -x * 3 == 4 && !ok")
    assert type(tree).__name__ == "Binary"
    with pytest.raises(EvalError, match="3-index slice"):
        parse("a[1::2]")
