"""Rendering of every Go kind at the `values` fixture's @stop, on each Go toolchain."""

from __future__ import annotations

import re

import pytest

from dapgo.engine.limits import MAX_PAGE

from .conftest import Stop

EXACT = {
    "b": ("true", "bool"),
    "i8": ("-8", "int8"),
    "i16": ("-1600", "int16"),
    "i32": ("-320000", "int32"),
    "i64": ("-6400000000", "int64"),
    "n": ("42", "int"),
    "u8": ("200", "uint8"),
    "u16": ("60000", "uint16"),
    "u32": ("4000000000", "uint32"),
    "u64": ("18000000000000000000", "uint64"),
    "u": ("7", "uint"),
    "up": ("0x1234", "uintptr"),
    "f32": ("1.5", "float32"),
    "f64": ("3.25", "float64"),
    "c64": ("(1 + -2i)", "complex64"),
    "c128": ("(1.5 + 2.5i)", "complex128"),
    "r": ("120", "int32"),
    "by": ("65", "uint8"),
    "s": ('"hello"', "string"),
    "empty": ('""', "string"),
    "uni": ('"héllo\\n\\"q\\""', "string"),
    "named": ('"nm"', "main.Named"),
    "arr": ("[3]int [1,2,3]", "[3]int"),
    "sl": ("[]int len: 3, cap: 3, [1,2,3]", "[]int"),
    "nilSlice": ("[]int len: 0, cap: 0, nil", "[]int"),
    "bigSlice": ("[]int len: 200, cap: 256, [0,2,4,6,8,10,12,14,...+192 more]", "[]int"),
    "strs": ('[]string len: 2, cap: 2, ["a","b"]', "[]string"),
    "pp": ("*main.Point {X: 1, Y: 2}", "*main.Point"),
    "nilPtr": ("*main.Point nil", "*main.Point"),
    "rect": ("main.Rect {Min: main.Point {X: 1, Y: 2}, Max: main.Point {X: 4, Y: 6}}",
             "main.Rect"),
    "m": ('map[string]int ["a": 1, ]', "map[string]int"),
    "nilMap": ("map[string]int nil", "map[string]int"),
    "intMap": None,  # order is the runtime's: checked below
    "ptMap": ('map[main.Point]string [{X: 1, Y: 2}: "p12", ]', "map[main.Point]string"),
    "err": ('error(*errors.errorString) *{s: "boom"}', "error"),
    "nilErr": ("error nil", "error"),
    "myErr": ("error(*main.MyErr) *{Code: 3}", "error"),
    "anyInt": ("interface {}(int) 5", "interface {}"),
    "anyStr": ('interface {}(string) "str"', "interface {}"),
    "anyPt": ("interface {}(main.Point) {X: 1, Y: 2}", "interface {}"),
    "anyPtr": ("interface {}(*main.Point) *{X: 1, Y: 2}", "interface {}"),
    "anyNil": ("interface {} nil", "interface {}"),
    "shape": ("main.Shape(main.Rect) {Min: main.Point {X: 1, Y: 2}, Max: main.Point "
              "{X: 4, Y: 6}}", "main.Shape"),
    "ch": ("chan int 2/4", "chan int"),
    "nilCh": ("chan string nil", "chan string"),
    "fn": ("main.add", "func(int, int) int"),
    "closure": ("main.main.func1", "func(int) int"),
    "nilFn": ("nil", "func()"),
    "dur": ("time.Duration 1.5s", "time.Duration"),
    "dur2": ("time.Duration 2h3m0s", "time.Duration"),
    "when": ("time.Time 2024-03-15 10:30:45.123456789 +0000 UTC", "time.Time"),
    "zeroTime": ("time.Time 0001-01-01 00:00:00 +0000 UTC", "time.Time"),
}


@pytest.mark.parametrize("name", sorted(k for k, v in EXACT.items() if v))
def test_exact_rendering(stopped: Stop, name: str) -> None:
    v = stopped.var(name)
    assert (v.value, v.type) == EXACT[name]


def test_long_string_is_capped(stopped: Stop) -> None:
    v = stopped.var("long")
    assert v.value == '"' + ("0123456789" * 52)[:512] + '"...+488 more'


def test_int_map_entries(stopped: Stop) -> None:
    v = stopped.var("intMap")
    assert v.type == "map[int]string" and v.named_children == 3
    assert v.value.startswith("map[int]string [") and v.value.endswith(", ]")
    kids = {c.name: c.value for c in stopped.children(v)}
    assert kids == {"[1]": '"one"', "[2]": '"two"', "[3]": '"three"'}


def test_struct_children_and_embedded(stopped: Stop) -> None:
    emb = stopped.var("emb")
    assert emb.value.startswith('main.Embedded {Base: main.Base {ID: 9, Note: "base"}, '
                                "Point: *main.Point {X: 7, Y: 8}, Shape: main.Shape(main.Rect)")
    kids = {c.name: c for c in stopped.children(emb)}
    assert list(kids) == ["Base", "Point", "Shape", "Extra"]
    assert kids["Extra"].value == "true"
    assert {c.name: c.value for c in stopped.children(kids["Base"])} == {
        "ID": "9", "Note": '"base"'}
    assert {c.name: c.value for c in stopped.children(kids["Point"])} == {"X": "7", "Y": "8"}
    shape = {c.name: c.value for c in stopped.children(kids["Shape"])}
    assert shape == {"Min": "main.Point {X: 1, Y: 2}", "Max": "main.Point {X: 4, Y: 6}"}


def test_nested_struct(stopped: Stop) -> None:
    v = stopped.var("nested")
    kids = {c.name: c for c in stopped.children(v)}
    inner = {c.name: c.value for c in stopped.children(kids["Inner"])}
    assert inner == {"Depth": "3", "Leaf": "*main.Point {X: 5, Y: 6}"}
    assert kids["Pts"].value == "[]main.Point len: 2, cap: 2, [{X: 1, Y: 2},{X: 3, Y: 4}]"
    assert kids["Tags"].value == 'map[string][]int ["t": [1,2], ]' or \
        kids["Tags"].value.startswith('map[string][]int ["t": ')


def test_cyclic_pointers_are_safe(stopped: Stop) -> None:
    v = stopped.var("cyc")
    assert v.value.startswith("*main.Node {Val: 1, Next: *main.Node {Val: 2, Next: ")
    node = v
    for depth in range(10):  # follow the cycle through children, lazily
        kids = {c.name: c for c in stopped.children(node)}
        assert kids["Val"].value == ("1" if depth % 2 == 0 else "2")
        node = kids["Next"]


def test_slice_paging(stopped: Stop) -> None:
    v = stopped.var("bigSlice")
    assert v.indexed_children == 200
    page = stopped.children(v, 150, 10)
    assert [(c.name, c.value) for c in page] == [(f"[{i}]", str(2 * i)) for i in range(150, 160)]
    assert len(stopped.children(v)) == 64  # maxArrayValues by default
    assert len(stopped.children(v, 190, 50)) == 10


def test_big_array_in_map_value(stopped: Stop) -> None:
    v = stopped.var("bigVal")  # elements over 128 bytes are stored indirectly
    assert v.value == 'map[int]main.Big [1: {A: [20]int64 [0,0,0,0,0,0,0,0,...+12 more], S: "v"}, ]'


def test_big_map_paging_reads_every_entry(stopped: Stop) -> None:
    v = stopped.var("bigMap")
    # what a request without start/count returns: capped at maxArrayValues, and said so
    assert v.named_children == 64
    assert len(stopped.children(v)) == 64
    assert v.value.endswith("(64 of 10000 shown)"), v.value
    # paging still reaches every entry
    seen: dict[int, int] = {}
    for start in range(0, 10000, 1000):
        page = stopped.children(v, start, 1000)
        assert len(page) == 1000
        for c in page:
            m = re.fullmatch(r"\[(\d+)\]", c.name)
            assert m, c.name
            seen[int(m.group(1))] = int(c.value)
    assert seen == {k: k * k for k in range(10000)}


def test_string_keyed_map_names(stopped: Stop) -> None:
    v = stopped.var("strMap")
    page = stopped.children(v, 0, 100)
    assert {c.name: c.value for c in page} == {f'["k{j}"]': str(j) for j in range(100)}


def test_growing_map(stopped: Stop) -> None:
    """Classic maps: caught mid-growth (oldbuckets set); Swiss: spread over tables."""
    n = int(stopped.var("growingN").value)
    v = stopped.var("growing")
    assert v.named_children == min(n, 64)  # capped at maxArrayValues; paging reads all
    got: dict[int, int] = {}
    for start in range(0, n, MAX_PAGE):  # a page holds at most MAX_PAGE children
        kids = stopped.children(v, start, n)
        assert len(kids) == min(MAX_PAGE, n - start)
        got.update((int(c.name.strip("[]")), int(c.value)) for c in kids)
    assert got == {j: j + 1000 for j in range(n)}


def test_channel_buffer(stopped: Stop) -> None:
    v = stopped.var("ch")
    assert v.indexed_children == 2
    assert [(c.name, c.value) for c in stopped.children(v)] == [("[0]", "10"), ("[1]", "20")]


def test_wrapped_error_children(stopped: Stop) -> None:
    v = stopped.var("wrapped")
    assert v.value.startswith('error(*fmt.wrapError) *{msg: "ctx: boom", err: error(')
    kids = {c.name: c for c in stopped.children(v)}
    assert kids["msg"].value == '"ctx: boom"'
    assert kids["err"].value == 'error(*errors.errorString) *{s: "boom"}'


def test_unsafe_pointer(stopped: Stop) -> None:
    v = stopped.var("uptr")
    assert re.fullmatch(r"unsafe\.Pointer\(0x[0-9a-f]+\)", v.value)


def test_value_limits(fresh: Stop) -> None:
    fresh.debugger.set_value_limits(10, 5)
    assert fresh.var("long").value == '"0123456789"...+990 more'
    assert len(fresh.children(fresh.var("bigSlice"))) == 5
