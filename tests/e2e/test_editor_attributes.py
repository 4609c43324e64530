"""End to end, over stdio and TCP: events Delve sends (process, invalidated, capabilities)
and launch/attach attributes (stopOnEntry and hideSystemGoroutines on attach,
stackTraceDepth, the working directory of an exec launch).

Real dapgo processes, real Go programs (tests/fixtures), real ptrace.
"""

from __future__ import annotations

import os

import fixtures
import pytest

from .helpers import (
    TRANSPORTS,
    exit_code,
    frame_variables,
    initialize,
    launch,
    mark,
    output_text,
    session,
    set_line_breakpoints,
    start_busy,
    top_frame,
    wait_stopped,
)

EDITOR = str(fixtures.FIXTURES / "editor")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_attach_stop_on_entry_hide_system_goroutines_and_process_event(transport: str) -> None:
    proc = start_busy()
    try:
        with session(transport) as c:
            initialize(c)
            c.request("attach", {"mode": "local", "processId": proc.pid, "stopOnEntry": True,
                                 "hideSystemGoroutines": True})
            c.wait_event("initialized")
            process = c.wait_event("process")["body"]
            assert process["systemProcessId"] == proc.pid
            assert process["startMethod"] == "attach"
            assert process["name"] == os.path.realpath(str(fixtures.build("busy")))
            at = mark(c)
            c.request("configurationDone")
            stop = wait_stopped(c, "entry", after=at)
            names = [t["name"] for t in c.request("threads")["body"]["threads"]]
            assert names and not any("runtime." in n and "main." not in n for n in names), \
                names
            frames = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]
            assert frames["stackFrames"]
            c.request("disconnect", {"terminateDebuggee": False})
        assert proc.poll() is None  # detached, running on
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_set_variable_invalidates_and_stack_trace_depth_pages(transport: str) -> None:
    with session(transport) as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("basic")),
                   "stackTraceDepth": 2})
        set_line_breakpoints(c, "basic", "recurse_base")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        st = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]
        assert len(st["stackFrames"]) == 2 and st["totalFrames"] > 5  # recurse(4) ... main
        more = c.request("stackTrace", {"threadId": stop["threadId"], "startFrame": 2,
                                        "levels": 3})["body"]["stackFrames"]
        assert [f["name"] for f in more] == ["main.recurse"] * 3
        frame = top_frame(c, stop["threadId"])
        scopes = c.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
        # one Locals scope, arguments first (issue 11's layout)
        ref = next(s["variablesReference"] for s in scopes if s["name"] == "Locals")
        at = mark(c)
        c.request("setVariable", {"variablesReference": ref, "name": "n", "value": "0"})
        assert c.wait_event("invalidated", after=at)["body"]["areas"] == ["variables"]
        assert frame_variables(c, top_frame(c, stop["threadId"])["id"])["n"]["value"] == "0"
        bad = c.response(c.send("launch", {"program": "x", "stackTraceDepth": 0}))
        assert bad["success"] is False
        c.request("disconnect")


def test_no_debug_turns_debugging_capabilities_off_and_exec_runs_in_its_folder() -> None:
    binary = fixtures.build("envprint")
    with session("stdio") as c:
        initialize(c)
        c.request("launch", {"mode": "exec", "program": str(binary), "noDebug": True})
        caps = c.wait_event("capabilities")["body"]["capabilities"]
        assert caps["supportsFunctionBreakpoints"] is False
        assert caps["supportsDisassembleRequest"] is False
        assert "supportsRestartRequest" not in caps and "supportsTerminateRequest" not in caps
        assert exit_code(c) == 0
        assert f"cwd={os.path.realpath(os.path.dirname(binary))} " in output_text(c, "stdout")


def test_output_relative_to_cwd(tmp_path: os.PathLike[str]) -> None:
    with session("stdio") as c:
        launch(c, {"mode": "debug", "program": EDITOR, "cwd": str(tmp_path),
                   "output": "bin/editor-bin"})
        assert os.path.exists(os.path.join(tmp_path, "bin", "editor-bin"))
        c.request("configurationDone")
        assert exit_code(c) == 0
