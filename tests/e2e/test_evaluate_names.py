"""End to end: every value the Variables view lists carries the Go expression for it (DAP
`evaluateName`), which VS Code's "Add to Watch" and "Copy as Expression" use: evaluated, it
gives the very value shown. Fields through pointers, elements, map entries, interfaces'
dynamic values (`fsErr.(*fs.PathError).Op`), complex parts; none for a shadowed variable
or a compiler-named result (`~r0`), which Go cannot write. Before, no variable had one."""

from __future__ import annotations

from typing import Any

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import launch, mark, session, wait_stopped

Message = dict[str, Any]
GO = pytest.mark.parametrize("go", [None, "1.21.13"], ids=lambda v: v or "1.27.3")


def _stopped(c: DAPClient, fixture: str, marker: str, go: str | None) -> int:
    """Stop at `marker`: the frame id."""
    launch(c, {"mode": "exec", "program": str(fixtures.build(fixture, go=go))})
    path, line = fixtures.line_of(fixture, marker)
    c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": line}]})
    at = mark(c)
    c.request("configurationDone")
    thread = wait_stopped(c, "breakpoint", after=at)["threadId"]
    frame: int = c.request("stackTrace", {"threadId": thread, "levels": 1})["body"][
        "stackFrames"][0]["id"]
    return frame


def _locals(c: DAPClient, frame: int) -> list[Message]:
    scope = c.request("scopes", {"frameId": frame})["body"]["scopes"][0]
    got: list[Message] = c.request("variables", {"variablesReference": scope[
        "variablesReference"]})["body"]["variables"]
    return got


def _walk(c: DAPClient, variables: list[Message], depth: int) -> list[Message]:
    """`variables` and their children, to `depth` levels."""
    out = list(variables)
    if depth > 1:
        for v in variables:
            if v.get("variablesReference"):
                kids = c.request("variables", {"variablesReference": v[
                    "variablesReference"]})["body"]["variables"]
                out += _walk(c, kids, depth - 1)
    return out


def _names(c: DAPClient, variables: list[Message]) -> dict[str, Message]:
    return {v["name"]: v for v in variables}


def _children(c: DAPClient, v: Message) -> dict[str, str | None]:
    kids = c.request("variables", {"variablesReference": v["variablesReference"]})["body"][
        "variables"]
    return {k["name"]: k.get("evaluateName") for k in kids}


@GO
@pytest.mark.parametrize("fixture,marker", [("values", "stop"), ("semantics", "interfaces"),
                                            ("semantics", "complex")])
def test_every_evaluate_name_gives_back_the_value_shown(
        go: str | None, fixture: str, marker: str) -> None:
    with session("stdio") as c:
        frame = _stopped(c, fixture, marker, go)
        top = _locals(c, frame)
        for v in top:  # every local Go can name has its name
            plain = not v["name"].startswith(("(", "~"))
            assert (v.get("evaluateName") == v["name"]) == plain, v
        checked = 0
        for v in _walk(c, top, 3):
            name = v.get("evaluateName")
            if name is None:
                continue
            got = c.response(c.send("evaluate", {"expression": name, "frameId": frame,
                                                 "context": "watch"}))
            if v["value"].startswith("(unreadable"):  # the memory is not there either way
                assert not got["success"] and "read memory" in got["message"], (v, got)
            else:
                assert got["success"], (v, got)
                assert got["body"]["result"] == v["value"], (name, v, got["body"])
            checked += 1
        assert checked >= {"stop": 300, "interfaces": 20, "complex": 7}[marker], checked
        c.request("disconnect", {"terminateDebuggee": True})


@GO
def test_evaluate_names_are_written_as_in_go_source(go: str | None) -> None:
    with session("stdio") as c:
        top = _names(c, _locals(c, _stopped(c, "values", "stop", go)))
        assert _children(c, top["pp"]) == {"X": "pp.X", "Y": "pp.Y"}  # through the pointer
        assert _children(c, top["sl"])["[1]"] == "sl[1]"
        assert _children(c, top["c128"]) == {"real": "real(c128)", "imaginary": "imag(c128)"}
        assert _children(c, top["shape"])["Min"] == "shape.(main.Rect).Min"
        tags = _names(c, c.request("variables", {"variablesReference": top["nested"][
            "variablesReference"]})["body"]["variables"])["Tags"]
        assert _children(c, tags) == {'["t"]': 'nested.Tags["t"]'}
        c.request("disconnect", {"terminateDebuggee": True})
    with session("stdio") as c:
        top = _names(c, _locals(c, _stopped(c, "semantics", "interfaces", go)))
        # a standard library error, its package path cut as source code writes it
        assert _children(c, top["fsErr"])["Op"] == "fsErr.(*fs.PathError).Op"
        assert _children(c, top["urlErr"])["URL"] == "urlErr.(*url.Error).URL"
        c.request("disconnect", {"terminateDebuggee": True})


def test_copy_value_evaluates_the_evaluate_name_whole() -> None:
    """VS Code's "Copy Value" (supportsClipboardContext): the view shows a long string cut,
    the clipboard gets it whole (up to 1 MiB)."""
    with session("stdio") as c:
        frame = _stopped(c, "semantics", "longstring", None)
        caps = next(m for m in c.messages if m.get("command") == "initialize")["body"]
        assert caps["supportsClipboardContext"] is True
        long = _names(c, _locals(c, frame))["long"]
        assert long["value"].endswith("more") and len(long["value"]) < 1000, long["value"][-40:]
        got = c.request("evaluate", {"expression": long["evaluateName"], "frameId": frame,
                                     "context": "clipboard"})["body"]["result"]
        assert got.startswith('"0123456789') and len(got) > 1 << 20, len(got)
        c.request("disconnect", {"terminateDebuggee": True})
