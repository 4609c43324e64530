"""End to end with a Go plugin (`-buildmode=plugin`) that a host opens with plugin.Open, on
Go 1.21 and 1.27: line and function breakpoints in the plugin, set before it loads, are
unverified until the dynamic loader maps it (the r_debug link map), then verified (a
`breakpoint` event) and hit; the stack runs from the plugin's code into the host's; the
plugin's locals (its own DWARF types) and evaluate; stepping in the plugin."""

from __future__ import annotations

import os
import subprocess
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
    output_text,
    resume,
    session,
    wait_stopped,
)

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13"]  # None: the default toolchain, 1.27.3
FX = "plugins"


def go_id(v: str | None) -> str:
    return v or "1.27.3"


def frames(c: DAPClient, thread_id: int) -> list[Message]:
    return list(c.request("stackTrace", {"threadId": thread_id})["body"]["stackFrames"])


@pytest.mark.parametrize("pie", [False, True], ids=["exe", "pie"])
@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_breakpoints_in_a_plugin_verified_when_it_loads_and_hit(go: str | None, pie: bool
                                                                ) -> None:
    """Also with a position-independent host: the executable's load bias and the plugin's
    own are both applied."""
    host = fixtures.build(FX, go=go, flags=("-buildmode=pie",) if pie else ())
    plugin = fixtures.build(FX, go=go, flags=("-buildmode=plugin",), package="./plug")
    plug_go, scale_line = fixtures.line_of(FX, "plug_scale")
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(host), "args": [str(plugin)],
                   "showGlobalVariables": True})
        bps = c.request("setBreakpoints", {"source": {"path": plug_go}, "breakpoints": [
            {"line": scale_line}]})["body"]["breakpoints"]
        fbps = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "example.com/plugins/plug.Scale"}]})["body"]["breakpoints"]
        # not loaded yet: unverified, saying why
        assert not bps[0]["verified"] and "not found" in bps[0]["message"]
        assert not fbps[0]["verified"] and "not found" in fbps[0]["message"]
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "function breakpoint", after=at)
        g = stop["threadId"]
        changed = {e["body"]["breakpoint"]["id"]: e["body"]["breakpoint"]
                   for e in c.events("breakpoint")}
        assert changed[bps[0]["id"]]["verified"] and changed[fbps[0]["id"]]["verified"]
        assert changed[fbps[0]["id"]]["source"]["path"] == plug_go
        assert f"loaded Go plugin {os.path.realpath(plugin)}" in output_text(c, "console")
        fs = frames(c, g)
        assert [f["name"] for f in fs] == ["example.com/plugins/plug.Scale", "main.main",
                                           "runtime.main", "runtime.goexit"]
        assert fs[0]["source"]["path"] == plug_go
        assert fs[1]["line"] == fixtures.line_of(FX, "host_call")[1]
        assert frame_variables(c, fs[0]["id"])["n"]["value"] == "1"
        scopes = c.request("scopes", {"frameId": fs[0]["id"]})["body"]["scopes"]
        globs = next(s for s in scopes if s["name"].startswith("Globals"))
        assert globs["name"] == "Globals (example.com/plugins/plug)"
        got = c.request("variables", {"variablesReference": globs["variablesReference"]})
        assert {v["name"]: v["value"] for v in got["body"]["variables"]} == {"calls": "0"}
        assert frame_variables(c, fs[1]["id"])["i"]["value"] == "1"
        # the line breakpoint, then a step: the plugin's local has its value
        stop = resume(c, "continue", g, reason="breakpoint")
        assert frames(c, g)[0]["line"] == scale_line
        c.request("setBreakpoints", {"source": {"path": plug_go}, "breakpoints": []})
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        stop = resume(c, "next", g, reason="step")
        top = frames(c, g)[0]
        assert top["name"] == "example.com/plugins/plug.Scale"
        assert top["line"] == fixtures.line_of(FX, "plug_return")[1]
        ev = c.request("evaluate", {"expression": "n * 100", "frameId": top["id"],
                                    "context": "watch"})["body"]
        assert ev["result"] == "100"
        stop = resume(c, "stepOut", g, reason="step")
        top = frames(c, g)[0]
        assert top["name"] == "main.main"
        # the plugin's package variable, at its load address: Scale ran once
        ev = c.request("evaluate", {"expression": "example.com/plugins/plug.calls",
                                    "frameId": top["id"], "context": "watch"})["body"]
        assert ev["result"] == "1"
        # an interface holding a type only the plugin defines (its main package)
        main_go, made_line = fixtures.line_of(FX, "host_made")
        c.request("setBreakpoints", {"source": {"path": main_go}, "breakpoints": [
            {"line": made_line}]})
        stop = resume(c, "continue", g, reason="breakpoint")
        made = frame_variables(c, frames(c, g)[0]["id"])["made"]
        assert made["value"] == "interface {}(main.Point) {X: 7, Y: 14}", made
        c.request("continue", {"threadId": g})
        assert exit_code(c) == 0
        assert "host: total 74 {7 14}" in output_text(c, "stdout")


def test_attach_to_a_program_with_a_plugin_loaded() -> None:
    """Attached after plugin.Open: the link map already lists the plugin, so a breakpoint
    in it is verified at once and hit."""
    host = fixtures.build(FX)
    plugin = fixtures.build(FX, flags=("-buildmode=plugin",), package="./plug")
    proc = subprocess.Popen([str(host), str(plugin), "loop"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        while b"host: pid" not in proc.stdout.readline():
            pass
        plug_go, scale_line = fixtures.line_of(FX, "plug_scale")
        with session("stdio") as c:
            initialize(c)
            c.request("attach", {"mode": "local", "processId": proc.pid}, timeout=60)
            c.wait_event("initialized")
            bps = c.request("setBreakpoints", {"source": {"path": plug_go}, "breakpoints": [
                {"line": scale_line}]})["body"]["breakpoints"]
            assert bps[0]["verified"], bps
            at = mark(c)
            c.request("configurationDone")
            stop = wait_stopped(c, after=at)
            fs = frames(c, stop["threadId"])
            assert [f["name"] for f in fs[:2]] == ["example.com/plugins/plug.Scale",
                                                   "main.main"]
            assert fs[1]["line"] == fixtures.line_of(FX, "host_loop")[1]
            c.request("disconnect", {"terminateDebuggee": False})
        assert proc.poll() is None  # detached, running on
    finally:
        proc.kill()
        proc.wait()
