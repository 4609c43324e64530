"""End to end over DAP: logpoints and breakpoint conditions evaluated by uprobes in the
kernel (eBPF): the program never stops for a logpoint, stops only on matching hits of a
condition, and every probe and BPF program is gone afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Any

import fixtures
import pytest
from dapclient import DAPGO, DAPClient

from .helpers import (
    exit_code,
    frame_variables,
    initialize,
    mark,
    output_text,
    session,
    top_frame,
    wait_stopped,
)

Message = dict[str, Any]


def bpf_ready() -> str | None:
    try:
        import bcc  # noqa: F401
    except ImportError as exc:
        return f"bcc is not importable: {exc}"
    return None


pytestmark = pytest.mark.skipif(bpf_ready() is not None, reason=str(bpf_ready()))


def dapgo_programs(wait: float = 5.0) -> list[str]:
    """BPF programs of dapgo still loaded (a closed one is freed after an RCU grace period)."""
    end = time.monotonic() + wait
    while True:
        out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
        progs = [ln for ln in out.splitlines() if "dapgo_probe" in ln]
        if not progs or time.monotonic() > end:
            return progs
        time.sleep(0.05)


def launch(c: DAPClient, *args: str) -> None:
    initialize(c)
    c.request("launch", {"mode": "exec", "program": str(fixtures.build("logpoints")),
                         "args": list(args)}, timeout=60)
    c.wait_event("initialized")


def set_at(c: DAPClient, marker: str, **bp: Any) -> Message:
    path, line = fixtures.line_of("logpoints", marker)
    body = c.request("setBreakpoints", {"source": {"path": path},
                                        "breakpoints": [{"line": line, **bp}] if bp else []},
                     timeout=60)["body"]
    return body["breakpoints"][0] if bp else body


def log_lines(c: DAPClient, needle: str) -> list[str]:
    return [ln for ln in output_text(c, "console").splitlines() if needle in ln]


def test_logpoint_in_the_kernel_prints_every_hit_and_never_stops() -> None:
    n = 100_000
    with session("stdio") as c:
        launch(c, str(n))
        bp = set_at(c, "visit_body", logMessage="i={i} id={it.ID} name={it.Name} "
                                                "next={it.Next} label={label} {{ok}}")
        assert bp["verified"] is True
        c.request("configurationDone")
        assert exit_code(c, timeout=120) == 0
        assert not c.events("stopped")
        console = output_text(c, "console")
        assert "evaluated with ptrace" not in console  # it really ran in the kernel
        lines = log_lines(c, "label=\"loop\"")
        assert len(lines) == n  # every hit printed once
        for i in (0, 1, 2, 77_777, n - 1):
            line = lines[i]
            assert re.match(rf"^\[Go 1\] i={i} id={1 + i % 2} ", line), line
            assert f"name=\"{['one', 'two'][i % 2]}\"" in line, line
            # rendered exactly as `variables` renders them (the ptrace path agrees: below)
            assert (f"next={NEXT_NIL}" if i % 2 else f"next={NEXT_SEVEN}") in line, line
            assert line.endswith("label=\"loop\" {ok}"), line
        assert "lost" not in console
        assert "logpoints: done" in output_text(c, "stdout")
    assert dapgo_programs() == []


NEXT_NIL = "*main.Item nil"
NEXT_SEVEN = '*main.Item {ID: 7, Name: "seven", Next: *main.Item nil}'


def test_kernel_and_ptrace_logpoints_read_the_same() -> None:
    message = "id={it.ID} name={it.Name} next={it.Next} it={it}"
    outputs = []
    for bump in ("", " {i + 0}"):  # the arithmetic sends the second one to ptrace
        with session("stdio") as c:
            launch(c, "2")
            set_at(c, "visit_body", logMessage=message + bump)
            c.request("configurationDone")
            assert exit_code(c) == 0
            assert ("evaluated with ptrace" in output_text(c, "console")) == bool(bump)
            outputs.append([ln.split("] ", 1)[1].removesuffix(" 0").removesuffix(" 1")
                            for ln in log_lines(c, "id=")])
    kernel, ptrace = outputs
    assert kernel == ptrace, (kernel, ptrace)
    assert kernel[0].startswith(f'id=1 name="one" next={NEXT_SEVEN} it=*main.Item {{ID: 1,')


def test_condition_in_the_kernel_stops_only_on_the_matching_goroutine() -> None:
    with session("stdio") as c:
        launch(c, "10")
        bp = set_at(c, "check_body", condition="id == 13 && k == 7")
        assert bp["verified"] is True
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        assert stop["hitBreakpointIds"] == [bp["id"]]
        frame = top_frame(c, stop["threadId"])
        assert frame["name"] == "main.check"
        assert frame["line"] == fixtures.line_of("logpoints", "check_body")[1]
        values = frame_variables(c, frame["id"])
        assert (values["id"]["value"], values["k"]["value"]) == ("13", "7")
        assert "evaluated with ptrace" not in output_text(c, "console")
        at = mark(c)
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert len(c.events("stopped")) == 1  # the 999 other calls never stopped
    assert dapgo_programs() == []


def test_logpoints_added_and_removed_while_running() -> None:
    with session("stdio") as c:
        launch(c, "0", "linger")
        c.request("configurationDone")
        time.sleep(0.2)
        set_at(c, "visit_body", logMessage="tick {i}")
        deadline = time.monotonic() + 10
        while len(log_lines(c, "tick ")) < 5:
            assert time.monotonic() < deadline, output_text(c, "console")
            time.sleep(0.05)
        set_at(c, "visit_body")  # cleared
        time.sleep(0.3)
        count = len(log_lines(c, "tick "))
        time.sleep(0.5)
        assert len(log_lines(c, "tick ")) == count  # no more records once removed
        assert not c.events("stopped")
        c.request("disconnect", {"terminateDebuggee": True})
    assert dapgo_programs() == []


def test_what_the_kernel_cannot_read_falls_back_to_ptrace_and_says_why() -> None:
    with session("stdio") as c:
        launch(c, "3")
        bp = set_at(c, "visit_body", logMessage="sum={i + it.ID}")
        assert bp["verified"] is True
        c.request("configurationDone")
        assert exit_code(c) == 0
        console = output_text(c, "console")
        assert "evaluated with ptrace" in console
        assert [ln.split("] ", 1)[1] for ln in log_lines(c, "sum=")] == [
            "sum=1", "sum=3", "sum=3"]
        assert not c.events("stopped")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run dapgo as user nobody")
def test_without_bpf_permission_logpoints_fall_back_and_doctor_says_so() -> None:
    """As an unprivileged user (kernel.unprivileged_bpf_disabled), ptrace of one's own child
    works and BPF does not: every logpoint falls back, saying why."""
    nobody = ("runuser", "-u", "nobody", "--")
    doctor = subprocess.run([*nobody, DAPGO, "doctor"], capture_output=True, text=True)
    assert "BPF" in doctor.stdout and "MISSING" in doctor.stdout, doctor.stdout
    path, line = fixtures.line_of("logpoints", "visit_body")
    with DAPClient.spawn_stdio(prefix=nobody) as c:
        launch(c, "3")
        bp = set_at(c, "visit_body", logMessage="i={i}")
        assert bp["verified"] is True
        c.request("setFunctionBreakpoints", {"breakpoints": []})  # placed again: said once
        c.request("configurationDone")
        assert exit_code(c) == 0
        console = output_text(c, "console")
        assert console.count(f"logpoint at {path}:{line} is evaluated with ptrace") == 1
        assert "eBPF is not available" in console
        assert [ln.split("] ", 1)[1] for ln in log_lines(c, "i=")] == ["i=0", "i=1", "i=2"]
        assert not c.events("stopped")


def test_condition_on_a_line_starting_with_a_call_stops_at_that_line() -> None:
    """A uprobe's stop lands after the probed instruction: after a CALL that is inside the
    callee. Such a line keeps its condition on the ptrace path, and stops where it should."""
    with session("stdio") as c:
        launch(c, "1")
        bp = set_at(c, "tick_call", condition="i == 3")
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        assert stop["hitBreakpointIds"] == [bp["id"]]
        frame = top_frame(c, stop["threadId"])
        assert (frame["name"], frame["line"]) == (
            "main.main", fixtures.line_of("logpoints", "tick_call")[1])
        assert frame_variables(c, frame["id"])["i"]["value"] == "3"
        assert "line starts with a call or jump" in output_text(c, "console")
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0


def test_lost_logpoint_records_are_counted_and_said() -> None:
    """A one-page ring buffer cannot keep up with 100,000 hits: what is not delivered is
    counted in the kernel and said; delivered + lost is every hit, nothing silent."""
    n = 100_000
    env = {**os.environ, "DAPGO_BPF_RINGBUF_PAGES": "1"}
    with DAPClient.spawn_stdio(env=env) as c:
        launch(c, str(n))
        set_at(c, "visit_body", logMessage="i={i}")
        c.request("configurationDone")
        assert exit_code(c, timeout=120) == 0
        delivered = len(log_lines(c, "i="))
        important = output_text(c, "important")
        total = re.search(r"dapgo: (\d+) logpoint records were lost in all", important)
        assert total is not None, important
        assert int(total.group(1)) > 0
        assert delivered + int(total.group(1)) == n, (delivered, important)
    assert dapgo_programs() == []


def test_step_in_stops_even_where_a_logpoint_runs_in_the_kernel() -> None:
    """stepIn's stopping point (after the callee's prologue) is the address of a kernel
    logpoint on the function's line: the step stops one instruction later, in the callee."""
    with session("stdio") as c:
        launch(c, "3")
        lp = set_at(c, "visit_decl", logMessage="enter {i}")
        assert lp["verified"] is True
        path, loop = fixtures.line_of("logpoints", "loop")
        c.request("setBreakpoints", {"source": {"path": path},
                                     "breakpoints": [{"line": lp["line"], "logMessage":
                                                      "enter {i}"}, {"line": loop}]})
        at = mark(c)
        c.request("configurationDone")
        stop = wait_stopped(c, "breakpoint", after=at)
        c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
            {"line": lp["line"], "logMessage": "enter {i}"}]})
        at = mark(c)
        c.request("stepIn", {"threadId": stop["threadId"]})
        stop = wait_stopped(c, "step", after=at)
        assert top_frame(c, stop["threadId"])["name"] == "main.visit"
        assert "evaluated with ptrace" not in output_text(c, "console")
        c.request("continue", {"threadId": stop["threadId"]})
        assert exit_code(c) == 0
        assert len(log_lines(c, "enter ")) == 3  # the logpoint still printed every hit
