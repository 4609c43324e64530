"""End to end on position-independent executables (`go build -buildmode=pie`), on Go 1.21
and 1.27: the program runs at a load address chosen at random by the kernel, and every
address (breakpoints, stacks, values, globals, goroutines, data breakpoints, kernel
uprobes, `dapgo trace`) must be the process's, not the file's.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fixtures
import pytest
from bpfcheck import bpf_unavailable
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
    set_line_breakpoints,
    top_frame,
    wait_stopped,
)

Message = dict[str, Any]
GO_VERSIONS = [None, "1.21.13"]  # None: the default toolchain, 1.27.3
PIE = ("-buildmode=pie",)
FIX = "buildkinds"


def args_in_dwarf(go: str | None) -> bool:
    """Go 1.21's `-N -l` DWARF gives register arguments an empty location (optimized out,
    PIE or not); later toolchains describe them."""
    return go != "1.21.13"


def go_id(v: str | None) -> str:
    return v or "1.27.3"


def pie(go: str | None) -> Path:
    path = fixtures.build(FIX, go=go, flags=PIE)
    with open(path, "rb") as f:
        assert f.read(18)[16] == 3  # ET_DYN: really position independent
    return path


def line(marker: str) -> int:
    return fixtures.line_of(FIX, marker)[1]


def evaluate(c: DAPClient, expr: str, frame_id: int) -> str:
    body = c.request("evaluate", {"expression": expr, "frameId": frame_id,
                                  "context": "watch"})["body"]
    return str(body["result"])


def start(c: DAPClient, go: str | None, *markers: str, **attrs: Any) -> Message:
    launch(c, {"mode": "exec", "program": str(pie(go)), **attrs})
    bps = set_line_breakpoints(c, FIX, *markers) if markers else []
    assert all(b["verified"] for b in bps), bps
    return {"breakpoints": bps}


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_pie_breakpoints_stacks_locals_evaluate_and_stepping(go: str | None) -> None:
    with session("stdio") as c:
        bps = start(c, go, "visit")["breakpoints"]
        fbps = c.request("setFunctionBreakpoints", {"breakpoints": [
            {"name": "main.(*Rect).Area"}]})["body"]["breakpoints"]
        assert fbps[0]["verified"] is True, fbps
        at = mark(c)
        c.request("configurationDone")
        # function breakpoint, reached through an interface call
        stop = wait_stopped(c, "function breakpoint", after=at)
        g = stop["threadId"]
        st = c.request("stackTrace", {"threadId": g})["body"]["stackFrames"]
        names = [f["name"] for f in st]
        assert names[:4] == ["main.(*Rect).Area", "main.area", "main.main", "runtime.main"], names
        assert st[1]["line"] == line("area") and st[2]["line"] == line("main_area")
        assert st[0]["source"]["path"] == fixtures.line_of(FIX, "rect_area")[0]
        # the process's address, not the file's (a Go PIE links at 0x400000)
        assert int(st[0]["instructionPointerReference"], 16) > 0x10000000
        # the caller's interface value: dynamic type read through runtime type descriptors
        caller = frame_variables(c, st[1]["id"])
        assert caller["s"]["value"].startswith("main.Shape(*main.Rect) "), caller["s"]
        assert evaluate(c, "r.W * r.H", st[0]["id"]) == "12"
        assert evaluate(c, "*r", st[0]["id"]) == "main.Rect {W: 3, H: 4}"
        # step out, then the line breakpoint
        stop = resume(c, "stepOut", g, reason="step")
        assert top_frame(c, stop["threadId"])["name"] == "main.area"
        stop = resume(c, "continue", g, reason="breakpoint")
        assert stop["hitBreakpointIds"] == [bps[0]["id"]]
        frame = top_frame(c, stop["threadId"])
        assert (frame["name"], frame["line"]) == ("main.visit", line("visit"))
        local = frame_variables(c, frame["id"])
        if args_in_dwarf(go):
            assert local["i"]["value"] == "0" and local["name"]["value"] == '"item"'
            assert evaluate(c, "i + 40", frame["id"]) == "40"
            assert evaluate(c, "len(name)", frame["id"]) == "4"
        # declared on this line: in scope from the next one (issue 11's rule, Delve's)
        assert "doubled" not in local, local
        assert evaluate(c, "main.label", frame["id"]) == '"kinds"'
        assert evaluate(c, "len(main.label) + 1", frame["id"]) == "6"
        # next, then step in
        c.request("setBreakpoints", {"source": {"path": fixtures.line_of(FIX, "visit")[0]},
                                     "breakpoints": []})
        stop = resume(c, "next", stop["threadId"], reason="step")
        frame = top_frame(c, stop["threadId"])
        assert (frame["name"], frame["line"]) == ("main.visit", line("visit") + 1)
        doubled = frame_variables(c, frame["id"])["doubled"]
        assert doubled["type"] == "int"
        if args_in_dwarf(go):  # 1.21 reads 12 here, PIE or not (left for another day)
            assert doubled["value"] == "0"
        stop = resume(c, "stepOut", stop["threadId"], reason="step")
        assert top_frame(c, stop["threadId"])["name"] == "main.main"
        stop = resume(c, "next", stop["threadId"], reason="step")  # off the call's line
        while top_frame(c, stop["threadId"])["line"] != line("loop"):
            stop = resume(c, "next", stop["threadId"], reason="step")
        stop = resume(c, "stepIn", stop["threadId"], reason="step")
        frame = top_frame(c, stop["threadId"])
        assert frame["name"] == "main.visit"
        if args_in_dwarf(go):
            assert frame_variables(c, frame["id"])["i"]["value"] == "1"
        # goroutines: the one the program starts, found through runtime.allgs
        set_line_breakpoints(c, FIX, "in_goroutine")
        stop = resume(c, "continue", stop["threadId"], reason="breakpoint")
        threads = c.request("threads")["body"]["threads"]
        mine = [t for t in threads if t["id"] == stop["threadId"]]
        assert mine and "main.main.func1" in mine[0]["name"], threads
        assert stop["threadId"] != g
        assert any(t["id"] == 1 for t in threads)  # main's goroutine, waiting
        st = c.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
        assert [f["name"] for f in st][:2] == ["main.main.func1", "runtime.goexit"]
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert "kinds: 30 12 kinds\n" in output_text(c, "stdout")
        assert not c.violations


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_pie_data_breakpoint_on_a_global(go: str | None) -> None:
    with session("stdio") as c:
        start(c, go, "main_area")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        frame = top_frame(c, stop["threadId"])
        info = c.request("dataBreakpointInfo", {"name": "main.counter",
                                                "frameId": frame["id"]})["body"]
        assert info["dataId"], info
        (wp,) = c.request("setDataBreakpoints", {"breakpoints": [
            {"dataId": info["dataId"], "accessType": "write"}]})["body"]["breakpoints"]
        assert wp["verified"] is True, wp
        seen = []
        for _ in range(2):
            stop = resume(c, thread_id=stop["threadId"], reason="data breakpoint")
            frame = top_frame(c, stop["threadId"])
            assert frame["name"] == "main.bump"
            seen.append(evaluate(c, "main.counter", frame["id"]))
        assert seen == ["5", "12"]
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0


@pytest.mark.skipif(bpf_unavailable() is not None, reason=str(bpf_unavailable()))
@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_pie_kernel_logpoint_and_condition(go: str | None) -> None:
    with session("stdio") as c:
        launch(c, {"mode": "exec", "program": str(pie(go)), "args": ["50"]})
        path, ln = fixtures.line_of(FIX, "loop")
        _, end_ln = fixtures.line_of(FIX, "end")
        total = 12 + sum(2 * i + 4 for i in range(50))
        bps = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
            {"line": ln, "logMessage": "i={i} total={total} label=kinds"},
            {"line": end_ln, "condition": f"total == {total}"}]},
            timeout=60)["body"]["breakpoints"]
        assert [b["verified"] for b in bps] == [True, True], bps
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        frame = top_frame(c, stop["threadId"])
        assert frame["line"] == end_ln
        assert evaluate(c, "main.counter", frame["id"]) == "12"
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        console = output_text(c, "console")
        assert "ptrace" not in console  # both ran in the kernel
        lines = [x for x in console.splitlines() if "label=" in x]
        assert len(lines) == 50
        assert lines[0].endswith("i=0 total=12 label=kinds"), lines[0]
        assert lines[49].endswith(f"i=49 total={total - 2 * 49 - 4} label=kinds"), lines[49]
        assert len(c.events("stopped")) == 1


@pytest.mark.skipif(bpf_unavailable() is not None, reason=str(bpf_unavailable()))
@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_pie_dapgo_trace_exec(go: str | None) -> None:
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "dapgo.trace", "trace", "--exec", str(pie(go)),
                        "--stack", "2", r"^main\.(visit|bump)$", "--", "2"],
                       capture_output=True, text=True, timeout=60, cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "kinds: 22 12 kinds\n"
    err = r.stderr
    if args_in_dwarf(go):
        assert '> goroutine(1): main.visit(i=1, name="item")' in err
        assert re.search(r"> goroutine\(\d+\): main\.bump\(n=5\)", err)
    assert ">> goroutine(1): main.visit => (6)" in err
    assert re.search(r">> goroutine\(\d+\): main\.bump => \(5\)", err)
    assert ">> goroutine(1): main.bump => (12)" in err
    assert re.search(r"in main\.main\n\s+at .*buildkinds/main\.go:\d+", err), err
    assert "dapgo trace: 8 records delivered, 0 lost" in err


@pytest.mark.skipif(bpf_unavailable() is not None, reason=str(bpf_unavailable()))
def test_pie_dapgo_trace_pid_and_attach() -> None:
    """A PIE started on its own: `dapgo trace --pid`, then a DAP attach, both at the
    process's addresses; the program runs on after each."""
    root = Path(__file__).resolve().parents[2]
    prog = subprocess.Popen([str(pie(None)), "0", "wait"], stdout=subprocess.PIPE, text=True)
    try:
        assert prog.stdout is not None
        assert prog.stdout.readline().startswith("kinds: waiting")
        tr = subprocess.Popen([sys.executable, "-m", "dapgo.trace", "trace", "--pid",
                               str(prog.pid), r"^main\.visit$"], cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert tr.stderr is not None
        seen: list[str] = []
        while len(seen) < 4:
            ln = tr.stderr.readline()
            assert ln, "dapgo trace ended early"
            if ln.startswith(">"):
                seen.append(ln.strip())
        tr.send_signal(signal.SIGINT)
        _, rest = tr.communicate(timeout=15)
        assert tr.returncode == 0, rest
        assert any(re.fullmatch(r'> goroutine\(1\): main\.visit\(i=\d+, name="waiting"\)', s)
                   for s in seen), seen
        assert any(re.fullmatch(r">> goroutine\(1\): main\.visit => \(\d+\)", s)
                   for s in seen), seen
        assert prog.poll() is None
        with session("stdio") as c:
            initialize(c)
            c.request("attach", {"mode": "local", "processId": prog.pid}, timeout=60)
            c.wait_event("initialized")
            bps = set_line_breakpoints(c, FIX, "visit")
            assert bps[0]["verified"] is True, bps
            at = mark(c)
            c.request("configurationDone")
            stop = wait_stopped(c, "breakpoint", after=at)
            frame = top_frame(c, stop["threadId"])
            assert (frame["name"], frame["line"]) == ("main.visit", line("visit"))
            assert frame_variables(c, frame["id"])["name"]["value"] == '"waiting"'
            c.request("disconnect", {"terminateDebuggee": False})
        time.sleep(0.2)
        assert prog.poll() is None  # detached, running untraced
    finally:
        prog.kill()
        prog.wait()
