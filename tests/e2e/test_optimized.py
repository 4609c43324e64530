"""End to end with optimized builds (plain `go build`) on Go 1.21 and 1.27: calls inlined by
the compiler are frames of their own, a line breakpoint in an inlined function stops in
every copy, a function breakpoint on a function that only exists inlined is verified and
hit, `next` steps over an inlined call and `stepOut` leaves one, location-list values are
read and missing ones say so, and the Locals scope warns that an optimized function's values may
be wrong (Delve's words). Also on a program nobody here wrote: gofmt, built plainly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import exit_code, launch, mark, output_text, resume, session, wait_stopped

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13"]  # None: the default toolchain, 1.27.3
FX = "optimized"
WARNING = " (warning: optimized function)"


def go_id(v: str | None) -> str:
    return v or "1.27.3"


def line(marker: str) -> int:
    return fixtures.line_of(FX, marker)[1]


def frames(c: DAPClient, thread_id: int) -> list[Message]:
    return list(c.request("stackTrace", {"threadId": thread_id})["body"]["stackFrames"])


def where(c: DAPClient, thread_id: int, n: int = 3) -> list[tuple[str, int]]:
    return [(f["name"], f["line"]) for f in frames(c, thread_id)[:n]]


def scope_values(c: DAPClient, frame_id: int) -> tuple[list[str], dict[str, str]]:
    """Scope names, and the values of the Locals scope (arguments first)."""
    scopes = c.request("scopes", {"frameId": frame_id})["body"]["scopes"]
    values = {}
    for s in scopes:
        if s["presentationHint"] in ("arguments", "locals"):
            body = c.request("variables", {"variablesReference": s["variablesReference"]})
            values.update({v["name"]: v["value"] for v in body["body"]["variables"]})
    return [s["name"] for s in scopes], values


def start(c: DAPClient, go: str | None, lines: list[str] = (), functions: list[str] = ()
          ) -> tuple[list[Message], list[Message]]:
    launch(c, {"mode": "exec", "program": str(fixtures.build(FX, go=go, optimized=True))})
    bps = c.request("setBreakpoints", {
        "source": {"path": fixtures.line_of(FX, "inl_square")[0]},
        "breakpoints": [{"line": line(m)} for m in lines]})["body"]["breakpoints"]
    fbps = c.request("setFunctionBreakpoints", {"breakpoints": [
        {"name": n} for n in functions]})["body"]["breakpoints"]
    at = mark(c)
    c.request("configurationDone")
    return bps, [*fbps, wait_stopped(c, after=at)]


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_line_breakpoint_in_an_inlined_function_stops_in_every_copy(go: str | None) -> None:
    with session("stdio") as c:
        bps, (stop,) = start(c, go, ["inl_square"])
        assert bps[0]["verified"], bps
        g = stop["threadId"]
        # square is inlined into compute's loop (4 calls) and twice into main
        assert where(c, g) == [("main.square", line("inl_square")),
                               ("main.compute", line("call_square")),
                               ("main.main", line("main_compute"))]
        names, _ = scope_values(c, frames(c, g)[0]["id"])
        assert names[0] == "Locals" + WARNING  # one scope, arguments first (issue 11)
        for _ in range(3):
            stop = resume(c, "continue", g, reason="breakpoint")
            assert where(c, g, 2)[1][0] == "main.compute"
        # main inlines it twice: each copy is a place of its own
        for call in ("main_square", "main_square2"):
            stop = resume(c, "continue", g, reason="breakpoint")
            assert where(c, g, 2) == [("main.square", line("inl_square")),
                                      ("main.main", line(call))]
        c.request("setBreakpoints", {"source": {"path": fixtures.line_of(FX, "inl_square")[0]},
                                     "breakpoints": []})
        c.request("continue", {"threadId": g})
        assert exit_code(c) == 0
        assert "optimized: 218028960" in output_text(c, "stdout")


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_function_breakpoints_locals_from_location_lists_and_evaluate(go: str | None) -> None:
    with session("stdio") as c:
        # main.(*acc).add exists only inlined (no out-of-line copy in the binary)
        _, (fbp_add, fbp_compute, stop) = start(c, go, ["compute_ret"],
                                                ["main.(*acc).add", "main.compute"])
        assert fbp_add["verified"] and fbp_compute["verified"], (fbp_add, fbp_compute)
        g = stop["threadId"]
        assert stop["reason"] == "function breakpoint"
        assert where(c, g, 1)[0][0] == "main.compute"
        stop = resume(c, "continue", g, reason="function breakpoint")
        assert where(c, g, 2) == [("main.(*acc).add", line("inl_add")),
                                  ("main.compute", line("call_add"))]
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        stop = resume(c, "continue", g, reason="breakpoint")
        assert where(c, g, 1) == [("main.compute", line("compute_ret"))]
        top = frames(c, g)[0]["id"]
        _, values = scope_values(c, top)
        assert values["n"] == "4"  # a location-list entry: n is in RAX here
        assert values["~r0"] == "<optimized out>"  # no location at this pc
        ev = c.request("evaluate", {"expression": "n * 2 + 1", "frameId": top,
                                    "context": "watch"})["body"]
        assert ev["result"] == "9"
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_stepping_over_into_and_out_of_inlined_calls(go: str | None) -> None:
    with session("stdio") as c:
        _, (stop,) = start(c, go, ["main_compute"])
        g = stop["threadId"]
        c.request("setBreakpoints", {"source": {"path": fixtures.line_of(FX, "inl_square")[0]},
                                     "breakpoints": []})
        # next steps over compute and over square, inlined right after the call
        resume(c, "next", g, reason="step")
        assert where(c, g, 1) == [("main.main", line("main_square"))]
        resume(c, "next", g, reason="step")
        # the compiler may have merged `sink = r` into the next line's code
        assert where(c, g, 1)[0] in (("main.main", line("main_square") + 1),
                                     ("main.main", line("main_square2")))
        _, values = scope_values(c, frames(c, g)[0]["id"])
        assert values["r"] == "20880"
        c.request("disconnect", {"terminateDebuggee": True})
    with session("stdio") as c:
        _, (stop,) = start(c, go, ["main_compute"])
        g = stop["threadId"]
        c.request("setBreakpoints", {"source": {"path": fixtures.line_of(FX, "inl_square")[0]},
                                     "breakpoints": []})
        resume(c, "stepIn", g, reason="step")
        assert where(c, g, 1)[0][0] == "main.compute"
        # back in main, the return lands in square's inlined code: its own frame, its
        # argument read from a location list
        resume(c, "stepOut", g, reason="step")
        assert where(c, g, 2) == [("main.square", line("inl_square")),
                                  ("main.main", line("main_square"))]
        assert scope_values(c, frames(c, g)[0]["id"])[1]["x"] == "144"
        # out of the inlined call: the next statement of main
        resume(c, "stepOut", g, reason="step")
        assert where(c, g, 1) == [("main.main", line("main_square"))]
        c.request("disconnect", {"terminateDebuggee": True})


def _gofmt_parse_line(go: str | None) -> tuple[str, int]:
    """gofmt.go of the toolchain, and the line of processFile that calls parse."""
    goroot = subprocess.run([fixtures.go_binary(go), "env", "GOROOT"], capture_output=True,
                            text=True, check=True, env={**os.environ, "GOTOOLCHAIN": "local"}
                            ).stdout.strip()
    path = Path(goroot) / "src" / "cmd" / "gofmt" / "gofmt.go"
    for n, text in enumerate(path.read_text().splitlines(), start=1):
        if ":= parse(fileSet, filename, src, fragmentOk)" in text:
            return str(path), n
    raise AssertionError("no call of parse in gofmt.go")


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_gofmt_built_plainly(go: str | None) -> None:
    """A function that gofmt has only inlined ((*token.File).Base), a line in a function
    of gofmt's main package: verified, hit, whole stacks with inlined frames, values,
    next over the line."""
    gofmt_go, parse_line = _gofmt_parse_line(go)
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.gofmt(go)),
                   "args": ["-l", fixtures.line_of(FX, "inl_square")[0]]})
        fbps = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "main.processFile"}, {"name": "go/token.(*File).Base"}]})["body"]
        assert [b["verified"] for b in fbps["breakpoints"]] == [True, True], fbps
        bps = c.request("setBreakpoints", {"source": {"path": gofmt_go}, "breakpoints": [
            {"line": parse_line}]})["body"]["breakpoints"]
        assert bps[0]["verified"], bps
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "function breakpoint", after=at)
        g = stop["threadId"]
        names = [n for n, _ in where(c, g, 50)]
        # gofmt formats each file on a goroutine of its own
        assert names[0] == "main.processFile" and names[-1] == "runtime.goexit", names
        assert any(n.startswith("main.gofmtMain.func") for n in names), names
        scopes, values = scope_values(c, frames(c, g)[0]["id"])
        assert scopes[0] == "Locals" + WARNING
        assert values["filename"] == f'"{fixtures.line_of(FX, "inl_square")[0]}"', values
        # the line that calls parse: its locals; next goes over the call
        stop = resume(c, "continue", g, reason="breakpoint")
        assert where(c, g, 1) == [("main.processFile", parse_line)]
        _, values = scope_values(c, frames(c, g)[0]["id"])
        assert values["fragmentOk"] in ("false", "<optimized out>"), values
        c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "go/token.(*File).Base"}]})
        # parse calls (*token.File).Base (inlined somewhere under it): that stops first
        stop = resume(c, "continue", g, reason="function breakpoint")
        fs = frames(c, stop["threadId"])
        assert fs[0]["name"] == "go/token.(*File).Base"
        assert fs[0]["source"]["path"].endswith("go/token/position.go")
        # the function it is inlined into is the next frame, at the same pc
        assert fs[1]["instructionPointerReference"] == fs[0]["instructionPointerReference"]
        assert fs[-1]["name"] == "runtime.goexit"
        assert "main.processFile" in [f["name"] for f in fs], [f["name"] for f in fs]
        # out of the inlined call: into the function it is inlined in, same goroutine
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("setBreakpoints", {"source": {"path": gofmt_go}, "breakpoints": []})
        stop = resume(c, "stepOut", stop["threadId"], reason="step")
        out = frames(c, stop["threadId"])
        assert out[0]["name"] == fs[1]["name"], (out[0], fs[1])
        assert len(out) == len(fs) - 1
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
