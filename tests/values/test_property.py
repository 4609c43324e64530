"""Property test: random Go types (structs, slices, arrays, maps, pointers to structs over
basic leaves) and random values of them, declared in a generated program that prints its
value as JSON. dapgo, stopped at that line, must read back the same value through
`variables`, on each supported Go toolchain (so both map layouts are covered)."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
from pathlib import Path
from typing import Any

import attrs
import fixtures
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from syncengine import SyncDebugger as Debugger

from dapgo.engine.model import (
    EngineEvent,
    Exited,
    LaunchConfig,
    Output,
    SourceBreakpointSpec,
    Stopped,
    VariableInfo,
)

GO_VERSIONS = [None, "1.21.13", "1.24.11"]  # None: the project's default toolchain
VERSION_IDS = ["go-default", "go1.21", "go1.24"]
MAX_DEPTH = 3  # composite levels above the leaves

# ----- types -----

INT_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1),
    "int8": (-(1 << 7), (1 << 7) - 1),
    "uint16": (0, (1 << 16) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
}
LEAVES = [*INT_RANGES, "float64", "bool", "string"]


@attrs.frozen
class GoT:
    """A Go type: kind is a leaf's name or slice/array/map/struct/ptr."""

    kind: str
    elem: GoT | None = None  # slice, array, map element; ptr's struct
    length: int = 0  # array
    key: str = ""  # map: "string" or "int"
    fields: tuple[GoT, ...] = ()  # struct
    name: str = ""  # struct: S0, S1, ... in declaration order

    def src(self) -> str:
        """The type as written in the program."""
        if self.elem is None:
            return self.name or self.kind  # a leaf or a struct
        prefix = {"slice": "[]", "array": f"[{self.length}]", "map": f"map[{self.key}]",
                  "ptr": "*"}[self.kind]
        return prefix + self.elem.src()

    def dwarf(self) -> str:
        """The type's name as dapgo reports it (DWARF's: package-qualified)."""
        return re.sub(r"\bS(\d+)\b", r"main.S\1", self.src())


def _struct_shape(elem: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(elem, min_size=1, max_size=3).map(lambda fs: ("struct", tuple(fs)))


def _shapes(depth: int, top: bool = False) -> st.SearchStrategy[Any]:
    """Nested tuples describing a type at most `depth` composite levels deep (a
    composite one at the `top`)."""
    leaf = st.sampled_from(LEAVES)
    if depth == 0:
        return leaf
    inner = _shapes(depth - 1)
    struct = _struct_shape(inner)
    composites = [
        inner.map(lambda e: ("slice", e)),
        st.tuples(st.just("array"), st.integers(0, 4), inner),
        st.tuples(st.just("map"), st.sampled_from(["string", "int"]), inner),
        struct,
        struct.map(lambda s: ("ptr", s)),
    ]
    return st.one_of(composites) if top else st.one_of(leaf, *composites)


def build_type(shape: Any, structs: list[GoT]) -> GoT:
    """The GoT of a shape; struct types are named, and listed (innermost first) in
    `structs`, in the order they are declared."""
    if isinstance(shape, str):
        return GoT(shape)
    kind = shape[0]
    if kind == "slice":
        return GoT("slice", elem=build_type(shape[1], structs))
    if kind == "array":
        return GoT("array", elem=build_type(shape[2], structs), length=shape[1])
    if kind == "map":
        return GoT("map", elem=build_type(shape[2], structs), key=shape[1])
    if kind == "ptr":
        return GoT("ptr", elem=build_type(shape[1], structs))
    fields = tuple(build_type(f, structs) for f in shape[1])
    t = GoT("struct", fields=fields, name=f"S{len(structs)}")
    structs.append(t)
    return t


# ----- values -----

# quotes, backslashes, control characters, DEL, JSON's HTML escapes, multi-byte and
# astral runes: every escape Go's %q and encoding/json make
TEXT = st.text(alphabet='abcXYZ 09_-"\\\n\t\x01\x7f<&é世😀', max_size=8)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # shortest repr: exact in Go and JSON
    st.integers(-(1 << 20), 1 << 20).map(lambda n: n / 64),
    st.sampled_from([1e6, 1e21, 1e-7, 0.1, 123456789.0, 5e-324]),
).map(lambda f: f + 0.0)  # no -0: a Go constant has no negative zero


def values_of(t: GoT) -> st.SearchStrategy[Any]:
    """Values of `t`: ints, floats, bools, strs; lists for slices and arrays (None: a nil
    slice); dicts for maps (None: nil), keyed by str or int; tuples for structs and
    (non-nil) pointers to them."""
    if t.kind in INT_RANGES:
        lo, hi = INT_RANGES[t.kind]
        return st.integers(lo, hi)
    if t.kind == "float64":
        return FLOATS
    if t.kind == "bool":
        return st.booleans()
    if t.kind == "string":
        return TEXT
    if t.kind == "struct":
        return st.tuples(*(values_of(f) for f in t.fields))
    assert t.elem is not None
    elem = values_of(t.elem)
    if t.kind == "ptr":
        return elem
    if t.kind == "array":
        return st.lists(elem, min_size=t.length, max_size=t.length)
    if t.kind == "slice":
        return _sometimes_nil(st.lists(elem, max_size=4))
    keys = TEXT if t.key == "string" else st.integers(*INT_RANGES["int"])
    return _sometimes_nil(st.dictionaries(keys, elem, max_size=3))


def _sometimes_nil(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`s`, or None (nil) one time in five (shrinking towards nil)."""
    return st.tuples(st.integers(0, 4), s).map(lambda p: p[1] if p[0] else None)


@st.composite
def cases(draw: st.DrawFn) -> tuple[GoT, list[GoT], Any]:
    structs: list[GoT] = []
    t = build_type(draw(_shapes(MAX_DEPTH, top=True)), structs)
    return t, structs, draw(values_of(t))


def as_json(t: GoT, x: Any) -> Any:
    """What encoding/json prints for value `x` of `t`, as json.loads reads it back."""
    if x is None or t.kind in LEAVES:
        return x
    if t.kind == "struct":
        return {f"F{i}": as_json(ft, fx) for i, (ft, fx) in enumerate(zip(t.fields, x,
                                                                           strict=True))}
    assert t.elem is not None
    if t.kind == "ptr":
        return as_json(t.elem, x)
    if t.kind == "map":
        return {str(k): as_json(t.elem, e) for k, e in x.items()}
    return [as_json(t.elem, e) for e in x]


def json_floats(t: GoT, j: Any) -> Any:
    """JSON value `j` of `t` with its float64s as Python floats: encoding/json prints
    4.163650690077507e+16 as 41636506900775070, which json.loads reads as an int that is
    not exactly the float."""
    if j is None or t.kind in LEAVES:
        return float(j) if t.kind == "float64" else j
    if t.kind in ("struct", "ptr"):
        st_t = t if t.kind == "struct" else t.elem
        assert st_t is not None and isinstance(j, dict)
        return {k: json_floats(st_t.fields[int(k[1:])], e) for k, e in j.items()}
    assert t.elem is not None
    if t.kind == "map":
        return {k: json_floats(t.elem, e) for k, e in j.items()}
    return [json_floats(t.elem, e) for e in j]


# ----- the program -----


def go_string(s: str) -> str:
    """A Go interpreted string literal for `s` (written independently of dapgo's)."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def literal(t: GoT, x: Any) -> str:
    """A Go expression of type `t` with value `x`."""
    if t.kind == "bool":
        return "true" if x else "false"
    if t.kind == "float64":
        return repr(x)
    if t.kind == "string":
        return go_string(x)
    if t.kind in INT_RANGES:
        return str(x)
    if t.kind == "struct":
        return t.name + "{" + ", ".join(
            f"F{i}: {literal(ft, fx)}" for i, (ft, fx) in enumerate(zip(t.fields, x,
                                                                         strict=True))) + "}"
    assert t.elem is not None
    if t.kind == "ptr":
        return "&" + literal(t.elem, x)
    if x is None:
        return f"{t.src()}(nil)"
    if t.kind == "map":
        keys = [go_string(k) if t.key == "string" else str(k) for k in x]
        return t.src() + "{" + ", ".join(f"{k}: {literal(t.elem, e)}"
                                         for k, e in zip(keys, x.values(), strict=True)) + "}"
    return t.src() + "{" + ", ".join(literal(t.elem, e) for e in x) + "}"


PROGRAM = """package main

import (
\t"encoding/json"
\t"fmt"
)

%(decls)s
func main() {
\tvar v %(type)s = %(value)s
\tout, err := json.Marshal(v)
\tif err != nil {
\t\tpanic(err)
\t}
\tfmt.Println(string(out)) // @show
}
"""


def write_program(t: GoT, structs: list[GoT], x: Any, where: Path,
                  go: str | None) -> tuple[Path, int]:
    decls = "".join(
        f"type {s.name} struct {{\n"
        + "".join(f"\tF{i} {f.src()}\n" for i, f in enumerate(s.fields)) + "}\n\n"
        for s in structs)
    src = PROGRAM % {"decls": decls, "type": t.src(), "value": literal(t, x)}
    where.mkdir(parents=True, exist_ok=True)
    (where / "go.mod").write_text("module example.com/prop\n\ngo 1.21\n")
    (where / "main.go").write_text(src)
    note(src)
    line = next(i for i, s in enumerate(src.splitlines(), 1) if "@show" in s)
    binary = where / "prop"
    subprocess.run([fixtures.go_binary(go), "build", *fixtures.DEBUG_FLAGS, "-o", str(binary),
                    "."], cwd=where, check=True, capture_output=True,
                   env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"})
    return binary, line


# ----- reading the value back through dapgo -----

_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                   "v": "\v", "\\": "\\", "'": "'", '"': '"'}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|"
                     r"[abfnrtv\\'\"])")


def go_unquote(text: str) -> str:
    """The string a Go double-quoted literal (as %q prints it) denotes."""
    assert len(text) >= 2 and text[0] == text[-1] == '"', text
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] != "\\":
            assert body[i] not in '"\n', f"unescaped {body[i]!r} in {text!r}"
            out += body[i].encode()
            i += 1
            continue
        m = _ESCAPE.match(body, i)
        assert m, f"bad escape at {i} in {text!r}"
        e = m.group(1)
        if e[0] == "x":
            out.append(int(e[1:], 16))
        elif e[0] in "uU":
            out += chr(int(e[1:], 16)).encode()
        elif e[0].isdigit():
            out.append(int(e, 8))
        else:
            out += _SIMPLE_ESCAPES[e].encode()
        i = m.end()
    return out.decode("utf-8")


_GO_INT = re.compile(r"-?(0|[1-9]\d*)")
_GO_FLOAT = re.compile(r"-?(0|[1-9]\d*)(\.\d*[1-9])?(e[+-]\d\d+)?")


def leaf(kind: str, text: str) -> Any:
    """The Python value of a basic Go value's text as dapgo shows it."""
    if kind in INT_RANGES:
        assert _GO_INT.fullmatch(text), text
        return int(text)
    if kind == "float64":
        assert _GO_FLOAT.fullmatch(text), text
        return float(text)
    if kind == "bool":
        assert text in ("true", "false"), text
        return text == "true"
    return go_unquote(text)


def read_all(d: Debugger, v: VariableInfo) -> list[VariableInfo]:
    if v.handle is None:
        return []
    n = (v.named_children or 0) + (v.indexed_children or 0)
    return d.variables(v.handle, 0, max(n, 1))


def read_value(d: Debugger, v: VariableInfo, t: GoT) -> Any:
    """The JSON-shaped Python value of `v` (of type `t`), from dapgo's children and leaf
    texts alone; checks the type names and children's names on the way."""
    assert v.type == t.dwarf(), (v.name, v.type, t.dwarf())
    if t.kind in LEAVES:
        assert v.handle is None, v
        return leaf(t.kind, v.value)
    kids = read_all(d, v)
    names = [k.name for k in kids]
    if t.kind in ("struct", "ptr"):
        st_t = t if t.kind == "struct" else t.elem
        assert st_t is not None
        assert names == [f"F{i}" for i in range(len(st_t.fields))], (v.name, names)
        return {k.name: read_value(d, k, ft) for k, ft in zip(kids, st_t.fields, strict=True)}
    assert t.elem is not None
    if v.value.endswith(" nil"):  # a nil slice or map
        assert v.handle is None and v.value in (f"{t.dwarf()} nil",
                                                f"{t.dwarf()} len: 0, cap: 0, nil"), v
        return None
    if t.kind == "map":
        out = {}
        for k in kids:
            m = re.fullmatch(r"\[(.*)\]", k.name, re.S)
            assert m, k.name
            key = go_unquote(m.group(1)) if t.key == "string" else str(leaf("int", m.group(1)))
            assert key not in out, f"key {k.name} twice"
            out[key] = read_value(d, k, t.elem)
        return out
    assert names == [f"[{i}]" for i in range(len(kids))], (v.name, names)
    if t.kind == "slice":
        n = len(kids)
        assert v.value.startswith(f"{t.dwarf()} len: {n}, cap: {n}, "), v.value
    else:
        assert len(kids) == t.length, (v.name, len(kids))
    return [read_value(d, k, t.elem) for k in kids]


@pytest.mark.parametrize("go", GO_VERSIONS, ids=VERSION_IDS)
# Each example builds a program and debugs it (~0.3 s), and is small already: no shrinking
# (it would take minutes); a failure reports its program's source.
@settings(max_examples=10, deadline=None, report_multiple_bugs=False,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=cases())
def test_values_roundtrip(go: str | None, case: tuple[GoT, list[GoT], Any],
                          tmp_path_factory: pytest.TempPathFactory) -> None:
    t, structs, x = case
    where = tmp_path_factory.mktemp("prop")
    binary, line = write_program(t, structs, x, where, go)
    events: queue.Queue[EngineEvent] = queue.Queue()
    d = Debugger(events.put)
    try:
        d.launch(LaunchConfig(program=str(binary), mode="exec"), stop_on_entry=False)
        status = d.set_breakpoints(str(where / "main.go"), [SourceBreakpointSpec(line=line)])
        assert status[0].verified, status
        d.configuration_done()
        while True:
            ev = events.get(timeout=30)
            if isinstance(ev, Stopped):
                break
            assert not isinstance(ev, Exited)
        seen: dict[str, VariableInfo] = {}
        for scope in d.scopes(ev.thread_id, 0):
            for var in d.variables(scope.handle):
                seen[var.name] = var
        got = read_value(d, seen["v"], t)
        d.resume()
        out = ""
        while True:
            ev = events.get(timeout=30)
            if isinstance(ev, Output) and ev.category == "stdout":
                out += ev.text
            if isinstance(ev, Exited):
                break
        printed = json_floats(t, json.loads(out.strip().splitlines()[-1]))
    finally:
        d.disconnect(True)

    assert printed == as_json(t, x)  # the program itself is what the test meant
    assert got == printed
