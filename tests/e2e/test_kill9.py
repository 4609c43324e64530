"""A killed dapgo never kills or stops an attached program (issue 18, point 5).

A program is attached with a line breakpoint, a logpoint, an in-kernel condition and a data
breakpoint; dapgo is killed with SIGKILL while the program is stopped (at the line
breakpoint, or at the data breakpoint) or running. The program must go on untraced and
complete its work: it writes the sum it computed, checked against the expected one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient

from .helpers import initialize, mark, resume, top_frame, wait_stopped
from .test_kernel_breakpoints import bpf_ready

Message = dict[str, Any]
ROUNDS = 150
SLEEP_MS = 10


def status_of(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def set_everything(c: DAPClient, line_marker: str) -> None:
    path = fixtures.line_of("hostile", "step_body")[0]
    lines = {m: fixtures.line_of("hostile", m)[1]
             for m in (line_marker, "logged_body", "cond_body", "tick_call")}
    bps = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [
        {"line": lines[line_marker]},  # a plain line breakpoint
        {"line": lines["tick_call"], "hitCondition": f"== {10 ** 9}"},  # a line with a CALL
        {"line": lines["logged_body"], "logMessage": "logged {i}"},
        {"line": lines["cond_body"], "condition": f"i == {10 ** 9}"},  # never true
    ]})["body"]["breakpoints"]
    assert all(bp["verified"] for bp in bps), bps
    console = "".join(e["body"]["output"] for e in c.events("output"))
    assert "evaluated with ptrace" not in console, console  # all of them uprobes


@pytest.mark.skipif(bpf_ready() is not None, reason=str(bpf_ready()))
@pytest.mark.parametrize("state", ["stopped at a line", "stopped at a data breakpoint",
                                   "running"])
def test_kill9_of_dapgo_leaves_an_attached_program_running_untraced(
        state: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # its rounds begin once attached (an attach compiles the BPF program first, ~2 s,
    # while the program runs on)
    prog = subprocess.Popen([str(fixtures.build("hostile")), str(ROUNDS), str(SLEEP_MS),
                             str(out), "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert prog.stdout is not None
        assert prog.stdout.readline().startswith("hostile: ready")
        c = DAPClient.spawn_stdio()
        assert c.proc is not None
        adapter = c.proc
        initialize(c)
        c.request("attach", {"processId": prog.pid}, timeout=60)
        c.wait_event("initialized")
        assert prog.stdin is not None
        prog.stdin.write("go\n")
        prog.stdin.close()
        set_everything(c, "after_loop" if state == "running" else "step_body")
        at = mark(c)
        c.request("configurationDone")
        if state == "running":
            # the line breakpoint waits after the loop; the data breakpoint, set at a
            # pause, stops every round: take one such stop, go on, kill dapgo meanwhile
            time.sleep(0.05)
            c.request("pause", {"threadId": 1})
            stop = wait_stopped(c, after=at)
        else:
            stop = wait_stopped(c, "breakpoint", after=at)
        frame = top_frame(c, stop["threadId"])
        info = c.request("dataBreakpointInfo", {"name": "main.total",
                                                "frameId": frame["id"]})["body"]
        assert info["dataId"], info
        c.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]})
        if state == "stopped at a data breakpoint":
            resume(c, thread_id=stop["threadId"], reason="data breakpoint")
        elif state == "running":
            resume(c, thread_id=stop["threadId"], reason="data breakpoint")
            c.request("continue", {"threadId": stop["threadId"]})
            time.sleep(SLEEP_MS / 2000)
        assert "TracerPid" in status_of(prog.pid)
        c.proc.kill()  # SIGKILL: nothing of dapgo's own runs
        c.proc.wait()
        c.close()
        deadline = time.monotonic() + 60
        while prog.poll() is None:
            st = status_of(prog.pid)
            assert time.monotonic() < deadline, st
            time.sleep(0.05)
        assert prog.returncode == 0, prog.returncode  # not killed (SIGTRAP), not stopped
        text = out.read_text()
        assert text == f"done {ROUNDS * (ROUNDS - 1) // 2} true\n", text
    finally:
        if "adapter" in locals() and adapter.poll() is None:
            adapter.kill()
            adapter.wait()
        if prog.poll() is None:
            os.kill(prog.pid, signal.SIGKILL)
            prog.wait()
