"""End to end, over stdio and TCP: function breakpoints named by Delve's location specs
(`f`, `pkg.f`, `(*T).M`, `T.M`, `file.go:N`, `f:N`, `*ADDRESS`), ambiguous and unknown
ones answered with the reason, and every verified one hit where it says.

Real dapgo processes, the real tests/fixtures/editor program.
"""

from __future__ import annotations

import os

import fixtures
import pytest

from .helpers import TRANSPORTS, exit_code, launch, mark, session, top_frame, wait_stopped

EDITOR = str(fixtures.FIXTURES / "editor")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_function_breakpoints_take_delve_location_specs(transport: str) -> None:
    path, secret_line = fixtures.line_of("editor", "secret_set")
    body_line = fixtures.line_of("editor", "handle_body")[1]
    specs = [
        "(*Box).Add",  # 0 a method, pointer receiver
        "main.handle",  # 1 pkg.f
        "main.handle:1",  # 2 a line offset from the declaration: the body's first line
        "strings.ToUpper",  # 3 pkg.f in the standard library
        "Box.handle",  # 4 T.M
        "uniqueSpawnedWorker",  # 5 a unique last part of a name
        f"{os.path.basename(path)}:{secret_line}",  # 6 file.go:N
        "handle",  # 7 ambiguous: main.handle and main.(*Box).handle
        "nosuchfunction",  # 8 unknown
        "editor/main.go:100000",  # 9 no code there
    ]
    with session(transport) as c:
        launch(c, {"mode": "debug", "program": EDITOR, "args": ["plain"]})
        bps = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": s} for s in specs]})["body"]["breakpoints"]
        assert [b["verified"] for b in bps] == [True] * 7 + [False] * 3, bps
        assert bps[2]["line"] == body_line and bps[6]["line"] == secret_line
        assert bps[1]["line"] == body_line - 1  # after the prologue: the declaration's line
        assert "ambiguous" in bps[7]["message"]
        assert "main.handle" in bps[7]["message"] and "main.(*Box).handle" in bps[7]["message"]
        assert "not found" in bps[8]["message"] and "no code" in bps[9]["message"]
        ids = [b["id"] for b in bps]
        # an address (*0x...): the first instruction after (*Box).Add's prologue
        frames: list[tuple[str, list[int]]] = []
        at = mark(c)
        c.request("configurationDone")
        for _ in range(7):
            stop = wait_stopped(c, "function breakpoint", after=at, timeout=30)
            frame = top_frame(c, stop["threadId"])
            frames.append((frame["name"], sorted(stop["hitBreakpointIds"])))
            at = mark(c)
            c.request("continue", {"threadId": stop["threadId"]})
        assert frames == [
            ("main.(*Box).Add", [ids[0]]),
            ("main.handle", [ids[1]]),
            ("main.handle", [ids[2]]),
            ("strings.ToUpper", [ids[3]]),
            ("main.(*Box).handle", [ids[4]]),
            ("main.uniqueSpawnedWorker", [ids[5]]),
            ("main.main", [ids[6]]),
        ], frames
        assert exit_code(c) == 0


def test_an_address_spec_and_a_path_suffix() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "debug", "program": EDITOR, "args": ["plain"]})
        first = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "main.(*Box).Add"}]})["body"]["breakpoints"][0]
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "function breakpoint", after=at)
        pc = top_frame(c, stop["threadId"])["instructionPointerReference"]
        bps = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": f"*{pc}"}, {"name": "main.Box.Add"}, {"name": "*0x10"},
            {"name": "utf8.EncodeRune"}, {"name": "unicode/utf8.EncodeRune"},
            {"name": "main"}]})["body"]["breakpoints"]
        assert bps[0]["verified"] and bps[0]["line"] == first["line"]
        assert bps[1]["verified"] and bps[1]["line"] == first["line"]
        assert bps[2]["verified"] is False and "not in the program's code" in bps[2]["message"]
        assert bps[3]["verified"] and bps[3]["source"]["path"].endswith("unicode/utf8/utf8.go")
        assert bps[4]["line"] == bps[3]["line"]
        assert "ambiguous: runtime.main, main.main" in bps[5]["message"]
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
