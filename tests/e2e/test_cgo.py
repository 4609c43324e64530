"""End to end with a cgo program (Go calls C, C calls back into Go) on Go 1.21 and 1.27:
breakpoints in Go code called from C and in C code, whole stacks across both stack switches
(goroutine stack -> system stack at runtime.cgocallback, back at runtime.asmcgocall), C
frames named by their symbols with file and line, locals, evaluate and stepping in Go."""

from __future__ import annotations

import time
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import exit_code, frame_variables, launch, mark, resume, session, wait_stopped

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13"]  # None: the default toolchain, 1.27.3
FX = "cgocall"


def go_id(v: str | None) -> str:
    return v or "1.27.3"


def stack(c: DAPClient, thread_id: int) -> list[Message]:
    return list(c.request("stackTrace", {"threadId": thread_id})["body"]["stackFrames"])


def start(c: DAPClient, go: str | None, lines: list[str], functions: list[str] = (),
          flags: tuple[str, ...] = ()) -> tuple[list[Message], list[Message]]:
    launch(c, {"mode": "exec", "program": str(fixtures.build(FX, go=go, flags=flags))})
    path = fixtures.line_of(FX, "goadd")[0]
    bps = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
        {"line": fixtures.line_of(FX, m)[1]} for m in lines]})["body"]["breakpoints"]
    fbps = c.request("setFunctionBreakpoints", {"breakpoints": [
        {"name": n} for n in functions]})["body"]["breakpoints"]
    return bps, fbps


def names(frames: list[Message]) -> list[str]:
    return [f["name"] for f in frames]


@pytest.mark.parametrize("pie", [False, True], ids=["exe", "pie"])
@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_breakpoint_in_go_called_from_c_shows_the_whole_stack(go: str | None, pie: bool
                                                              ) -> None:
    """Also built position independent: C symbols, lines and CFA rules at the load bias."""
    with session("stdio") as c:
        bps, _ = start(c, go, ["goadd"], flags=("-buildmode=pie",) if pie else ())
        assert bps[0]["verified"], bps
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        g = stop["threadId"]
        frames = stack(c, g)
        got = names(frames)
        # Go <- cgocallback <- crosscall2 <- C (export wrapper, c_helper, c_entry) <- the
        # cgo call on the goroutine's stack <- main
        order = ["main.goAdd", "runtime.cgocallback", "crosscall2", "goAdd", "c_helper",
                 "c_entry", "runtime.asmcgocall", "runtime.cgocall", "main.callC", "main.main"]
        idx = [got.index(n) for n in order]
        assert idx == sorted(idx), got
        assert got[-1] == "runtime.goexit", got
        by_name = {f["name"]: f for f in frames}
        helper = by_name["c_helper"]
        assert helper["source"]["path"] == fixtures.line_of(FX, "c_calls_go")[0]
        assert helper["line"] == fixtures.line_of(FX, "c_calls_go")[1]
        assert by_name["c_entry"]["line"] == fixtures.line_of(FX, "c_entry_call")[1]
        assert by_name["main.callC"]["line"] == fixtures.line_of(FX, "callc")[1]
        assert by_name["goAdd"]["source"]["path"].endswith("_cgo_export.c")
        # locals and evaluate in the Go frame; a C frame has no Go variables
        top = frames[0]["id"]
        vs = frame_variables(c, top)
        assert (vs["a"]["value"], vs["b"]["value"]) == ("2", "1")
        ev = c.request("evaluate", {"expression": "int64(a) * 10 + int64(b)", "frameId": top,
                                    "context": "watch"})["body"]
        assert ev["result"] == "21"
        outer = by_name["main.callC"]["id"]
        assert frame_variables(c, outer)["n"]["value"] == "0"
        assert set(frame_variables(c, helper["id"])) <= {"pc", "sp", "cfa"}  # registers only
        # stepping in Go code called from C
        stop = resume(c, "next", g, reason="step")
        assert stack(c, g)[0]["line"] == fixtures.line_of(FX, "goadd")[1] + 1
        assert frame_variables(c, stack(c, g)[0]["id"])["sum"]["value"] == "3"
        stop = resume(c, "next", g, reason="step")
        assert stack(c, g)[0]["line"] == fixtures.line_of(FX, "goadd_return")[1]
        # over the return: into cgo's Go wrapper that C called, the stack still whole
        stop = resume(c, "next", g, reason="step")
        frames = stack(c, g)
        assert frames[0]["name"].startswith("_cgoexp_") and "c_helper" in names(frames)
        # the second call (n == 1): continue hits the breakpoint again
        stop = resume(c, "continue", g, reason="breakpoint")
        vs = frame_variables(c, stack(c, stop["threadId"])[0]["id"])
        assert vs["a"]["value"] == "4"
        c.request("setBreakpoints", {"source": {"path": fixtures.line_of(FX, "goadd")[0]},
                                     "breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_breakpoints_in_c_code_line_and_function(go: str | None) -> None:
    with session("stdio") as c:
        bps, fbps = start(c, go, ["c_helper"], ["c_entry", "main.goAdd"])
        assert bps[0]["verified"], bps
        assert [b["verified"] for b in fbps] == [True, True], fbps
        at = mark(c)
        c.request("configurationDone")
        # c_entry runs first, then c_helper, then goAdd (Go)
        stop = wait_stopped(c, "function breakpoint", after=at)
        frames = stack(c, stop["threadId"])
        assert frames[0]["name"] == "c_entry", names(frames)
        assert names(frames)[-3:] == ["main.main", "runtime.main", "runtime.goexit"]
        stop = resume(c, "continue", stop["threadId"], reason="breakpoint")
        frames = stack(c, stop["threadId"])
        assert frames[0]["name"] == "c_helper"
        assert frames[0]["line"] == fixtures.line_of(FX, "c_helper")[1]
        assert names(frames)[1] == "c_entry"
        assert "main.callC" in names(frames)
        # line steps in C are refused, saying why, where it stands
        stop = resume(c, "next", stop["threadId"], reason="step")
        assert "not supported in C code (c_helper)" in stop["description"], stop
        assert stack(c, stop["threadId"])[0]["name"] == "c_helper"
        stop = resume(c, "continue", stop["threadId"], reason="function breakpoint")
        frames = stack(c, stop["threadId"])
        assert frames[0]["name"] == "main.goAdd" and "c_helper" in names(frames)
        # the next call: step out of C code (its CFA rule gives the return address)
        c.request("setBreakpoints", {"source": {"path": fixtures.line_of(FX, "goadd")[0]},
                                     "breakpoints": []})
        c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "c_entry"}]})
        stop = resume(c, "continue", stop["threadId"], reason="function breakpoint")
        assert stack(c, stop["threadId"])[0]["name"] == "c_entry"
        stop = resume(c, "stepOut", stop["threadId"], reason="step")
        frames = stack(c, stop["threadId"])
        assert frames[0]["name"].endswith("_Cfunc_c_entry"), names(frames)
        assert frames[0]["source"]["path"].endswith("cgo-gcc-prolog")
        assert "main.callC" in names(frames)
        c.request("disconnect", {"terminateDebuggee": True})


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_pause_while_a_goroutine_waits_in_c_and_libc(go: str | None) -> None:
    """The main goroutine sits in usleep (libc) called by C code called from Go: its stack
    goes from where the thread is, through libc and C, back to the goroutine's own
    frames."""
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build(FX, go=go)),
                   "args": ["wait"]})
        c.request("configurationDone")
        time.sleep(0.5)
        at = mark(c)
        c.request("pause", {"threadId": 1})
        wait_stopped(c, "pause", after=at)
        frames = stack(c, 1)
        got = names(frames)
        assert got[-4:] == ["main.waitInC", "main.main", "runtime.main", "runtime.goexit"], got
        # libc's frames (named by its .dynsym, unwound with its .eh_frame), then the C code
        order = ["usleep", "c_wait", "runtime.asmcgocall", "runtime.cgocall", "main.waitInC"]
        idx = [got.index(n) for n in order]
        assert idx == sorted(idx), got
        wait = frames[got.index("c_wait")]
        assert wait["line"] == fixtures.line_of(FX, "c_wait")[1]
        assert frames[got.index("main.waitInC")]["line"] == fixtures.line_of(FX, "wait_in_c")[1]
        c.request("disconnect", {"terminateDebuggee": True})
