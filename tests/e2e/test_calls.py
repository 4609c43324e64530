"""End to end on every supported Go toolchain: calling functions in the stopped program
from `evaluate` (runtime.debugCallV2): every argument and result kind, methods on values,
pointers, interfaces and embedded fields, closures and func values, package functions; a
call that panics, one that stops at a breakpoint, one that never returns; the contexts
that may call; and goroutines that must not move while a call runs.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient, DAPError

from .helpers import (
    exit_code,
    initialize,
    launch,
    mark,
    output_text,
    resume,
    set_line_breakpoints,
    start_busy,
    top_frame,
    wait_stopped,
)
from .test_stepping_panics import GO_VERSIONS, go_id

Message = dict[str, Any]
FIXTURE = "calls"


@contextmanager
def stopped(go: str | None, timeout: str = "5") -> Iterator[tuple[DAPClient, Message, int]]:
    """A session stopped at @stop in main.main (its breakpoint then cleared): the
    client, the stop, and the top frame's id."""
    env = {**os.environ, "DAPGO_CALL_TIMEOUT": timeout}
    with DAPClient.spawn_stdio(env=env) as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build(FIXTURE, go=go))})
        path, line = fixtures.line_of(FIXTURE, "stop")
        c.request("setBreakpoints", {"source": {"path": path},
                                     "breakpoints": [{"line": line}]})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
        yield c, stop, top_frame(c, stop["threadId"])["id"]


def ev(c: DAPClient, frame: int, expr: str, context: str = "repl") -> Message:
    body: Message = c.request("evaluate", {"expression": expr, "frameId": frame,
                                           "context": context}, timeout=60)["body"]
    return body


def ev_error(c: DAPClient, frame: int, expr: str, context: str = "repl") -> str:
    with pytest.raises(DAPError) as err:
        ev(c, frame, expr, context)
    return str(err.value)


# (expression, result, type): each argument and result kind
CALLS = [
    ("add(1, 2)", "3", "int"),
    ("call add(p.X, 10)", "13", "int"),
    ("mix(-3, 1000, 1.5, 2.25, true, 3+4i)", "1007.75", "float64"),  # int8 uint16 floats..
    ('concat(name, "!")', '"gopher!"', "string"),  # a variable and a literal string
    ("sumSlice(xs)", "10", "int"),
    ("sumSlice(xs[1:])", "9", "int"),
    ("pointSum(p)", "7", "int"),  # a struct by value
    ("ptrX(pp)", "5", "int"),  # a pointer
    ("bigSum(big)", "55", "int"),  # a struct too big for registers: on the stack
    ("many(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)", "66", "int"),  # more ints than registers
    ("describe(42)", '"int:42"', "string"),  # into an interface: a constant
    ("describe(p)", '"main.Point:(3,4)"', "string"),  # a struct (copied to the heap)
    ("describe(pp)", '"*main.Point:(5,6)"', "string"),  # a pointer
    ("describe(sh)", '"main.Rect:{2 3}"', "string"),  # an interface into `any`
    ("area(sh2)", "12", "float64"),  # an interface argument
    ("divmod(17, 5)", "3, 2", "(int, int)"),  # several results
    ("makeBig(3)", "main.Big {A: 3, B: 3, C: 3, D: 3, E: 3, F: 3, G: 3, H: 3, ...}",
     "main.Big"),  # a result on the stack
    ("newPoint(1, 2)", "*main.Point {X: 1, Y: 2}", "*main.Point"),
    ("shapeOf(false)", "main.Shape(*main.Circle) *{R: 1}", "main.Shape"),
    ("makeSlice(5)", "[]int len: 5, cap: 5, [0,1,4,9,16]", "[]int"),
    ("mayFail(4)", "8, error nil", "(int, error)"),
    ("mayFail(-2)", "0, error(*main.MyErr) *{Code: -2}", "(int, error)"),  # dynamic type
    ("plainErr()", 'error(*errors.errorString) *{s: "plain failure"}', "error"),
    ("noResult()", "", ""),
    ("p.Sum()", "7", "int"),  # method on a value
    ("pp.Sum()", "11", "int"),  # value method through a pointer
    ("p.String()", '"(3,4)"', "string"),
    ("p.Add(*pp)", "main.Point {X: 8, Y: 10}", "main.Point"),
    ("sh.Area()", "6", "float64"),  # through an interface (value receiver)
    ("sh2.Area()", "12", "float64"),  # through an interface (pointer receiver)
    ("err.Error()", '"code 7"', "string"),
    ("d.Describe()", '"base 7"', "string"),  # promoted from an embedded field
    ("mul(4)", "40", "int"),  # a closure
    ("fn(5, 6)", "11", "int"),  # a func value
    ("strings.ToUpper(name)", '"GOPHER"', "string"),  # a package function by path
    ("len(makeSlice(7)) + add(1, 1)", "9", "int"),  # calls inside an expression
]


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_calls_of_every_kind(go: str | None) -> None:
    with stopped(go) as (c, _stop, frame):
        for expr, result, type_name in CALLS:
            body = ev(c, frame, expr)
            assert (body["result"], body["type"]) == (result, type_name), expr
        # several results: each one a child, by name
        body = ev(c, frame, "mayFail(-2)")
        kids = c.request("variables", {"variablesReference": body["variablesReference"]}
                         )["body"]["variables"]
        assert [k["name"] for k in kids] == ["~r0", "~r1"]
        assert kids[1]["value"] == "error(*main.MyErr) *{Code: -2}"
        # methods that change their receiver: on a pointer, and through &p
        assert ev(c, frame, "pp.Scale(2)")["result"] == "22"
        assert ev(c, frame, "*pp")["result"] == "main.Point {X: 10, Y: 12}"
        assert ev(c, frame, "p.Scale(3)")["result"] == "21"
        assert ev(c, frame, "p")["result"] == "main.Point {X: 9, Y: 12}"
        assert ev(c, frame, "pd.Bump()")["result"] == "8"
        assert ev(c, frame, "d.ID")["result"] == "8"
        assert ev(c, frame, "calls")["result"] == "1"  # noResult ran once
        # the contexts: a watch calls, a hover never does (Delve's rules)
        assert ev(c, frame, "trivial()", "watch")["result"] == "42"
        assert ev(c, frame, "call trivial()", "hover")["result"] == "42"
        assert "not run on hover" in ev_error(c, frame, "trivial()", "hover")
        assert "not run when copying" in ev_error(c, frame, "trivial()", "clipboard")
        # errors say why
        assert "not enough arguments in call to add" in ev_error(c, frame, "add(1)")
        assert "too many arguments" in ev_error(c, frame, "add(1, 2, 3)")
        assert "cannot use" in ev_error(c, frame, "add(name, 1)")
        assert "could not find function main.nosuch" in ev_error(c, frame, "nosuch(1)")
        # the program goes on unharmed to its end
        c.request("continue", {"threadId": 1})
        assert exit_code(c) == 0
        assert "done 1 9 12 (10,12) 8 32" in output_text(c, "stdout")


def registers(c: DAPClient, frame: int) -> dict[str, str]:
    scopes = c.request("scopes", {"frameId": frame})["body"]["scopes"]
    ref = next(s["variablesReference"] for s in scopes if s["name"] == "Registers")
    return {v["name"]: v["value"] for v in c.request(
        "variables", {"variablesReference": ref})["body"]["variables"]}


def goroutine_state(c: DAPClient) -> dict[int, list[tuple[str, int, str]]]:
    """Every goroutine's frames (function, line, pc)."""
    out = {}
    for t in c.request("threads")["body"]["threads"]:
        frames = c.request("stackTrace", {"threadId": t["id"]})["body"]["stackFrames"]
        out[t["id"]] = [(f["name"], f["line"], f.get("instructionPointerReference", ""))
                        for f in frames]
    return out


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_calls_leave_other_goroutines_and_registers_alone(go: str | None) -> None:
    """Two goroutines spin incrementing counters on other threads: while calls run only
    the calling goroutine's thread runs, so the counters and every goroutine's stack are
    the same after the calls, and the calling goroutine's registers are restored."""
    with stopped(go) as (c, stop, frame):
        before = goroutine_state(c)
        spins = ev(c, frame, "spins")["result"]
        regs = registers(c, frame)
        assert re.search(r"v: [1-9]", spins), spins
        for _ in range(10):
            assert ev(c, frame, "add(1, 2)")["result"] == "3"
        assert ev(c, frame, "describe(p)")["result"] == '"main.Point:(3,4)"'
        with pytest.raises(DAPError):
            ev(c, frame, 'boom("x")')
        assert ev(c, frame, "spins")["result"] == spins
        after = goroutine_state(c)
        for gid, frames in before.items():  # the goroutine a call ran on may linger
            assert after[gid] == frames, gid
        frame = top_frame(c, stop["threadId"])["id"]
        assert registers(c, frame) == regs


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_call_that_panics(go: str | None) -> None:
    with stopped(go) as (c, stop, frame):
        msg = ev_error(c, frame, 'boom("x")')
        assert "panic in main.boom: boom: x" in msg
        path, _ = fixtures.line_of(FIXTURE, "stop")
        assert f"main.boom()\n\t{path}:" in msg  # the panicking stack
        top = top_frame(c, stop["threadId"])  # still stopped where it was
        assert (top["name"], top["line"]) == ("main.main", fixtures.line_of(FIXTURE, "stop")[1])
        assert ev(c, frame, "add(2, 2)")["result"] == "4"  # and calls still work
        c.request("continue", {"threadId": 1})
        assert exit_code(c) == 0


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_call_that_hits_a_breakpoint(go: str | None) -> None:
    """The call stops at a breakpoint inside it (as Delve); calls can be made there too;
    continuing finishes them, their results are printed, and the program goes on from
    where it was stopped."""
    with stopped(go) as (c, _stop, frame):
        path, line = fixtures.line_of(FIXTURE, "inside")
        c.request("setBreakpoints", {"source": {"path": path},
                                     "breakpoints": [{"line": line}]})
        at = mark(c)
        assert "stopped at a breakpoint" in ev_error(c, frame, "withBreak(2)")
        stop = wait_stopped(c, "breakpoint", after=at)
        top = top_frame(c, stop["threadId"])
        assert (top["name"], top["line"]) == ("main.withBreak", line)
        assert ev(c, top["id"], "n")["result"] == "2"
        assert ev(c, top["id"], "add(n, 1)")["result"] == "3"  # a call inside the call
        at = mark(c)  # another one that stops at the breakpoint too: both finish later
        assert "stopped at a breakpoint" in ev_error(c, top["id"], "withBreak(5)")
        stop = wait_stopped(c, "breakpoint", after=at)
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        console = output_text(c, "console")
        assert "call of main.withBreak returned: ~r0 = 15" in console
        assert "call of main.withBreak returned: ~r0 = 6" in console
        assert "done 0" in output_text(c, "stdout")


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_call_that_waits_for_another_goroutine(go: str | None) -> None:
    """ask(n) needs the serve goroutine: the call's thread sleeps, so every goroutine runs
    (the console says so); a breakpoint hit by serve then stops the program (as Delve),
    and continuing finishes the call."""
    with stopped(go) as (c, _stop, frame):
        assert ev(c, frame, "ask(21)")["result"] == "42"
        assert "the call of main.ask waited for other goroutines" in output_text(c, "console")
        path, line = fixtures.line_of(FIXTURE, "served")
        c.request("setBreakpoints", {"source": {"path": path},
                                     "breakpoints": [{"line": line}]})
        at = mark(c)
        assert "a breakpoint stopped the program during the call of main.ask" in \
            ev_error(c, frame, "ask(5)")
        stop = wait_stopped(c, "breakpoint", after=at)
        top = top_frame(c, stop["threadId"])
        assert (top["name"], top["line"]) == ("main.serve", line)
        assert ev(c, top["id"], "n")["result"] == "5"
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert "call of main.ask returned: ~r0 = 10" in output_text(c, "console")


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_call_that_never_returns(go: str | None) -> None:
    """The user is told when the timeout passes; the program stays stopped and can run
    on (the call goes on in the background)."""
    with stopped(go, timeout="1") as (c, _stop, frame):
        at = mark(c)
        msg = ev_error(c, frame, "blockForever()")
        assert "did not return within 1 s" in msg
        wait_stopped(c, "pause", after=at)
        assert "still running an earlier call" in ev_error(c, frame, "add(1, 2)")
        assert ev(c, frame, "main.spins")["result"]  # still inspectable
        c.request("continue", {"threadId": 1})
        time.sleep(0.2)
        at = mark(c)
        c.request("pause", {"threadId": 1})
        wait_stopped(c, "pause", after=at)
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_runtime_refuses_a_call(go: str | None) -> None:
    """The runtime's own refusals are shown, and the program runs on unharmed: from within
    the runtime (stopped in runtime.Gosched), not at a safe point (inside the write
    barrier sequence of main.storePtr, stepped through an instruction at a time, calling
    at each); and dapgo's: a goroutine in a system call."""
    with stopped(go) as (c, stop, _frame):
        # a goroutine blocked in read(2)
        for t in c.request("threads")["body"]["threads"]:
            frames = c.request("stackTrace", {"threadId": t["id"]})["body"]["stackFrames"]
            mine = [f for f in frames if f["name"] == "main.blockedRead"]
            if mine:
                assert "is in a system call" in ev_error(c, mine[0]["id"], "main.add(1, 2)")
                break
        else:
            raise AssertionError("no goroutine in main.blockedRead")
        c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "runtime.Gosched"}]})
        stop = resume(c, reason="function breakpoint")
        frame = top_frame(c, stop["threadId"])
        assert frame["name"] == "runtime.Gosched"
        msg = ev_error(c, frame["id"], "main.add(1, 2)")
        assert "the Go runtime refused the call: call from within the Go runtime" in msg
        c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "main.storePtr"}]})
        tid = resume(c, reason="function breakpoint")["threadId"]
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        answers = {}
        for _ in range(40):  # instruction by instruction through storePtr, calling at each
            top = top_frame(c, tid)
            if top["name"] != "main.storePtr":
                break
            try:
                answers[top["instructionPointerReference"]] = ev(c, top["id"], "add(1, 2)")[
                    "result"]
            except DAPError as exc:
                answers[top["instructionPointerReference"]] = str(exc)
            after = top_frame(c, tid)  # nothing moved
            assert (after["name"], after["instructionPointerReference"]) == \
                (top["name"], top["instructionPointerReference"])
            resume(c, "stepIn", thread_id=tid, granularity="instruction")
        refused = [a for a in answers.values() if a != "3"]
        assert refused, answers
        assert all("the Go runtime refused the call: call not at safe point" in a
                   for a in refused), answers
        assert len(refused) < len(answers) - 3, answers  # most places are safe
        c.request("continue", {"threadId": 1})
        assert exit_code(c) == 0


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_calls_in_an_optimized_build(go: str | None) -> None:
    """Without -N -l: calls need no DWARF locations (the ABI says where values go); an
    inlinable function's out-of-line copy is called by the signature its concrete DIE and
    abstract origin describe (issue 12b's lookup)."""
    with DAPClient.spawn_stdio() as c:
        launch(c, {"mode": "exec",
                   "program": str(fixtures.build(FIXTURE, go=go, optimized=True))})
        path, line = fixtures.line_of(FIXTURE, "stop")
        c.request("setBreakpoints", {"source": {"path": path},
                                     "breakpoints": [{"line": line}]})
        at = mark(c)
        c.request("configurationDone")
        frame = top_frame(c, wait_stopped(c, "breakpoint", after=at)["threadId"])["id"]
        assert ev(c, frame, "mix(-3, 1000, 1.5, 2.25, true, 3+4i)")["result"] == "1007.75"
        assert ev(c, frame, 'concat("a", "b")')["result"] == '"ab"'
        assert ev(c, frame, "divmod(7, 2)")["result"] == "3, 1"
        assert ev(c, frame, "mayFail(-1)")["result"] == "0, error(*main.MyErr) *{Code: -1}"
        assert ev(c, frame, "sumSlice(makeSlice(4))")["result"] == "14"
        assert "panic in main.boom: boom: o" in ev_error(c, frame, 'boom("o")')
        assert ev(c, frame, "add(1, 2)")["result"] == "3"
        c.request("disconnect", {"terminateDebuggee": True})


def test_calls_in_an_attached_program_that_runs_on_after_detach() -> None:
    busy = start_busy()
    try:
        with DAPClient.spawn_stdio() as c:
            initialize(c)
            c.request("attach", {"mode": "local", "processId": busy.pid}, timeout=60)
            c.wait_event("initialized")
            set_line_breakpoints(c, "busy", "tick_body")
            at = mark(c)
            c.request("configurationDone")
            frame = top_frame(c, wait_stopped(c, "breakpoint", after=at)["threadId"])["id"]
            c.request("setBreakpoints", {"source": {"path": fixtures.line_of(
                "busy", "tick_body")[0]}, "breakpoints": []})
            before = int(ev(c, frame, "counter")["result"])
            assert int(ev(c, frame, "spin(10)")["result"]) == before + 45
            c.request("disconnect", {})
            c.wait_closed()
        time.sleep(0.3)
        assert busy.poll() is None  # detached, running on
    finally:
        busy.kill()
        busy.wait()


def test_no_calls_before_the_runtime_starts() -> None:
    with DAPClient.spawn_stdio() as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build(FIXTURE)),
                   "stopOnEntry": True})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "entry", after=at)
        with pytest.raises(DAPError, match="no goroutine to call on"):
            c.request("evaluate", {"expression": "add(1, 2)", "context": "repl"})
        frame = top_frame(c, stop["threadId"])["id"]
        assert "function calls need the Go runtime started" in \
            ev_error(c, frame, "main.add(1, 2)")
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
