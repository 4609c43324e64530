"""End to end on every supported Go toolchain: stepping (next, stepIn, stepOut, instruction
granularity) that stays on its goroutine and frame, conditions and hit counts, evaluate and
setVariable, and stops on panics and fatal errors with exceptionInfo.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import (
    exit_code,
    frame_variables,
    launch,
    mark,
    output_text,
    resume,
    session,
    top_frame,
    wait_stopped,
)

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13", "1.24.11"]  # None: the default toolchain, 1.27.3


def go_id(v: str | None) -> str:
    return v or "1.27.3"


@contextmanager
def stopped_at(fixture: str, marker: str, go: str | None, args: tuple[str, ...] = (),
               launch_attrs: Message | None = None, keep: bool = False,
               **bp: Any) -> Iterator[tuple[DAPClient, Message]]:
    """A session stopped at `marker` (the breakpoint is then cleared, unless `keep`)."""
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build(fixture, go=go)),
                   "args": list(args), **(launch_attrs or {})})
        path, line = fixtures.line_of(fixture, marker)
        c.request("setBreakpoints", {"source": {"path": path},
                                     "breakpoints": [{"line": line, **bp}]})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, after=at)
        if not keep:
            c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
        yield c, stop


def line(marker: str) -> int:
    return fixtures.line_of("stepping", marker)[1]


def where(c: DAPClient, stop: Message) -> tuple[str, int]:
    frame = top_frame(c, stop["threadId"])
    return frame["name"], frame["line"]


def var(c: DAPClient, stop: Message, name: str) -> str:
    return str(frame_variables(c, top_frame(c, stop["threadId"])["id"])[name]["value"])


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_next_stays_on_its_goroutine_across_a_goroutine_switch(go: str | None) -> None:
    with stopped_at("stepping", "worker_send", go) as (c, stop):
        goroutine = stop["threadId"]
        me = var(c, stop, "id")
        seen = []
        for _ in range(6):
            # the channel send blocks: other workers run the same lines meanwhile
            stop = resume(c, "next", goroutine, reason="step")
            assert stop["threadId"] == goroutine
            fn, ln = where(c, stop)
            seen.append(ln)
            if fn != "main.worker":
                break
            assert var(c, stop, "id") == me
        assert line("worker_body") in seen
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_next_over_recursion_stays_in_the_frame(go: str | None) -> None:
    with stopped_at("stepping", "fact_rec", go) as (c, stop):
        assert var(c, stop, "n") == "5"
        at = mark(c)
        stop = resume(c, "next", stop["threadId"], reason="step")
        # every goroutine runs during a step: a continued event says so (as Delve), after
        # the next response and before the stop
        order = [m.get("event") or m.get("command") for m in c.messages[at:]]
        assert order.index("next") < order.index("continued") < order.index("stopped"), order
        continued = next(m for m in c.messages[at:] if m.get("event") == "continued")
        assert continued["body"]["allThreadsContinued"] is True
        assert where(c, stop) == ("main.fact", line("fact_ret"))
        assert var(c, stop, "n") == "5"
        assert var(c, stop, "r") == "120"
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_step_in_and_out_through_calls_interfaces_and_closures(go: str | None) -> None:
    with stopped_at("stepping", "call_fact", go) as (c, stop):
        g = stop["threadId"]
        stop = resume(c, "stepIn", g, reason="step")
        fn, _ = where(c, stop)
        assert fn == "main.fact"
        stop = resume(c, "stepOut", g, reason="step")
        fn, ln = where(c, stop)
        assert fn == "main.main" and ln in (line("call_fact"), line("call_fact") + 1)
        # into a method called through an interface
        while where(c, stop)[1] != line("call_iface"):
            stop = resume(c, "next", g, reason="step")
        stop = resume(c, "stepIn", g, reason="step")
        assert where(c, stop)[0] == "main.Square.Area"
        stop = resume(c, "stepOut", g, reason="step")
        # into a closure
        while where(c, stop)[1] != line("call_closure"):
            stop = resume(c, "next", g, reason="step")
        stop = resume(c, "stepIn", g, reason="step")
        assert where(c, stop)[0] == "main.main.func1"
        assert where(c, stop)[1] in (line("closure_body") - 1, line("closure_body"))
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_next_over_a_return_stops_in_the_deferred_call(go: str | None) -> None:
    """As Delve: `next` over the end of a function with deferred calls stops in them, then
    goes on to the caller."""
    with stopped_at("stepping", "with_defer_body", go) as (c, stop):
        g = stop["threadId"]
        seen = []
        for _ in range(8):
            stop = resume(c, "next", g, reason="step")
            assert stop["threadId"] == g
            seen.append(where(c, stop))
            if seen[-1][0] == "main.main":
                break
        functions = [fn for fn, _ in seen]
        assert "main.withDefer.func1" in functions, seen
        assert ("main.withDefer.func1", line("deferred")) in seen, seen
        assert functions[-1] == "main.main"
        c.request("continue", {"threadId": g})
        assert exit_code(c) == 0
        assert "stepping: 30 120 9 18 42" in output_text(c, "stdout")


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_step_out_of_a_deferred_call_returns_to_the_function_that_deferred_it(
        go: str | None) -> None:
    """Not into the runtime's defer loop (runtime.deferreturn), which called it."""
    with stopped_at("stepping", "deferred", go) as (c, stop):
        g = stop["threadId"]
        stop = resume(c, "stepOut", g, reason="step")
        assert stop["threadId"] == g
        assert where(c, stop)[0] == "main.withDefer", where(c, stop)
        stop = resume(c, "stepOut", g, reason="step")
        assert where(c, stop) == ("main.main", line("call_defer")), where(c, stop)
        c.request("continue", {"threadId": g})
        assert exit_code(c) == 0


def test_instruction_granularity_moves_one_instruction() -> None:
    with stopped_at("stepping", "fact_rec", None) as (c, stop):
        g = stop["threadId"]
        pc0 = c.request("stackTrace", {"threadId": g, "levels": 1})["body"]["stackFrames"][0]
        stop = resume(c, "next", g, reason="step", granularity="instruction")
        pc1 = c.request("stackTrace", {"threadId": g, "levels": 1})["body"]["stackFrames"][0]
        assert where(c, stop) == ("main.fact", line("fact_rec"))
        assert pc1["instructionPointerReference"] != pc0["instructionPointerReference"]
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_conditions_and_hit_conditions(go: str | None) -> None:
    with stopped_at("stepping", "fact_rec", go, condition="n == 3") as (c, stop):
        assert var(c, stop, "n") == "3"
        c.request("disconnect", {"terminateDebuggee": True})
    with stopped_at("stepping", "fact_rec", go, hitCondition="== 3") as (c, stop):
        assert var(c, stop, "n") == "3"
        c.request("disconnect", {"terminateDebuggee": True})
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("stepping", go=go))})
        path, ln = fixtures.line_of("stepping", "fact_rec")
        c.request("setBreakpoints", {"source": {"path": path},
                                     "breakpoints": [{"line": ln, "hitCondition": "% 2"}]})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        assert var(c, stop, "n") == "4"
        stop = resume(c, "continue", stop["threadId"], reason="breakpoint")
        assert var(c, stop, "n") == "2"
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0


def test_condition_that_cannot_be_evaluated_stops_and_says_why() -> None:
    with stopped_at("stepping", "fact_rec", None, condition="nosuchvar > 1") as (c, stop):
        assert where(c, stop)[0] == "main.fact"
        console = output_text(c, "console")
        assert "nosuchvar" in console and "could not be evaluated" in console
        c.request("disconnect", {"terminateDebuggee": True})


def test_evaluate_and_set_variable() -> None:
    with stopped_at("stepping", "call_fact", None) as (c, stop):
        frame = top_frame(c, stop["threadId"])
        ev = c.request("evaluate", {"expression": "sum * 2 + 1", "frameId": frame["id"],
                                    "context": "watch"})["body"]
        assert ev["result"] == "61" and ev["type"] == "int"
        # without a frame: the innermost frame of the goroutine that stopped, as Delve
        assert c.request("evaluate", {"expression": "sum", "context": "repl"}
                         )["body"]["result"] == "30"
        bad = c.response(c.send("evaluate", {"expression": "sum +", "frameId": frame["id"]}))
        assert bad["success"] is False
        scopes = c.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
        local_ref = next(s["variablesReference"] for s in scopes if s["name"] == "Locals")
        c.request("setVariable", {"variablesReference": local_ref, "name": "sum",
                                  "value": "1000"})
        assert var(c, stop, "sum") == "1000"
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        # sum lives in memory across the calls that follow: the program prints the new value
        assert "stepping: 1000 120 9 18 42" in output_text(c, "stdout")


PANICS = [
    ("fmt", "panic", "boom 42"),
    ("nilmap", "panic", "assignment to entry in nil map"),
    ("error", "panic", "outer: inner problem"),
    ("index", "panic", "runtime error: index out of range [6] with length 3"),
    ("deadlock", "fatal error", "all goroutines are asleep - deadlock!"),
]


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
@pytest.mark.parametrize(("how", "exception_id", "message"), PANICS, ids=[p[0] for p in PANICS])
def test_panics_and_fatal_errors_stop_with_exception_info(
    go: str | None, how: str, exception_id: str, message: str
) -> None:
    with session("stdio") as c:
        caps = c.request("initialize", {"adapterID": "go"})["body"]
        assert {f["filter"] for f in caps["exceptionBreakpointFilters"]} == {"panic", "fatal"}
        c.request("launch", {"mode": "exec", "program": str(fixtures.build("panics", go=go)),
                             "args": [how]}, timeout=60)
        c.wait_event("initialized")
        c.request("setExceptionBreakpoints", {"filters": ["panic", "fatal"]})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "exception", after=at)
        info = c.request("exceptionInfo", {"threadId": stop["threadId"]})["body"]
        assert info["exceptionId"] == exception_id
        assert info["description"] == message
        assert info["breakMode"] == "unhandled"
        if how != "deadlock":
            assert "main." in info["details"]["stackTrace"]
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 2
        assert message in output_text(c, "stderr")
        # recovered panics never stopped the program
        assert "panics: caught" in output_text(c, "stdout")


def test_exception_filters_can_be_turned_off() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("panics")), "args": ["fmt"]})
        c.request("setExceptionBreakpoints", {"filters": []})
        c.request("configurationDone")
        assert exit_code(c) == 2
        assert not c.events("stopped")


def test_globals_on_request_and_registers_as_an_expensive_scope() -> None:
    with stopped_at("stepping", "call_fact", None,
                    launch_attrs={"showGlobalVariables": True}) as (c, stop):
        frame = top_frame(c, stop["threadId"])
        scopes = {s["name"]: s for s in c.request("scopes", {"frameId": frame["id"]}
                                                   )["body"]["scopes"]}
        assert scopes["Registers"]["expensive"] is True
        regs = {v["name"]: v["value"] for v in c.request("variables", {
            "variablesReference": scopes["Registers"]["variablesReference"]})["body"]["variables"]}
        assert int(regs["rip"], 16) == int(frame["instructionPointerReference"], 16)
        globals_ = {v["name"]: v for v in c.request("variables", {
            "variablesReference": scopes["Globals (main)"]["variablesReference"]}
        )["body"]["variables"]}
        assert globals_["wg"]["type"] == "sync.WaitGroup"
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_next_over_a_call_that_panics_stops_where_it_is_recovered(go: str | None) -> None:
    with stopped_at("stepping", "call_explode", go) as (c, stop):
        g = stop["threadId"]
        stop = resume(c, "next", g, reason="step")
        assert stop["threadId"] == g
        fn, ln = where(c, stop)
        assert fn == "main.risky.func1", (fn, ln)
        c.request("continue", {"threadId": g})
        assert exit_code(c) == 0
        assert "stepping: recovered: kaboom" in output_text(c, "stdout")


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_breakpoint_on_another_goroutine_during_a_step_stops_there(go: str | None) -> None:
    """As Delve does: the other goroutine's breakpoint is reported and the step is
    abandoned (continuing runs on without stopping where the step would have ended)."""
    with stopped_at("stepping", "call_relay", go) as (c, stop):
        stepping = stop["threadId"]
        path, line = fixtures.line_of("stepping", "sender_bp")
        bp = c.request("setBreakpoints", {"source": {"path": path},
                                          "breakpoints": [{"line": line}]})["body"]
        stop = resume(c, "next", stepping, reason="breakpoint")
        assert stop["threadId"] != stepping
        assert stop["hitBreakpointIds"] == [bp["breakpoints"][0]["id"]]
        assert where(c, stop) == ("main.sender", line)
        at = mark(c)
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert not [e for e in c.messages[at:] if e.get("event") == "stopped"]
        assert "stepping: relayed 42" in output_text(c, "stdout")


def test_shadowed_variables_are_told_apart_as_delve_does() -> None:
    with stopped_at("shadow", "inner", None) as (c, stop):
        frame = top_frame(c, stop["threadId"])
        values = frame_variables(c, frame["id"])
        # the visible x is the inner string; the one it hides is (x)
        assert values["x"]["value"] == '"inner"' and values["x"]["type"] == "string"
        assert values["(x)"]["value"] == "5" and values["(x)"]["type"] == "int"
        ev = c.request("evaluate", {"expression": "x", "frameId": frame["id"]})["body"]
        assert ev["result"] == '"inner"'
        scopes = c.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
        local_ref = next(s["variablesReference"] for s in scopes if s["name"] == "Locals")
        c.request("setVariable", {"variablesReference": local_ref, "name": "(x)",
                                  "value": "10"})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert "15" in output_text(c, "stdout").split()  # 10 + len("hello")


def test_simultaneous_hits_are_each_reported() -> None:
    """Eight goroutines released at once hit one breakpoint: each hit is its own stop."""
    with stopped_at("simul", "hit_body", None, keep=True) as (c, stop):
        ids, goroutines = set(), set()
        for n in range(8):
            assert stop["reason"] == "breakpoint"
            goroutines.add(stop["threadId"])
            ids.add(var(c, stop, "id"))
            if n < 7:
                stop = resume(c, thread_id=stop["threadId"], reason="breakpoint")
        c.request("continue", {"threadId": stop["threadId"]})
        assert ids == {str(i) for i in range(8)}
        assert len(goroutines) == 8
        assert exit_code(c) == 0
        assert "simul: 56" in output_text(c, "stdout")


def test_hit_conditions_n_and_ge_and_conditions_on_function_breakpoints() -> None:
    def stops(**bp: Any) -> list[str]:
        with session("stdio") as c:
            c.request("initialize", {"adapterID": "go"})
            c.request("launch", {"mode": "exec", "program": str(fixtures.build("stepping"))},
                      timeout=60)
            c.wait_event("initialized")
            if "function" in bp:
                c.request("setFunctionBreakpoints", {"breakpoints": [
                    {"name": bp.pop("function"), **bp}]})
            else:
                path, ln = fixtures.line_of("stepping", "fact_rec")
                c.request("setBreakpoints", {"source": {"path": path},
                                             "breakpoints": [{"line": ln, **bp}]})
            at = mark(c)
            c.request("configurationDone")
            seen = []
            while True:
                ev = c.wait_for(lambda m: m.get("event") in ("stopped", "exited"), after=at)
                if ev["event"] == "exited":
                    return seen
                seen.append(var(c, ev["body"], "n"))
                at = mark(c)
                c.request("continue", {"threadId": ev["body"]["threadId"]})

    assert stops(hitCondition="2") == ["4"]  # a bare N is == N, as in Delve
    assert stops(hitCondition=">= 3") == ["3", "2"]
    assert stops(function="main.fact", condition="n == 2") == ["2"]


def test_step_in_by_instruction() -> None:
    with stopped_at("stepping", "call_fact", None) as (c, stop):
        g = stop["threadId"]
        names = []
        for _ in range(12):
            stop = resume(c, "stepIn", g, reason="step", granularity="instruction")
            names.append(where(c, stop)[0])
            if names[-1] == "main.fact":
                break
        assert names[-1] == "main.fact"  # the CALL was followed, one instruction at a time
        assert names[0] == "main.main"
        c.request("disconnect", {"terminateDebuggee": True})
