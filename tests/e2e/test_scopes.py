"""Scopes over DAP as Delve lays them out (one "Locals" scope, arguments first, that an
editor expands at once; Registers last, expensive, hidden by `showRegisters: false`), and
values as the semantics fixture gives them over the wire, on stdio and TCP."""

from __future__ import annotations

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import TRANSPORTS, launch, session, set_line_breakpoints, wait_stopped

Message = dict[str, object]


def _stop_at(c: DAPClient, marker: str, **extra: object) -> tuple[int, list[Message]]:
    binary = fixtures.build("semantics")
    launch(c, {"mode": "exec", "program": str(binary), **extra})
    (bp,) = set_line_breakpoints(c, "semantics", marker)
    assert bp["verified"], bp
    c.request("configurationDone")
    stop = wait_stopped(c, "breakpoint")
    frames = c.request("stackTrace", {"threadId": stop["threadId"], "levels": 1})["body"]
    scopes = c.request("scopes", {"frameId": frames["stackFrames"][0]["id"]})["body"]
    return int(stop["threadId"]), list(scopes["scopes"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_locals_scope_first_with_arguments_first(transport: str) -> None:
    with session(transport) as c:
        _, scopes = _stop_at(c, "generic")
        assert [(s["name"], s["expensive"], s.get("presentationHint")) for s in scopes] == [
            ("Locals", False, "locals"), ("Registers", True, "registers")]
        got = c.request("variables", {"variablesReference": scopes[0]["variablesReference"]})
        vs = got["body"]["variables"]
        assert [(v["name"], v["type"]) for v in vs] == [
            ("xs", "[]int"), ("scale", "int"), ("~r0", "int"), ("total", "int")]
        assert vs[0]["indexedVariables"] == 3
        c.request("disconnect", {"terminateDebuggee": True})


def test_show_registers_false_hides_the_registers_scope() -> None:
    with session("stdio") as c:
        _, scopes = _stop_at(c, "generic", showRegisters=False)
        assert [s["name"] for s in scopes] == ["Locals"]
        c.request("disconnect", {"terminateDebuggee": True})


def test_unreadable_children_and_repl_strings_over_dap() -> None:
    with session("stdio") as c:
        tid, scopes = _stop_at(c, "unreadable")
        ref = scopes[0]["variablesReference"]
        vs = {v["name"]: v for v in c.request("variables", {"variablesReference": ref})[
            "body"]["variables"]}
        bad = c.request("variables", {"variablesReference": vs["badPtr"]["variablesReference"]})
        assert bad["success"]
        assert bad["body"]["variables"][0]["value"] == (
            "(unreadable: cannot read memory at 0x10)")
        nil_data = c.request("variables", {
            "variablesReference": vs["nilData"]["variablesReference"], "filter": "indexed",
            "start": 0, "count": 3})["body"]["variables"]
        assert [v["value"] for v in nil_data] == [
            f"(unreadable: cannot read memory at {a:#x})" for a in (0, 8, 16)]
        frames = c.request("stackTrace", {"threadId": tid, "levels": 1})["body"]
        r = c.request("evaluate", {"expression": "okValue", "context": "repl",
                                   "frameId": frames["stackFrames"][0]["id"]})["body"]
        assert r["result"] == "17"
        c.request("disconnect", {"terminateDebuggee": True})
