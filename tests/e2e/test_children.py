"""End to end: a traced program that starts children with os/exec (Go's fork+exec). The
children run untraced: they never stop at, nor die of, the parent's breakpoints.
"""

from __future__ import annotations

import os
import time
from typing import Any

import fixtures
import pytest
from bpfcheck import bpf_unavailable

from .helpers import (
    exit_code,
    frame_variables,
    initialize,
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
        # (`r` is declared on the stop's line: in scope from the next one, issue 11's rule)
        assert frame_variables(c, frame["id"])["n"]["type"] == "int"
        st = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
        assert st[1]["line"] == fixtures.line_of("spawner", "parent_work")[1]  # the parent's
        out = output_text(c, "stdout")
        assert 'parent: child 1 said "child 1 work 40", err <nil>' in out
        assert 'parent: child 2 said "child 2 work 40", err <nil>' in out
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert len(c.events("stopped")) == 1  # only the parent's own call stopped
        assert "parent: work 10" in output_text(c, "stdout")


CHILD_STRIDE = 10**12


def next_stop_or_exit(c: Any, after: int, timeout: float = 30) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in c.messages[after:]:
            if m.get("type") == "event" and m["event"] in ("stopped", "exited"):
                return dict(m)
        time.sleep(0.02)
    raise AssertionError("neither a stop nor the exit came")


def stops_until_exit(c: Any, first: Message) -> list[tuple[int, str, str]]:
    """(thread id, thread name, `main.work`'s caller's line marker) of every stop, from
    `first` until the program exits."""
    seen = []
    stop = first
    child_line = fixtures.line_of("spawner", "child_print")[1] - 1
    parent_line = fixtures.line_of("spawner", "parent_work")[1]
    while True:
        tid = stop["threadId"]
        names = {t["id"]: t["name"] for t in c.request("threads")["body"]["threads"]}
        st = c.request("stackTrace", {"threadId": tid})["body"]["stackFrames"]
        assert [f["name"] for f in st][:2] == ["main.work", "main.main"], st
        assert st[0]["source"]["path"] == fixtures.line_of("spawner", "work")[0]
        where = {child_line: "child", parent_line: "parent"}[st[1]["line"]]
        local = frame_variables(c, st[0]["id"])
        assert local["n"]["type"] == "int" and "r" not in local
        args = c.request("evaluate", {"expression": "len(os.Args)", "frameId": st[0]["id"],
                                      "context": "watch"})["body"]["result"]
        assert args == ("3" if where == "child" else "1")
        seen.append((tid, names.get(tid, ""), where))
        at = mark(c)
        c.request("continue", {"threadId": tid})
        got = next_stop_or_exit(c, at)
        if got["event"] == "exited":
            assert got["body"]["exitCode"] == 0
            return seen
        stop = got["body"]


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_follow_exec_debugs_the_children_as_threads_of_their_own(go: str | None) -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("spawner", go=go)),
                   "followExec": True})
        (bp,) = set_line_breakpoints(c, "spawner", "work")
        assert bp["verified"] is True
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at, timeout=30)
        assert stop["hitBreakpointIds"] == [bp["id"]]
        seen = stops_until_exit(c, stop)
        assert [w for _t, _n, w in seen] == ["child", "child", "parent"]
        (t1, n1, _), (t2, n2, _), (t3, _n3, _) = seen
        assert t1 // CHILD_STRIDE != t2 // CHILD_STRIDE and min(t1, t2) > CHILD_STRIDE
        assert t3 < CHILD_STRIDE
        assert n1.startswith("[pid ") and " spawner-" in n1 and n1 != n2
        out = output_text(c, "stdout")
        assert 'parent: child 1 said "child 1 work 40", err <nil>' in out
        assert 'parent: child 2 said "child 2 work 40", err <nil>' in out
        console = output_text(c, "console")
        assert console.count("dapgo: following child process") == 2
        assert console.count("exited with code 0") == 2


def test_follow_exec_regex_follows_only_matching_children() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("spawner")),
                   "followExec": True, "followExecRegex": r"child 2$"})
        set_line_breakpoints(c, "spawner", "work")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at, timeout=30)
        seen = stops_until_exit(c, stop)
        assert [w for _t, _n, w in seen] == ["child", "parent"]
        assert seen[0][0] > CHILD_STRIDE
        assert 'parent: child 1 said "child 1 work 40", err <nil>' in output_text(c, "stdout")
        assert output_text(c, "console").count("dapgo: following child process") == 1


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_follow_exec_into_another_program_built_pie(go: str | None) -> None:
    """The parent runs another program (buildkinds, -buildmode=pie): its breakpoints are
    unverified until the child starts, then verified at the child's own load address; the
    child stops at line and function breakpoints, and steps."""
    other = fixtures.build("buildkinds", go=go, flags=("-buildmode=pie",))
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("spawner", go=go)),
                   "args": [str(other)], "followExec": True,
                   "followExecRegex": "buildkinds"})
        (bp,) = set_line_breakpoints(c, "buildkinds", "visit")
        assert bp["verified"] is False  # the parent has no such file
        (fbp,) = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "main.bump"}]})["body"]["breakpoints"]
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at, timeout=30)
        changed = [e["body"]["breakpoint"] for e in c.events("breakpoint")]
        assert any(b["id"] == bp["id"] and b["verified"] for b in changed), changed
        assert stop["hitBreakpointIds"] == [bp["id"]]
        g = stop["threadId"]
        assert g > CHILD_STRIDE
        names = {t["id"]: t["name"] for t in c.request("threads")["body"]["threads"]}
        assert " buildkinds-" in names[g]
        st = c.request("stackTrace", {"threadId": g})["body"]["stackFrames"]
        assert [f["name"] for f in st][:3] == ["main.visit", "main.main", "runtime.main"]
        assert st[0]["source"]["path"] == fixtures.line_of("buildkinds", "visit")[0]
        assert int(st[0]["instructionPointerReference"], 16) > 0x10000000  # PIE, relocated
        assert frame_variables(c, st[0]["id"])["i"]["type"] == "int"
        ev = c.request("evaluate", {"expression": "main.label", "frameId": st[0]["id"],
                                    "context": "watch"})["body"]
        assert ev["result"] == '"kinds"'
        c.request("setBreakpoints", {"source": {"path": fixtures.line_of("buildkinds",
                                                                         "visit")[0]},
                                     "breakpoints": []})
        at = mark(c)
        c.request("next", {"threadId": g})
        stop = wait_stopped(c, "step", after=at)
        assert stop["threadId"] == g
        frame = top_frame(c, g)
        assert frame["line"] == fixtures.line_of("buildkinds", "visit")[1] + 1
        at = mark(c)
        c.request("stepOut", {"threadId": g})
        stop = wait_stopped(c, "step", after=at)
        assert top_frame(c, stop["threadId"])["name"] == "main.main"
        at = mark(c)
        c.request("continue", {"threadId": g})
        stop = wait_stopped(c, "function breakpoint", after=at, timeout=30)
        assert stop["hitBreakpointIds"] == [fbp["id"]] and stop["threadId"] > CHILD_STRIDE
        assert top_frame(c, stop["threadId"])["name"] == "main.bump"
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c, timeout=30) == 0
        assert 'parent: other said "kinds: 22 12 kinds", err <nil>' in output_text(c, "stdout")
        assert output_text(c, "console").count("dapgo: following child process") == 1


def test_disconnect_while_a_child_is_stopped_leaves_no_process_behind() -> None:
    import re

    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("spawner")),
                   "followExec": True})
        set_line_breakpoints(c, "spawner", "work")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at, timeout=30)
        names = {t["id"]: t["name"] for t in c.request("threads")["body"]["threads"]}
        m = re.match(r"\[pid (\d+) ", names[stop["threadId"]])
        assert m, names
        child = int(m.group(1))
        assert os.path.exists(f"/proc/{child}")
        c.request("disconnect", {"terminateDebuggee": True})
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{child}")


def test_attach_with_follow_exec_then_detach_leaves_everyone_running() -> None:
    import re
    import subprocess

    prog = subprocess.Popen([str(fixtures.build("spawner")), "loop"], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert prog.stdout is not None
        assert prog.stdout.readline().startswith("parent: looping")
        with session("stdio") as c:
            initialize(c)
            c.request("attach", {"mode": "local", "processId": prog.pid,
                                 "followExec": True}, timeout=60)
            c.wait_event("initialized")
            (bp,) = set_line_breakpoints(c, "spawner", "work")
            at = mark(c)
            c.request("configurationDone")
            stop = wait_stopped(c, "breakpoint", after=at, timeout=30)
            assert stop["threadId"] > CHILD_STRIDE and stop["hitBreakpointIds"] == [bp["id"]]
            names = {t["id"]: t["name"] for t in c.request("threads")["body"]["threads"]}
            m = re.match(r"\[pid (\d+) ", names[stop["threadId"]])
            assert m, names
            child = int(m.group(1))
            c.request("disconnect", {"terminateDebuggee": False})
        # the child, detached, finishes its work; the parent goes on starting children
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{child}")
        for _ in range(3):  # children started after the detach run untraced, and fine
            line = prog.stdout.readline()
            assert "work 40" in line and "err <nil>" in line, line
        assert prog.poll() is None
        status = open(f"/proc/{prog.pid}/status").read()
        assert re.search(r"TracerPid:\s+0\n", status)
    finally:
        prog.kill()
        prog.wait()


@pytest.mark.skipif(bpf_unavailable() is not None, reason=str(bpf_unavailable()))
def test_follow_exec_kernel_logpoint_in_the_children() -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("spawner")),
                   "followExec": True})
        path, ln = fixtures.line_of("spawner", "child_print")
        (bp,) = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
            {"line": ln, "logMessage": "child computed r={r}"}]}, timeout=60)["body"]["breakpoints"]
        assert bp["verified"] is True
        c.request("configurationDone")
        assert exit_code(c, timeout=60) == 0
        console = output_text(c, "console")
        assert "ptrace" not in console, console  # in the kernel, in each child
        assert console.count("child computed r=40") == 2, console
        assert not c.events("stopped")


def test_pauses_while_children_are_spawned_and_traced_to_their_exec() -> None:
    """With followExec, children are traced from fork to exec: a pause (every thread
    stopped) that comes while one of the program's threads waits in vfork for its child
    must serve the child meanwhile, or neither ever gets anywhere."""
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(fixtures.build("spawner")),
                   "args": ["loop"], "followExec": True, "followExecRegex": "^nomatch$"})
        c.request("configurationDone")
        deadline = time.monotonic() + 10
        while "parent: child 2 said" not in output_text(c, "stdout"):
            assert time.monotonic() < deadline, output_text(c, "stdout")
            time.sleep(0.05)
        for i in range(25):
            at = mark(c)
            c.request("pause", {"threadId": 1}, timeout=10)
            stop = wait_stopped(c, "pause", after=at, timeout=10)
            c.request("continue", {"threadId": stop["threadId"]}, timeout=10)
            time.sleep(0.005 * (i % 7))
        before = output_text(c, "stdout").count("work 40")
        deadline = time.monotonic() + 10
        while output_text(c, "stdout").count("work 40") < before + 3:
            assert time.monotonic() < deadline, "the program stopped starting children"
            time.sleep(0.05)
        assert "err <nil>" in output_text(c, "stdout").splitlines()[-1]
        c.request("disconnect", {"terminateDebuggee": True})
