"""End to end: next, step in and step out on a goroutine that no thread runs, or whose thread
is blocked in a system call. After a pause that finds every goroutine parked (main in a
channel receive, the other asleep), a step on main runs the program until main comes back
to its own code, then steps from there: next stops at the line after the receive, step out
in the caller. Before, each answered an error ("not running on a thread"). A pause that
finds main's thread inside read(2): next used to single-step that thread with every other
one stopped, so the write it waited for never came, and the adapter hung (not even a
disconnect was answered)."""

from __future__ import annotations

import time
from typing import Any

import fixtures
import pytest

from .helpers import launch, mark, session, set_line_breakpoints, wait_stopped

MAIN = 1  # main's goroutine
GO = pytest.mark.parametrize("go", [None, "1.21.13"], ids=lambda v: v or "1.27.3")


def _pause(c: Any, fixture: str, go: str | None) -> list[dict[str, Any]]:
    """Launch, let main wait, pause: main's frames."""
    launch(c, {"mode": "exec", "program": str(fixtures.build(fixture, go=go))})
    c.request("configurationDone")
    time.sleep(0.3)  # main parks in its receive at once; the sender sleeps 1.5 s
    at = mark(c)
    c.request("pause", {"threadId": MAIN})
    wait_stopped(c, "pause", after=at)
    frames: list[dict[str, Any]] = c.request("stackTrace", {"threadId": MAIN})["body"][
        "stackFrames"]
    return frames


def _paused(c: Any, go: str | None) -> list[dict[str, Any]]:
    """Launch the parked fixture, let main park, pause: main's frames."""
    frames = _pause(c, "parked", go)
    assert frames[0]["name"].startswith("runtime."), frames  # parked in the runtime
    wait = next(f for f in frames if f["name"] == "main.wait")
    assert wait["line"] == fixtures.line_of("parked", "wait_recv")[1]
    return frames


def _step(c: Any, command: str) -> dict[str, Any]:
    at = mark(c)
    c.request(command, {"threadId": MAIN})
    stop = wait_stopped(c, "step", after=at, timeout=30)
    assert stop["threadId"] == MAIN, stop
    top: dict[str, Any] = c.request("stackTrace", {"threadId": MAIN, "levels": 1})["body"][
        "stackFrames"][0]
    return top


def _ends(c: Any, output: str = "got 42\n") -> None:
    at = mark(c)
    c.request("continue", {"threadId": MAIN})
    c.wait_event("exited", after=at, timeout=30)
    assert output in "".join(e["body"]["output"] for e in c.events("output"))


def _in_read(c: Any, go: str | None) -> list[dict[str, Any]]:
    """Launch the sysblock fixture, pause while main's thread is in read(2): its frames."""
    frames = _pause(c, "sysblock", go)
    main = next(f for f in frames if f["name"] == "main.main")
    assert main["line"] == fixtures.line_of("sysblock", "read")[1], frames
    return frames


@GO
def test_next_on_a_parked_goroutine_stops_at_its_next_line(go: str | None) -> None:
    with session("stdio") as c:
        _paused(c, go)
        top = _step(c, "next")
        assert (top["name"], top["line"]) == (
            "main.wait", fixtures.line_of("parked", "wait_after")[1])
        _ends(c)


@GO
def test_step_out_of_a_parked_goroutine_stops_in_the_caller(go: str | None) -> None:
    with session("stdio") as c:
        _paused(c, go)
        top = _step(c, "stepOut")
        assert (top["name"], top["line"]) == (
            "main.main", fixtures.line_of("parked", "main_wait")[1])
        top = _step(c, "next")
        assert (top["name"], top["line"]) == (
            "main.main", fixtures.line_of("parked", "main_after")[1])
        _ends(c)


def test_an_instruction_step_on_a_parked_goroutine_says_why_not() -> None:
    with session("stdio") as c:
        _paused(c, None)
        bad = c.response(c.send("next", {"threadId": MAIN, "granularity": "instruction"}))
        assert not bad["success"] and "instruction step" in bad["message"], bad
        # still stopped, still serving, the frames still there
        assert c.request("stackTrace", {"threadId": MAIN})["body"]["stackFrames"]
        _ends(c)


@GO
def test_next_on_a_goroutine_blocked_in_a_system_call_waits_for_the_call(
        go: str | None) -> None:
    with session("stdio") as c:
        frames = _in_read(c, go)
        # the first frame of code below the innermost that is not the runtime's
        below = next(f for f in frames[1:] if not f["name"].startswith(
            ("runtime.", "internal/", "runtime/internal/")))
        start = time.monotonic()
        top = _step(c, "next")
        assert time.monotonic() - start > 0.5  # it waited for the write
        # at that frame's next line, or in its caller when that line returned
        callers = [f["name"] for f in frames[frames.index(below):]]
        assert top["name"] in callers[:2], (top, callers)
        assert (top["name"], top["line"]) != (below["name"], below["line"]), (top, below)
        _ends(c, "read 1 <nil>\n")


@GO
def test_step_out_of_a_system_call_and_instruction_steps_there(go: str | None) -> None:
    with session("stdio") as c:
        frames = _in_read(c, go)
        bad = c.response(c.send("next", {"threadId": MAIN, "granularity": "instruction"}))
        assert not bad["success"] and "system call" in bad["message"], bad
        top = _step(c, "stepOut")
        assert (top["name"], top["line"]) == (frames[1]["name"], frames[1]["line"]), top
        _ends(c, "read 1 <nil>\n")


@GO
def test_next_through_a_syscall_instruction_lets_the_other_goroutines_run(
        go: str | None) -> None:
    """Line steps through the syscall package's assembly: its SYSCALL instruction is a
    read(2) that waits for another goroutine's write, so it runs with every thread going."""
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("sysblock", go=go))})
        set_line_breakpoints(c, "sysblock", "read")
        at = mark(c)
        c.request("configurationDone")
        wait_stopped(c, "breakpoint", after=at)
        c.request("setBreakpoints", {"source": {"path": fixtures.line_of("sysblock", "read")[0]},
                                     "breakpoints": []})
        syscall6 = ("runtime/internal/syscall.Syscall6" if go == "1.21.13"
                    else "internal/runtime/syscall/linux.Syscall6")
        (bp,) = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": syscall6}]})[
            "body"]["breakpoints"]
        assert bp["verified"], bp
        for _ in range(20):  # the runtime makes system calls of its own through it too
            at = mark(c)
            c.request("continue", {"threadId": MAIN})
            if wait_stopped(c, "function breakpoint", after=at)["threadId"] == MAIN:
                break
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        lines = []
        start = time.monotonic()
        for _ in range(20):  # line by line through Syscall6, past its SYSCALL
            top = _step(c, "next")
            if top["name"] != syscall6:
                break
            lines.append(top["line"])
        assert top["name"] != syscall6, lines  # it left Syscall6: the read returned
        assert time.monotonic() - start > 0.5  # after the write, 1.5 s after the start
        _ends(c, "read 1 <nil>\n")
