"""End to end, over stdio and TCP: step in on a `go f()` line stops in the goroutine it
starts (Delve's step into a new goroutine); stepOut by instruction lands on the return
address.

Real dapgo processes, the real tests/fixtures/editor program, on each Go toolchain the
suite supports for stepping.
"""

from __future__ import annotations

import fixtures
import pytest

from .helpers import (
    TRANSPORTS,
    exit_code,
    launch,
    mark,
    resume,
    session,
    set_line_breakpoints,
    wait_stopped,
)

EDITOR = str(fixtures.FIXTURES / "editor")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_step_in_on_a_go_line_stops_in_the_new_goroutine(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "debug", "program": EDITOR})
        bps = set_line_breakpoints(c, "editor", "go_line")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        main_goroutine = stop["threadId"]
        c.request("setBreakpoints", {"source": {"path": bps[0]["source"]["path"]},
                                     "breakpoints": []})
        stop = resume(c, "stepIn", main_goroutine, "step")
        assert stop["threadId"] != main_goroutine
        frames = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
        assert frames[0]["name"] == "main.uniqueSpawnedWorker"
        spawned = fixtures.line_of("editor", "spawned_body")[1]
        assert frames[0]["line"] == spawned - 2  # after the prologue: the declaration
        # a next there stays on the new goroutine
        stop = resume(c, "next", stop["threadId"], "step")
        top = c.request("stackTrace", {"threadId": stop["threadId"], "levels": 1})["body"]
        assert top["stackFrames"][0]["line"] == spawned - 1
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_step_out_by_instruction_lands_on_the_return_address(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "debug", "program": EDITOR})
        bps = set_line_breakpoints(c, "editor", "box_add")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        frames = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
        ret = frames[1]["instructionPointerReference"]
        c.request("setBreakpoints", {"source": {"path": bps[0]["source"]["path"]},
                                     "breakpoints": []})
        stop = resume(c, "stepOut", stop["threadId"], "step", granularity="instruction")
        top = c.request("stackTrace", {"threadId": stop["threadId"], "levels": 1})["body"]
        assert top["stackFrames"][0]["instructionPointerReference"] == ret
        assert top["stackFrames"][0]["name"] == "main.main"
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0


@pytest.mark.parametrize("go", ["1.21.13", "1.24.11"])
def test_step_in_on_a_go_line_on_older_toolchains(go: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAPGO_GO", fixtures.go_binary(go))
    with session("stdio") as c:
        launch(c, {"mode": "debug", "program": EDITOR, "env": {"GOTOOLCHAIN": "local"}})
        bps = set_line_breakpoints(c, "editor", "go_line")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        c.request("setBreakpoints", {"source": {"path": bps[0]["source"]["path"]},
                                     "breakpoints": []})
        new = resume(c, "stepIn", stop["threadId"], "step")
        assert new["threadId"] != stop["threadId"]
        top = c.request("stackTrace", {"threadId": new["threadId"], "levels": 1})["body"]
        assert top["stackFrames"][0]["name"] == "main.uniqueSpawnedWorker"
        c.request("continue", {"threadId": new["threadId"]})
        assert exit_code(c) == 0
