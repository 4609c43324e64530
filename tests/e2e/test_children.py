"""End to end: a traced program that starts children with os/exec (Go's fork+exec). The
children run untraced: they never stop at, nor die of, the parent's breakpoints.
"""

from __future__ import annotations

from typing import Any

import fixtures
import pytest

from .helpers import (
    exit_code,
    frame_variables,
    launch,
    mark,
    output_text,
    session,
    set_line_breakpoints,
    top_frame,
    wait_stopped,
)

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13"]


def go_id(v: str | None) -> str:
    return v or "1.27.3"


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_children_run_untraced_and_never_inherit_breakpoints(go: str | None) -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("spawner", go=go))})
        # the children run this line too: int3 bytes they inherited would kill them
        (bp,) = set_line_breakpoints(c, "spawner", "work")
        assert bp["verified"] is True
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        frame = top_frame(c, stop["threadId"])
        assert frame_variables(c, frame["id"])["r"]["type"] == "int"
        st = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
        assert st[1]["line"] == fixtures.line_of("spawner", "parent_work")[1]  # the parent's
        out = output_text(c, "stdout")
        assert 'parent: child 1 said "child 1 work 40", err <nil>' in out
        assert 'parent: child 2 said "child 2 work 40", err <nil>' in out
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert len(c.events("stopped")) == 1  # only the parent's own call stopped
        assert "parent: work 10" in output_text(c, "stdout")
