"""End to end on binaries whose source paths are not this machine's: `-trimpath` builds
(paths like "example.com/buildkinds/main.go" and "runtime/proc.go"), on Go 1.21 and 1.27,
with Delve's `substitutePath` (launch, attach, and `dapgo config substitutePath` in the
Debug Console) mapping both ways; without it a breakpoint is unverified, with a message,
and never lands on another file by its base name.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import (
    exit_code,
    frame_variables,
    initialize,
    launch,
    mark,
    resume,
    session,
    set_line_breakpoints,
    top_frame,
    wait_stopped,
)

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13"]
FIX = "buildkinds"
MODULE = "example.com/buildkinds"


def go_id(v: str | None) -> str:
    return v or "1.27.3"


def goroot(go: str | None) -> str:
    return subprocess.run([fixtures.go_binary(go), "env", "GOROOT"], capture_output=True,
                          text=True, check=True).stdout.strip()


def trimmed(go: str | None) -> Path:
    return fixtures.build(FIX, go=go, flags=("-trimpath",))


def rules(go: str | None) -> list[Message]:
    here = str(fixtures.FIXTURES / FIX)
    return [{"from": here, "to": MODULE}, {"from": goroot(go) + "/src", "to": ""}]


def line(marker: str) -> int:
    return fixtures.line_of(FIX, marker)[1]


def src() -> str:
    return fixtures.line_of(FIX, "visit")[0]


def check_stopped_in_visit(c: DAPClient, stop: Message, go: str | None) -> None:
    """Stack, locals, evaluate at the visit breakpoint, with every path a local one."""
    st = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
    assert [f["name"] for f in st][:3] == ["main.visit", "main.main", "runtime.main"]
    assert st[0]["source"]["path"] == src() and st[0]["line"] == line("visit")
    assert st[1]["source"]["path"] == src()
    runtime_src = st[2]["source"]["path"]
    assert runtime_src == goroot(go) + "/src/runtime/proc.go" and os.path.exists(runtime_src)
    local = frame_variables(c, st[0]["id"])
    # `doubled` is declared on this line: in scope from the next one (issue 11's rule)
    assert "doubled" not in local, local
    ev = c.request("evaluate", {"expression": "len(main.label) * 2", "frameId": st[0]["id"],
                                "context": "watch"})["body"]
    assert ev["result"] == "10"
    # the disassembly view names the same local sources
    dis = c.request("disassemble", {"memoryReference": st[0]["instructionPointerReference"],
                                    "instructionOffset": -4, "instructionCount": 8}
                    )["body"]["instructions"]
    assert {i["location"]["path"] for i in dis if "location" in i} == {src()}, dis


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_trimpath_with_substitute_path_on_launch(go: str | None) -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(trimmed(go)), "substitutePath": rules(go)})
        bps = set_line_breakpoints(c, FIX, "visit")
        assert bps[0]["verified"] is True, bps
        assert bps[0]["source"]["path"] == src() and bps[0]["line"] == line("visit")
        fbp = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "main.bump"}]}
                        )["body"]["breakpoints"][0]
        assert fbp["verified"] is True and fbp["source"]["path"] == src(), fbp
        # a breakpoint in the standard library, at its local path under GOROOT
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        check_stopped_in_visit(c, stop, go)
        g = stop["threadId"]
        c.request("setBreakpoints", {"source": {"path": src()}, "breakpoints": []})
        stop = resume(c, "next", g, reason="step")
        frame = top_frame(c, stop["threadId"])
        assert (frame["source"]["path"], frame["line"]) == (src(), line("visit") + 1)
        stop = resume(c, "stepOut", g, reason="step")
        assert top_frame(c, stop["threadId"])["name"] == "main.main"
        stop = resume(c, "next", g, reason="step")
        while top_frame(c, stop["threadId"])["line"] != line("loop"):
            stop = resume(c, "next", g, reason="step")
        stop = resume(c, "stepIn", g, reason="step")
        frame = top_frame(c, stop["threadId"])
        assert frame["name"] == "main.visit" and frame["source"]["path"] == src()
        stop = resume(c, "continue", g, reason="function breakpoint")
        frame = top_frame(c, stop["threadId"])
        assert frame["name"] == "main.bump" and frame["source"]["path"] == src()
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert not c.violations


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_trimpath_without_rules_is_unverified_then_console_config_maps_it(
        go: str | None) -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(trimmed(go))})
        (bp,) = set_line_breakpoints(c, FIX, "visit")
        assert bp["verified"] is False
        assert src() in bp["message"] and f"{MODULE}/main.go" in bp["message"]
        assert "substitutePath" in bp["message"]
        # another program's main.go: never matched by its base name
        other, other_line = fixtures.line_of("basic", "add_body")
        (ob,) = c.request("setBreakpoints", {"source": {"path": other}, "breakpoints": [
            {"line": other_line}]})["body"]["breakpoints"]
        assert ob["verified"] is False and "file not found in the binary" in ob["message"]

        def console(text: str) -> str:
            return str(c.request("evaluate", {"expression": text, "context": "repl"}
                                 )["body"]["result"])

        here = str(fixtures.FIXTURES / FIX)
        out = console(f"dapgo config substitutePath {here} {MODULE}")
        assert f"{here} -> {MODULE}" in out
        console(f"dapgo config substitutePath {goroot(go)}/src ''")
        assert "(relative paths)" in console("dapgo config -list")
        (bp,) = set_line_breakpoints(c, FIX, "visit")
        assert bp["verified"] is True and bp["source"]["path"] == src(), bp
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        check_stopped_in_visit(c, stop, go)
        # removing the rules: frames show the binary's own paths again
        console(f"dapgo config substitutePath {here}")
        assert console(f"dapgo config substitutePath {goroot(go)}/src") == \
            "substitutePath: no rules\n"
        assert "invalidated" in [e["event"] for e in c.messages if e["type"] == "event"]
        frame = top_frame(c, stop["threadId"])
        assert frame["source"]["path"] == f"{MODULE}/main.go"
        with pytest.raises(Exception, match="no substitutePath rule"):
            console("dapgo config substitutePath /no/such/rule")
        c.request("disconnect", {"terminateDebuggee": True})


def test_bad_substitute_path_is_an_error_response() -> None:
    with session("stdio") as c:
        initialize(c)
        for bad in ("/a:/b", [{"from": "/a"}], [["/a", "/b"]]):
            r = c.response(c.send("launch", {"mode": "exec", "program": str(trimmed(None)),
                                             "substitutePath": bad}))
            assert r["success"] is False and "substitutePath" in r["message"], r
        # the session still serves
        launch_ok = c.request("launch", {"mode": "exec", "program": str(trimmed(None)),
                                         "substitutePath": rules(None)}, timeout=60)
        assert launch_ok["success"] is True
        c.request("disconnect", {"terminateDebuggee": True})


def test_attach_to_a_trimpath_program_with_substitute_path() -> None:
    prog = subprocess.Popen([str(trimmed(None)), "0", "wait"], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert prog.stdout is not None
        assert prog.stdout.readline().startswith("kinds: waiting")
        with session("stdio") as c:
            initialize(c)
            c.request("attach", {"mode": "local", "processId": prog.pid,
                                 "substitutePath": rules(None)}, timeout=60)
            c.wait_event("initialized")
            (bp,) = set_line_breakpoints(c, FIX, "visit")
            assert bp["verified"] is True, bp
            at = mark(c)
            c.request("configurationDone")
            stop = wait_stopped(c, "breakpoint", after=at)
            frame = top_frame(c, stop["threadId"])
            assert (frame["source"]["path"], frame["line"]) == (src(), line("visit"))
            c.request("disconnect", {"terminateDebuggee": False})
        time.sleep(0.2)
        assert prog.poll() is None
    finally:
        prog.kill()
        prog.wait()
