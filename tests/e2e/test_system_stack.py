"""End to end: a goroutine stopped while its thread runs the runtime on the system stack for
it (runtime.systemstack during a collection, runtime.mcall when it parks, runtime.morestack
when its stack grows). Its stack starts where the thread is, in the runtime's frames on the
system stack, and goes on from the switch to the goroutine's own code, as Delve shows it.
Before, such a goroutine was shown from where its stack was saved, without the function a
function breakpoint had stopped in."""

from __future__ import annotations

from typing import Any

import fixtures
import pytest

from .helpers import launch, mark, session, set_line_breakpoints, wait_stopped

Message = dict[str, Any]
GO = pytest.mark.parametrize("go", [None, "1.21.13"], ids=lambda v: v or "1.27.3")


def _frames(c: Any, thread: int) -> list[str]:
    return [f["name"] for f in
            c.request("stackTrace", {"threadId": thread})["body"]["stackFrames"]]


def _stop_in(c: Any, thread: int, function: str, *own: str, tries: int = 50
             ) -> tuple[int, list[str]]:
    """Continue to a function breakpoint on `function` until it stops a goroutine whose
    stack holds one of `own` (the runtime's own goroutines hit it too); its id and
    frames."""
    (bp,) = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": function}]})[
        "body"]["breakpoints"]
    assert bp["verified"], bp
    for _ in range(tries):
        at = mark(c)
        c.request("continue", {"threadId": thread})
        thread = wait_stopped(c, "function breakpoint", after=at, timeout=30)["threadId"]
        frames = _frames(c, thread)
        if set(own) & set(frames):
            return thread, frames
    raise AssertionError(f"{function} never stopped a goroutine in {own}")


def _start(c: Any, go: str | None, marker: str) -> int:
    launch(c, {"mode": "exec", "program": str(fixtures.build("sysstack", go=go))})
    set_line_breakpoints(c, "sysstack", marker)
    at = mark(c)
    c.request("configurationDone")
    thread = wait_stopped(c, "breakpoint", after=at)["threadId"]
    path = fixtures.line_of("sysstack", marker)[0]
    c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
    return int(thread)


def _bridged(frames: list[str], top: str, switch: str, own: list[str]) -> None:
    """frames: `top` first, the switch on the system stack, then the goroutine's own
    frames in order (a recursive one repeated), to the goroutine's start."""
    assert frames[0] == top, frames
    assert switch in frames, frames
    rest = frames[frames.index(switch) + 1:]
    assert list(dict.fromkeys(f for f in rest if f in own)) == own, frames
    assert rest[-1] == "runtime.goexit", frames


@GO
def test_a_function_breakpoint_on_the_system_stack_during_a_collection(
        go: str | None) -> None:
    with session("stdio") as c:
        thread = _start(c, go, "collect")
        g, frames = _stop_in(c, thread, "runtime.gcResetMarkState", "main.main")
        assert g == thread  # main's goroutine, its thread on g0
        _bridged(frames, "runtime.gcResetMarkState", "runtime.systemstack",
                 ["runtime.GC", "main.main", "runtime.main"])
        # frame 0's scopes are the runtime function's, read with its thread's registers
        (frame,) = c.request("stackTrace", {"threadId": g, "levels": 1})["body"][
            "stackFrames"]
        scopes = c.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
        for scope in scopes:
            c.request("variables", {"variablesReference": scope["variablesReference"]})
        names = {t["id"]: t["name"] for t in c.request("threads")["body"]["threads"]}
        assert names[g].startswith(f"* [Go {g}] runtime.GC"), names[g]
        # stepping and calls there are refused, saying why
        step = c.response(c.send("next", {"threadId": g}))
        assert not step["success"] and "system stack" in step["message"], step
        call = c.response(c.send("evaluate", {"expression": "call main.deep(1)",
                                              "frameId": frame["id"], "context": "repl"}))
        assert not call["success"] and "system stack" in call["message"], call
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("disconnect", {"terminateDebuggee": True})


@GO
def test_a_goroutine_parking_through_mcall(go: str | None) -> None:
    with session("stdio") as c:
        thread = _start(c, go, "make")  # before the goroutine starts
        # main parks in its receive or the goroutine in its send: whichever comes first
        _, frames = _stop_in(c, thread, "runtime.park_m", "main.main", "main.main.func1")
        own = "main.main.func1" if "main.main.func1" in frames else "main.main"
        _bridged(frames, "runtime.park_m", "runtime.mcall", ["runtime.gopark", own])
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("disconnect", {"terminateDebuggee": True})


@GO
def test_a_goroutine_whose_stack_grows_through_morestack(go: str | None) -> None:
    with session("stdio") as c:
        thread = _start(c, go, "grow")
        _, frames = _stop_in(c, thread, "runtime.newstack", "main.deep")
        _bridged(frames, "runtime.newstack", "runtime.morestack",
                 ["main.deep", "main.main.func1"])
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("disconnect", {"terminateDebuggee": True})
