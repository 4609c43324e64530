"""Property test: random Go values declared in a generated program, printed by the
program as JSON and read through dapgo at a breakpoint, must agree."""

from __future__ import annotations

import json
import queue
import re
import subprocess
from pathlib import Path

import fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dapgo.engine.debugger import Debugger
from dapgo.engine.gofmt import go_quote
from dapgo.engine.model import (
    EngineEvent,
    Exited,
    LaunchConfig,
    Output,
    SourceBreakpointSpec,
    Stopped,
    VariableInfo,
)

INTS = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
TEXT = st.text(alphabet='abcXYZ 09_-"\\\né', max_size=12)
SAMPLE = st.fixed_dictionaries({
    "xs": st.lists(INTS, max_size=12),
    "m": st.dictionaries(TEXT, st.integers(-1000, 1000), max_size=12),
    "rec": st.fixed_dictionaries({"A": INTS, "B": TEXT, "C": st.lists(st.booleans(),
                                                                       max_size=5)}),
})

PROGRAM = """package main

import (
\t"encoding/json"
\t"fmt"
)

type Rec struct {
\tA int
\tB string
\tC []bool
}

func main() {
\txs := []int{%(xs)s}
\tm := map[string]int{%(m)s}
\trec := Rec{A: %(a)s, B: %(b)s, C: []bool{%(c)s}}
\tout, _ := json.Marshal(map[string]any{"xs": xs, "m": m, "rec": rec})
\tfmt.Println(string(out)) // @show
}
"""


def go_string(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid Go interpreted string literal


def write_program(sample: dict, where: Path) -> tuple[Path, int]:
    rec = sample["rec"]
    src = PROGRAM % {
        "xs": ", ".join(str(x) for x in sample["xs"]),
        "m": ", ".join(f"{go_string(k)}: {v}" for k, v in sample["m"].items()),
        "a": str(rec["A"]), "b": go_string(rec["B"]),
        "c": ", ".join("true" if c else "false" for c in rec["C"]),
    }
    where.mkdir(parents=True, exist_ok=True)
    (where / "go.mod").write_text("module example.com/prop\n\ngo 1.21\n")
    (where / "main.go").write_text(src)
    line = next(i for i, t in enumerate(src.splitlines(), 1) if "@show" in t)
    binary = where / "prop"
    subprocess.run([fixtures.go_binary(), "build", "-gcflags=all=-N -l", "-o", str(binary),
                    "."], cwd=where, check=True, capture_output=True)
    return binary, line


def read_all(d: Debugger, v: VariableInfo) -> list[VariableInfo]:
    if v.handle is None:
        return []
    n = (v.named_children or 0) + (v.indexed_children or 0)
    return d.variables(v.handle, 0, max(n, 1))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sample=SAMPLE)
def test_values_roundtrip(sample: dict, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    where = tmp_path_factory.mktemp("prop")
    binary, line = write_program(sample, where)
    events: queue.Queue[EngineEvent] = queue.Queue()
    d = Debugger(events.put)
    try:
        d.launch(LaunchConfig(program=str(binary), mode="exec"), stop_on_entry=False)
        d.set_breakpoints(str(where / "main.go"), [SourceBreakpointSpec(line=line)])
        d.configuration_done()
        while True:
            ev = events.get(timeout=30)
            if isinstance(ev, Stopped):
                break
            assert not isinstance(ev, Exited)
        seen: dict[str, VariableInfo] = {}
        for scope in d.scopes(ev.thread_id, 0):
            for v in d.variables(scope.handle):
                seen[v.name] = v
        xs_kids = read_all(d, seen["xs"])
        m_kids = read_all(d, seen["m"])
        rec = {c.name: c for c in read_all(d, seen["rec"])}
        c_kids = read_all(d, rec["C"])
        d.resume()
        out = ""
        while True:
            ev = events.get(timeout=30)
            if isinstance(ev, Output) and ev.category == "stdout":
                out += ev.text
            if isinstance(ev, Exited):
                break
        printed = json.loads(out.strip().splitlines()[-1])
    finally:
        d.disconnect(True)

    xs = [int(c.value) for c in xs_kids]
    assert xs == printed["xs"] == sample["xs"]
    assert seen["xs"].value.startswith(f"[]int len: {len(xs)}, cap: {len(xs)}, ")

    got_m = {}
    for c in m_kids:
        m = re.fullmatch(r"\[(\".*\")\]", c.name, re.S)
        assert m, c.name
        got_m[m.group(1)] = int(c.value)
    assert got_m == {go_quote(k.encode()): v for k, v in printed["m"].items()}
    assert len(got_m) == len(sample["m"])

    assert int(rec["A"].value) == printed["rec"]["A"] == sample["rec"]["A"]
    assert rec["B"].value == go_quote(printed["rec"]["B"].encode())
    bools = [c.value == "true" for c in c_kids]
    assert bools == (printed["rec"]["C"] or []) == sample["rec"]["C"]
