"""End to end: a goroutine whose thread a stop catches inside the runtime's signal handler
(async preemption: the runtime's SIGURG to a goroutine that spins without calls). Its stack
runs through the handler to the code the signal interrupted, and its thread is named after
that code, not after the handler."""

from __future__ import annotations

from typing import Any

import fixtures
import pytest

from .helpers import launch, mark, session, set_line_breakpoints, wait_stopped

Message = dict[str, Any]


@pytest.mark.parametrize("go", [None, "1.21.13"], ids=lambda v: v or "1.27.3")
def test_a_goroutine_stopped_at_the_signal_trampoline_is_named_by_its_own_code(
        go: str | None) -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("preempt", go=go))})
        set_line_breakpoints(c, "preempt", "collect")
        at = mark(c)
        c.request("configurationDone")
        first = wait_stopped(c, "breakpoint", after=at)
        path = fixtures.line_of("preempt", "collect")[0]
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
        # the first instruction of the handler: the thread's g is still the goroutine the
        # signal interrupted (the spinner preempted by a collection, or main)
        (bp,) = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "runtime.sigtramp"}]})["body"]["breakpoints"]
        assert bp["verified"], bp
        at = mark(c)
        c.request("continue", {"threadId": first["threadId"]})
        stop = wait_stopped(c, "function breakpoint", after=at, timeout=30)
        g = stop["threadId"]
        frames = [f["name"] for f in c.request("stackTrace", {"threadId": g})
                  ["body"]["stackFrames"]]
        assert frames[0] == "runtime.sigtramp", frames
        # the user's location (Delve's rule: not a private runtime function); main may be
        # interrupted inside runtime.GC, on its own stack or on the system stack
        interrupted = next((f for f in frames[1:] if not f.startswith("runtime.")
                            or f[8:9].isupper()), None)
        assert interrupted in ("main.spin", "main.main", "runtime.GC"), frames
        names = {t["id"]: t["name"] for t in c.request("threads")["body"]["threads"]}
        assert names[g].startswith(f"* [Go {g}] {interrupted}"), (names[g], frames)
        spinner = [n for n in names.values() if "main.spin" in n]
        assert len(spinner) == 1 and "(Thread " in spinner[0], names
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("disconnect", {"terminateDebuggee": True})
