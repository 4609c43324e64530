"""End to end over DAP: metric points (`{#count}`, `{#latency by team}` as a logpoint's
message) counted in the kernel: exact counts, latencies of a 20 ms sleep in their log2
bucket, split by a pprof label; the program never stops; `dapgo metrics` shows the table,
a removed point's final figures are printed, and one the kernel cannot take is unverified.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fixtures
import pytest
from dapclient import DAPClient
from metrictables import check_sleeps, histograms, rows

from .helpers import TRANSPORTS, initialize, output_text, session
from .test_kernel_breakpoints import bpf_ready, dapgo_programs

pytestmark = pytest.mark.skipif(bpf_ready() is not None, reason=str(bpf_ready()))
Message = dict[str, Any]


@contextmanager
def metrics_program(go: str | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([str(fixtures.build("metrics", go=go))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("metrics: ready")
        yield proc
    finally:
        proc.kill()
        proc.wait()


def go_on(proc: subprocess.Popen[str]) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    return proc.stdout.readline()


def console(c: DAPClient, command: str) -> str:
    return str(c.request("evaluate", {"expression": command, "context": "repl"},
                         timeout=30)["body"]["result"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_counts_and_latency_by_label_without_stopping(transport: str) -> None:
    handle = fixtures.line_of("metrics", "handle_body")
    tick = fixtures.line_of("metrics", "tick_body")
    with metrics_program() as proc, session(transport) as c:
        initialize(c)
        c.request("attach", {"mode": "local", "processId": proc.pid}, timeout=60)
        c.wait_event("initialized")
        assert handle[0] == tick[0]
        bps = c.request("setBreakpoints", {"source": {"path": handle[0]}, "breakpoints": [
            {"line": handle[1], "logMessage": "{#latency by team}"},
            {"line": tick[1], "logMessage": "{#count}"}]}, timeout=60)["body"]["breakpoints"]
        assert all(bp["verified"] for bp in bps), bps
        c.request("configurationDone")
        assert go_on(proc).startswith("metrics: done 499500")
        assert not c.events("stopped")
        table = rows(console(c, "dapgo metrics"))
        name = f"main.go:{tick[1]}"
        assert table[(f"{name} count", "(all)")][0] == "1000"
        lat = f"main.go:{handle[1]} latency"
        assert table[(lat, "team=red")][0] == "3"
        assert table[(lat, "team=blue")][0] == "5"
        hist = histograms(console(c, "dapgo metrics -hist"))
        for key, calls in (("team=red", 3), ("team=blue", 5)):
            check_sleeps(hist[key], calls)
        # a removed metric point says what it counted before it goes
        c.request("setBreakpoints", {"source": {"path": tick[0]}, "breakpoints": [
            {"line": handle[1], "logMessage": "{#latency by team}"}]}, timeout=60)
        final = output_text(c, "console")
        assert "final metric figures" in final and re.search(
            rf"{name}\s+count\s+\(all\)\s+1000\b", final), final
        c.request("disconnect", {"terminateDebuggee": False})
        c.wait_closed()
    assert dapgo_programs() == []


def test_metric_point_the_kernel_cannot_take_is_unverified() -> None:
    tick = fixtures.line_of("metrics", "tick_body")
    with metrics_program() as proc, session("stdio") as c:
        initialize(c)
        c.request("attach", {"mode": "local", "processId": proc.pid}, timeout=60)
        c.wait_event("initialized")
        # two latency metric points in one function: its entry can carry only one probe
        func = fixtures.line_of("metrics", "handle_func")
        handle = fixtures.line_of("metrics", "handle_body")
        bps = c.request("setBreakpoints", {"source": {"path": tick[0]}, "breakpoints": [
            {"line": handle[1], "logMessage": "{#latency by team}"},
            {"line": func[1], "logMessage": "{#latency}"}]}, timeout=60)["body"]["breakpoints"]
        states = {b["line"]: b for b in bps}
        refused = [b for b in bps if not b["verified"]]
        assert len(refused) == 1 and "already" in refused[0]["message"], bps
        assert states[handle[1]]["verified"]
        bad = c.request("setBreakpoints", {"source": {"path": tick[0]}, "breakpoints": [
            {"line": tick[1], "logMessage": "{#count} extra"}]},
            timeout=60)["body"]["breakpoints"][0]
        assert not bad["verified"] and "one directive" in bad["message"]
        c.request("configurationDone")
        c.request("disconnect", {"terminateDebuggee": False})
        c.wait_closed()


def test_latency_by_label_on_go_1_21_map_labels() -> None:
    """Go <= 1.23 keeps pprof labels in a map: the kernel finds the key in its buckets."""
    handle = fixtures.line_of("metrics", "handle_body")
    with metrics_program("1.21.13") as proc, session("stdio") as c:
        initialize(c)
        c.request("attach", {"mode": "local", "processId": proc.pid}, timeout=60)
        c.wait_event("initialized")
        bp = c.request("setBreakpoints", {"source": {"path": handle[0]}, "breakpoints": [
            {"line": handle[1], "logMessage": "{#latency by team}"}]},
            timeout=60)["body"]["breakpoints"][0]
        assert bp["verified"], bp
        c.request("configurationDone")
        assert go_on(proc).startswith("metrics: done")
        table = rows(console(c, "dapgo metrics"))
        lat = f"main.go:{handle[1]} latency"
        assert (table[(lat, "team=red")][0], table[(lat, "team=blue")][0]) == ("3", "5")
        c.request("disconnect", {"terminateDebuggee": False})
        c.wait_closed()
