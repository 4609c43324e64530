"""Values as Go means them, on the `semantics` fixture, on each Go toolchain: dynamic types
from packages whose path is not their name, a variable in scope from the line after its
declaration, escaped variables, unreadable memory built with unsafe, a map larger than
the loading limit, constants, generics, complex numbers, whole strings in the REPL, and
Delve's scope layout. The program runs once per toolchain through every marker; each stop
is recorded (every local walked to depth 5, and the expressions below evaluated)."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import attrs
import fixtures
import pytest
from syncengine import SyncDebugger as Debugger

from dapgo.engine.errors import DebuggerError
from dapgo.engine.model import (
    EngineEvent,
    Exited,
    LaunchConfig,
    SourceBreakpointSpec,
    Stopped,
    VariableInfo,
)

from .conftest import GO_VERSIONS, VERSION_IDS

WALK_DEPTH = 5

EXPRESSIONS = {
    "interfaces": ["fsErr.(*fs.PathError).Op", "len(consts.([]constant.Value))"],
    "declline": ["amb1"],
    "escaped": ["a", "*p", "p == &a"],
    "unreadable": ["len(nilData)", "cap(nilData)", "okValue"],
    "bigmap": ["len(big)", "big[65]"],
    "constants": ["constTwo", "bitOne", "main.constTwo", "k == constTwo", "plainConst"],
    "generic": ["xs", "scale", "total", ".dict"],
    "complex": ["real(c)", "imag(c)", "complex(re, 2)", "real(c64)", "imag(c64)",
                "complex(1, 2)", "real(3)"],
    "longstring": ["long"],
}
MARKERS = ["interfaces", "declline", "escaped", "unreadable", "bigmap", "constants",
           "generic", "method", "complex", "longstring"]


@attrs.define
class Node:
    """One variable as the Variables view shows it, with its children (walked)."""

    info: VariableInfo
    children: dict[str, Node] = attrs.field(factory=dict)
    shown: list[str] = attrs.field(factory=list)  # children's names, in order

    @property
    def value(self) -> str:
        return self.info.value

    @property
    def type(self) -> str:
        return self.info.type

    def __getitem__(self, name: str) -> Node:
        return self.children[name]


@attrs.define
class StopRecord:
    scopes: list[tuple[str, bool]]  # (name, expensive)
    locals: list[str]  # names in the Locals scope, in order
    vars: dict[str, Node]
    evals: dict[str, VariableInfo | str]  # result, or the error text
    errors: list[str]  # any failure while walking


def _walk(d: Debugger, info: VariableInfo, depth: int, path: str, errors: list[str]) -> Node:
    node = Node(info)
    if depth == 0 or info.handle is None:
        return node
    try:
        kids = d.variables(info.handle)
    except Exception as exc:  # any failure is what the walk looks for
        errors.append(f"{path}: {exc!r}")
        return node
    promised = (info.named_children or 0) + (info.indexed_children or 0)
    if len(kids) != promised:
        errors.append(f"{path}: {len(kids)} children, {promised} promised")
    for k in kids:
        node.shown.append(k.name)
        node.children[k.name] = _walk(d, k, depth - 1, f"{path}.{k.name}", errors)
    return node


def _record(d: Debugger, thread_id: int, marker: str) -> StopRecord:
    errors: list[str] = []
    scopes = d.scopes(thread_id, 0)
    locals_scope = scopes[0]
    infos = d.variables(locals_scope.handle)
    nodes = {v.name: _walk(d, v, WALK_DEPTH, v.name, errors) for v in infos}
    evals: dict[str, VariableInfo | str] = {}
    for expr in EXPRESSIONS.get(marker, []):
        try:
            evals[expr] = d.evaluate(expr, thread_id, 0, "repl")
        except DebuggerError as exc:
            evals[expr] = str(exc)
    return StopRecord([(s.name, s.expensive) for s in scopes], [v.name for v in infos], nodes,
                      evals, errors)


@pytest.fixture(scope="module", params=GO_VERSIONS, ids=VERSION_IDS)
def run(request: pytest.FixtureRequest) -> Iterator[dict[str, StopRecord]]:
    """The fixture run through every marker once, each stop recorded."""
    binary = fixtures.build("semantics", go=request.param)
    events: queue.Queue[EngineEvent] = queue.Queue()
    d = Debugger(events.put)
    d.launch(LaunchConfig(program=str(binary), mode="exec"), stop_on_entry=False)
    lines: dict[int, str] = {}
    path = None
    for marker in MARKERS:
        path, line = fixtures.line_of("semantics", marker)
        lines[line] = marker
    assert path is not None
    status = d.set_breakpoints(path, [SourceBreakpointSpec(line=n) for n in lines])
    assert all(s.verified for s in status), status
    d.configuration_done()
    out: dict[str, StopRecord] = {}
    try:
        while True:
            ev = events.get(timeout=60)
            if isinstance(ev, Exited):
                break
            if not isinstance(ev, Stopped):
                continue
            frame = d.stack_trace(ev.thread_id, 0, 1)[0][0]
            marker = lines[frame.line]
            if marker not in out:  # the first time only (a loop line is hit again)
                out[marker] = _record(d, ev.thread_id, marker)
            d.resume()
        yield out
    finally:
        d.disconnect(True)


def at(run: dict[str, StopRecord], marker: str) -> StopRecord:
    assert marker in run, f"never stopped at @{marker}: {sorted(run)}"
    return run[marker]


def ok(rec: StopRecord, expr: str) -> VariableInfo:
    got = rec.evals[expr]
    assert isinstance(got, VariableInfo), f"{expr}: {got}"
    return got


# ----- every stop -----

def test_walk_to_depth_5_has_no_error(run: dict[str, StopRecord]) -> None:
    assert sorted(run) == sorted(MARKERS)
    for marker, rec in run.items():
        assert rec.errors == [], marker


def test_one_locals_scope_first_then_registers_last_and_expensive(
        run: dict[str, StopRecord]) -> None:
    for rec in run.values():
        assert rec.scopes == [("Locals", False), ("Registers", True)]


# ----- interfaces holding types of packages whose path is not their name -----

INTERFACES: dict[str, tuple[str, str]] = {
    "cv": ("go/constant.Value(go/constant.int64Val) 3", "go/constant.Value"),
    "node": ('go/ast.Node(*go/ast.Ident) *{NamePos: NoPos (0), Name: "ident", Obj: '
             "*go/ast.Object nil}", "go/ast.Node"),
    "fsErr": ('error(*io/fs.PathError) *{Op: "open", Path: "/nonexistent/dapgo-semantics", '
              "Err: error(syscall.Errno) 0x2}", "error"),
    "thingAny": ('interface {}(example.com/semantics/lib/go-thing.T) {A: 1, B: "two"}',
                 "interface {}"),
    "thingPtr": ('interface {}(*example.com/semantics/lib/go-thing.T) *{A: 3, B: "four"}',
                 "interface {}"),
    "reader": ('interface {}(*strings.Reader) *{s: "abc", i: 0, prevRune: -1}',
               "interface {}"),
    "deepAny": ('interface {}(example.com/semantics/internal/deep.Hidden) {V: 7, Note: '
                '"internal"}', "interface {}"),
    "deepErr": ("error(*example.com/semantics/internal/deep.Err) *{Code: 9}", "error"),
    "pollErr": ("error(*internal/poll.DeadlineExceededError) *{}", "error"),
}


@pytest.mark.parametrize("name", sorted(INTERFACES))
def test_interface_dynamic_type_by_package_path(run: dict[str, StopRecord], name: str
                                                ) -> None:
    v = at(run, "interfaces").vars[name]
    assert (v.value, v.type) == INTERFACES[name]


def test_stdlib_errors_expand(run: dict[str, StopRecord]) -> None:
    rec = at(run, "interfaces")
    fs_err = rec.vars["fsErr"]
    assert fs_err.shown == ["Op", "Path", "Err"]
    assert fs_err["Path"].value == '"/nonexistent/dapgo-semantics"'
    url_err = rec.vars["urlErr"]
    assert url_err.value.startswith('error(*net/url.Error) *{Op: "parse", URL: "http://[::1"')
    assert url_err["Err"].value == "error(*errors.errorString) *{s: \"missing ']' in host\"}"
    assert url_err["Err"]["s"].value == "\"missing ']' in host\""
    assert rec.vars["u"]["Host"].value == '"example.com"'
    assert ok(rec, "fsErr.(*fs.PathError).Op").value == '"open"'


def test_slice_of_interfaces_in_an_interface_expands(run: dict[str, StopRecord]) -> None:
    rec = at(run, "interfaces")
    consts = rec.vars["consts"]
    assert consts.value.startswith("interface {}([]go/constant.Value) len: 2, cap: 2, [")
    assert consts["[0]"].value == "go/constant.Value(go/constant.int64Val) 3"
    assert consts["[1]"]["s"].value == '"s"'
    assert ok(rec, "len(consts.([]constant.Value))").value == "2"


def test_renamed_import_and_internal_package_values_expand(run: dict[str, StopRecord]
                                                           ) -> None:
    rec = at(run, "interfaces")
    assert rec.vars["thingAny"]["B"].value == '"two"'
    assert rec.vars["thingPtr"]["A"].value == "3"
    assert rec.vars["deepAny"]["Note"].value == '"internal"'
    assert rec.vars["deepErr"]["Code"].value == "9"
    assert rec.vars["expr"]["Value"].value == '"7"'


# ----- scope by declaration line, escaped variables -----

def test_loop_variable_not_in_scope_on_its_declaration_line(run: dict[str, StopRecord]
                                                            ) -> None:
    rec = at(run, "declline")
    assert rec.locals == ["amb1"]
    assert rec.vars["amb1"].value == "1"
    assert ok(rec, "amb1").value == "1"


def test_escaped_variables_named_plainly_innermost_wins(run: dict[str, StopRecord]) -> None:
    rec = at(run, "escaped")
    assert rec.locals == ["(a)", "a", "p"]
    assert (rec.vars["(a)"].value, rec.vars["(a)"].type) == ("2", "int")
    assert (rec.vars["a"].value, rec.vars["a"].type) == ("3", "int")
    assert ok(rec, "a").value == "3"
    assert ok(rec, "*p").value == "3"
    assert ok(rec, "p == &a").value == "true"


# ----- unreadable memory -----

def test_unreadable_memory_is_a_value(run: dict[str, StopRecord]) -> None:
    rec = at(run, "unreadable")
    v = rec.vars
    assert v["okValue"].value == "17"
    assert v["badPtr"].value == "(*main.Point)(0x10) (unreadable: cannot read memory at 0x10)"
    assert v["badPtr"].shown == ["*main.Point"]
    assert v["badPtr"]["*main.Point"].value == "(unreadable: cannot read memory at 0x10)"
    assert v["badInt"]["*int"].value == "(unreadable: cannot read memory at 0x18)"
    assert v["badStr"].value == "(unreadable: cannot read memory at 0x50)"
    for name in ("badIface", "badErr", "badMap"):
        assert "(unreadable: " in v[name].value, (name, v[name].value)


def test_nil_data_slice_keeps_its_length(run: dict[str, StopRecord]) -> None:
    rec = at(run, "unreadable")
    s = rec.vars["nilData"]
    assert s.value == "[]int len: 3, cap: 3, (unreadable: cannot read memory at 0x0)"
    assert s.info.indexed_children == 3
    assert [s[f"[{i}]"].value for i in range(3)] == [
        "(unreadable: cannot read memory at 0x0)", "(unreadable: cannot read memory at 0x8)",
        "(unreadable: cannot read memory at 0x10)"]
    assert ok(rec, "len(nilData)").value == "3"
    assert ok(rec, "cap(nilData)").value == "3"


# ----- maps larger than the loading limit -----

def test_large_map_returns_what_it_promises(run: dict[str, StopRecord]) -> None:
    rec = at(run, "bigmap")
    big = rec.vars["big"]
    assert big.info.named_children == 64
    assert len(big.shown) == 64
    assert big.value.endswith("...+58 more] (64 of 66 shown)"), big.value
    for name in big.shown:
        k = int(name[1:-1])
        assert big[name].value == str(k * k)
    assert rec.vars["small"].value == 'map[string]int ["a": 1, ]'
    assert ok(rec, "len(big)").value == "66"
    assert ok(rec, "big[65]").value == "4225"


# ----- constants -----

CONSTANTS = {"k": "constTwo (2)", "k0": "kindZero (0)", "k9": "9", "fl": "bitZero|bitOne (3)",
             "fl4": "bitTwo (4)", "flOdd": "8", "flMixed": "9"}


def test_values_described_by_their_types_constants(run: dict[str, StopRecord]) -> None:
    rec = at(run, "constants")
    assert {n: rec.vars[n].value for n in CONSTANTS} == CONSTANTS
    assert rec.vars["k"].type == "main.Kind"
    assert rec.vars["fl"].type == "main.Flags"


def test_evaluate_constants(run: dict[str, StopRecord]) -> None:
    rec = at(run, "constants")
    assert (ok(rec, "constTwo").value, ok(rec, "constTwo").type) == ("2", "main.Kind")
    assert (ok(rec, "bitOne").value, ok(rec, "bitOne").type) == ("2", "main.Flags")
    assert ok(rec, "main.constTwo").value == "2"
    assert ok(rec, "k == constTwo").value == "true"
    assert (ok(rec, "plainConst").value, ok(rec, "plainConst").type) == ("42", "int")


# ----- generics -----

def test_generic_function_shape_types_instantiated_dict_hidden(run: dict[str, StopRecord]
                                                               ) -> None:
    rec = at(run, "generic")
    assert rec.locals == ["xs", "scale", "~r0", "total"]
    assert (rec.vars["xs"].value, rec.vars["xs"].type) == ("[]int len: 3, cap: 3, [1,2,3]",
                                                          "[]int")
    assert (rec.vars["scale"].value, rec.vars["scale"].type) == ("2", "int")
    assert (rec.vars["total"].value, rec.vars["total"].type) == ("12", "int")
    assert ok(rec, "xs").type == "[]int"
    assert isinstance(rec.evals[".dict"], str)  # hidden from expressions too


def test_generic_method_receiver(run: dict[str, StopRecord]) -> None:
    rec = at(run, "method")
    p = rec.vars["p"]
    assert (p.value, p.type) == ('main.Pair[string,int] {Key: "k", Val: 1}',
                                 "main.Pair[string,int]")
    assert rec.vars["prefix"].value == '"p:"'
    assert all(not n.startswith(".") for n in rec.locals)


# ----- complex numbers -----

def test_complex_values_expand_and_builtins(run: dict[str, StopRecord]) -> None:
    rec = at(run, "complex")
    c = rec.vars["c"]
    assert (c.value, c.type) == ("(1.5 + -2i)", "complex128")
    assert [(k, c[k].value, c[k].type) for k in c.shown] == [
        ("real", "1.5", "float64"), ("imaginary", "-2", "float64")]
    c64 = rec.vars["c64"]
    assert [(k, c64[k].value, c64[k].type) for k in c64.shown] == [
        ("real", "3", "float32"), ("imaginary", "4", "float32")]
    results = {e: (ok(rec, e).value, ok(rec, e).type) for e in EXPRESSIONS["complex"]}
    assert results == {
        "real(c)": ("1.5", "float64"), "imag(c)": ("-2", "float64"),
        "complex(re, 2)": ("(1.5 + 2i)", "complex128"), "real(c64)": ("3", "float32"),
        "imag(c64)": ("4", "float32"), "complex(1, 2)": ("(1 + 2i)", "complex128"),
        "real(3)": ("3", "float64"),
    }


# ----- strings in the REPL -----

def test_repl_shows_a_long_string_whole_up_to_1_mib(run: dict[str, StopRecord]) -> None:
    rec = at(run, "longstring")
    assert rec.vars["long"].value.endswith('"...+1999488 more')  # the Variables view cut
    whole = ok(rec, "long").value
    body = ("0123456789" * 200000)[:1 << 20]
    assert whole == f'"{body}"...+{2000000 - (1 << 20)} more'
