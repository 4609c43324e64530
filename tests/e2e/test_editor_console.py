"""End to end, over stdio and TCP: the Debug Console's `dapgo` commands: help (every
command), config (list and set the session's options, as dlv config), sources REGEX,
goroutines -chan / -exec (as Delve), stack -full.

Real dapgo processes, the real tests/fixtures/editor program.
"""

from __future__ import annotations

import fixtures
import pytest
from dapclient import DAPClient, DAPError

from .helpers import (
    TRANSPORTS,
    exit_code,
    launch,
    mark,
    session,
    set_line_breakpoints,
    top_frame,
    wait_stopped,
)

EDITOR = str(fixtures.FIXTURES / "editor")


def console(c: DAPClient, line: str, frame_id: int | None = None) -> str:
    args = {"expression": line, "context": "repl"}
    if frame_id is not None:
        args["frameId"] = frame_id
    return str(c.request("evaluate", args)["body"]["result"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_console_commands(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "debug", "program": EDITOR})
        set_line_breakpoints(c, "editor", "spawned_body")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        frame = top_frame(c, stop["threadId"])
        assert frame["name"] == "main.uniqueSpawnedWorker"

        helptext = console(c, "dapgo help")
        for name in ("config", "goroutines", "help", "sources", "stack"):
            assert f"dapgo {name} " in helptext, helptext
        assert "-chan EXPR" in console(c, "dapgo help goroutines")
        assert console(c, "dapgo help stack").startswith("dapgo stack [-full]")

        listed = console(c, "dapgo config")
        assert "disassembleFlavor    'intel'  # syntax" in listed and "stackTraceDepth " in listed
        assert console(c, "dapgo config disassembleFlavor go") == "disassembleFlavor = 'go'\n"
        insns = c.request("disassemble", {"memoryReference": frame[
            "instructionPointerReference"], "instructionCount": 20})["body"]["instructions"]
        assert any(i["instruction"].startswith("MOVQ ") for i in insns), insns
        with pytest.raises(DAPError, match="at least 1"):
            console(c, "dapgo config stackTraceDepth 0")
        with pytest.raises(DAPError, match="no option"):
            console(c, "dapgo config nosuch 1")
        console(c, "dapgo config maxStringLen 2")
        # a watch shows strings cut at maxStringLen (the console shows them whole)
        value = c.request("evaluate", {"expression": "main.Version", "frameId": frame["id"],
                                       "context": "watch"})
        assert value["body"]["result"].startswith('"de') and "..." in value["body"]["result"]

        sources = console(c, "dapgo sources editor/main")
        assert sources.splitlines()[0] == fixtures.line_of("editor", "box_add")[0]
        assert "1 files" in sources
        assert "no source file matches" in console(c, "dapgo sources ^/nowhere/")

        full = console(c, "dapgo stack -full", frame["id"])
        assert "main.uniqueSpawnedWorker" in full and "v = 21" in full, full
        assert " in main.main\n" not in full  # a goroutine of its own
        with pytest.raises(DAPError, match="select a frame"):
            console(c, "dapgo stack")

        # main waits on the worker's channel: -chan finds it, -exec runs a command on it
        waiting = console(c, "dapgo goroutines -chan ch", frame["id"])
        assert "Goroutine 1 " in waiting and "[1 of" in waiting, waiting
        execd = console(c, "dapgo goroutines -chan ch -exec stack -full 6", frame["id"])
        assert execd.startswith("Goroutine 1:\n") and "main.main" in execd, execd
        assert "mode = " in execd  # main's locals
        with pytest.raises(DAPError, match="not a channel"):
            console(c, "dapgo goroutines -chan v", frame["id"])
        with pytest.raises(DAPError, match="unknown command"):
            console(c, "dapgo frobnicate")
        c.request("setBreakpoints", {"source": {"path": frame["source"]["path"]},
                                     "breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
