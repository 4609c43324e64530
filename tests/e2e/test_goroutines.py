"""End to end over DAP: goroutines as threads with pprof labels, Delve-syntax filters from
launch.json and from the debug console, maxGoroutines with its console message.
(The engine's filters are tested in depth in tests/goroutines.)
"""

from __future__ import annotations

import re
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import initialize, mark, output_text, session, wait_stopped

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13", "1.24.11"]


def start(c: DAPClient, go: str | None = None, **attrs: Any) -> Message:
    initialize(c)
    c.request("launch", {"mode": "exec", "program": str(fixtures.build("labels", go=go)),
                         **attrs}, timeout=60)
    c.wait_event("initialized")
    path, line = fixtures.line_of("labels", "stop")
    c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": line}]})
    at = mark(c)
    c.request("configurationDone")
    return wait_stopped(c, "breakpoint", after=at)


def names(c: DAPClient) -> list[str]:
    return [t["name"] for t in c.request("threads")["body"]["threads"]]


@pytest.mark.parametrize("go", GO_VERSIONS, ids=lambda v: v or "1.27.3")
def test_launch_filters_and_labels_name_the_threads(go: str | None) -> None:
    with session("stdio") as c:
        stop = start(c, go, showPprofLabels=["team", "worker"],
                     goroutineFilters="-with label team=blue")
        shown = names(c)
        blue = [n for n in shown if "team:blue" in n]
        assert len(blue) == 3, shown
        assert all(re.match(r"^\[Go \d+ team:blue worker:\d\] main\.blueWait$", n) for n in blue)
        # the stopped goroutine is always listed, marked, with its own labels
        stopped = [n for n in shown if n.startswith("* ")]
        assert len(stopped) == 1 and "team:green worker:main" in stopped[0]
        assert "main.report" in stopped[0] and "(Thread " in stopped[0]
        assert len(shown) == 4
        ids = [t["id"] for t in c.request("threads")["body"]["threads"]]
        assert stop["threadId"] in ids
        c.request("disconnect", {"terminateDebuggee": True})


def test_console_command_changes_the_view_and_groups() -> None:
    with session("stdio") as c:
        stop = start(c, showPprofLabels=["team"])
        frame = c.request("stackTrace", {"threadId": stop["threadId"], "levels": 1}
                          )["body"]["stackFrames"][0]
        at = mark(c)
        out = c.request("evaluate", {"expression": "dapgo goroutines -with label team=red",
                                     "context": "repl", "frameId": frame["id"]})["body"]
        assert out["variablesReference"] == 0
        c.wait_event("invalidated", lambda b: b["areas"] == ["threads"], after=at)
        shown = names(c)
        assert len([n for n in shown if "red" in n]) == 2
        assert len(shown) == 3  # two red workers and the stopped goroutine
        grouped = c.request("evaluate", {"expression": "dapgo goroutines -group label team",
                                         "context": "repl"})["body"]["result"]
        assert re.search(r"blue\D+3", grouped) and re.search(r"red\D+2", grouped), grouped
        bad = c.response(c.send("evaluate", {"expression": "dapgo goroutines -with label",
                                             "context": "repl"}))
        assert bad["success"] is False
        assert "label" in bad["body"]["error"]["format"]
        c.request("evaluate", {"expression": "dapgo goroutines -clear", "context": "repl"})
        assert len(names(c)) > 8
        c.request("disconnect", {"terminateDebuggee": True})


def test_max_goroutines_caps_after_filtering_and_says_so() -> None:
    with session("stdio") as c:
        stop = start(c, maxGoroutines=2)
        threads = c.request("threads")["body"]["threads"]
        assert stop["threadId"] in [t["id"] for t in threads]
        assert len(threads) <= 3
        c.wait_event("output", lambda b: b.get("category") == "console"
                     and re.search(r"showing 2 of \d+ goroutines", b["output"]) is not None)
        assert "goroutineFilters" in output_text(c, "console")
        c.request("disconnect", {"terminateDebuggee": True})


def test_bad_filter_on_launch_is_an_error_response() -> None:
    with session("stdio") as c:
        initialize(c)
        resp = c.response(c.send("launch", {
            "mode": "exec", "program": str(fixtures.build("labels")),
            "goroutineFilters": "-with label"}))
        assert resp["success"] is False
        assert "goroutineFilters" in resp["body"]["error"]["format"]
        assert c.request("threads")["success"]
