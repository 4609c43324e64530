"""Breakpoints edited while stopped on them: a hit is reported once (issue 18, point 7)."""

from __future__ import annotations

import fixtures
import pytest

from .helpers import exit_code, frame_variables, mark, top_frame, wait_stopped
from .test_kernel_breakpoints import bpf_ready, launch, set_at


@pytest.mark.skipif(bpf_ready() is not None, reason=str(bpf_ready()))
@pytest.mark.parametrize("edit", [{"condition": "i >= 0"}, {"hitCondition": ">= 1"}])
def test_a_breakpoint_made_conditional_while_stopped_on_it_does_not_stop_there_again(
        edit: dict[str, str]) -> None:
    """Stopped on a plain breakpoint (an int3), it becomes conditional (a uprobe at the same
    address): continuing leaves that address without the probe reporting the same hit."""
    from .helpers import session

    seen: list[str] = []
    with session("stdio") as c:
        launch(c, "5")
        path, line = fixtures.line_of("logpoints", "visit_body")
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": line}]})
        at = mark(c)
        c.request("configurationDone")
        for _ in range(5):
            stop = wait_stopped(c, "breakpoint", after=at)
            frame = top_frame(c, stop["threadId"])
            assert frame["line"] == fixtures.line_of("logpoints", "visit_body")[1]
            seen.append(frame_variables(c, frame["id"])["i"]["value"])
            if len(seen) == 2:
                set_at(c, "visit_body", **edit)
            at = mark(c)
            c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c, timeout=60) == 0
    assert seen == ["0", "1", "2", "3", "4"]
