"""Function call benchmark: the cost of one call into the stopped program from `evaluate`.

The calls fixture (tests/fixtures/calls, built with -N -l by Go 1.21.13, which Delve 1.20.2
reads) is stopped at its @stop line, two goroutines spinning on other threads; then the
same trivial function (`main.trivial`, returns 42) is called many times through DAP
`evaluate` and the time from sending each request to reading its response is measured, for:
  * dapgo, `call trivial()` in the console (and the same on the default Go 1.27 build);
  * Delve (`dlv dap`, `call trivial()`), where `dlv` is on PATH;
plus dapgo's evaluate of a plain variable, the floor of a round trip that runs nothing.
Prints medians and 90th percentiles, and the ratio dapgo/Delve (lower is better).

Usage: .venv/bin/python bench/calls.py [--calls N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import fixtures  # noqa: E402
from dapclient import DAPClient  # noqa: E402
from dlvdap import dlv_dap  # noqa: E402

GO_DELVE_READS = "1.21.13"


def stop_at_marker(c: DAPClient, binary: Path) -> int:
    """Launch `binary`, stop at @stop; the top frame's id."""
    c.request("initialize", {"adapterID": "go", "linesStartAt1": True,
                             "columnsStartAt1": True, "pathFormat": "path"}, timeout=60)
    c.request("launch", {"mode": "exec", "program": str(binary)}, timeout=60)
    c.wait_event("initialized", timeout=60)
    path, line = fixtures.line_of("calls", "stop")
    c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": line}]},
              timeout=60)
    c.request("configurationDone", timeout=60)
    stopped = c.wait_event("stopped", timeout=60)["body"]
    frames = c.request("stackTrace", {"threadId": stopped["threadId"], "startFrame": 0,
                                      "levels": 1}, timeout=60)["body"]["stackFrames"]
    return int(frames[0]["id"])


def time_evaluates(c: DAPClient, frame: int, expr: str, n: int, want: str) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        body: dict[str, Any] = c.request("evaluate", {"expression": expr, "frameId": frame,
                                                      "context": "repl"}, timeout=60)["body"]
        out.append(time.perf_counter() - t0)
        assert body["result"] == want, body
    return out


@contextmanager
def dapgo_session(binary: Path) -> Iterator[tuple[DAPClient, int]]:
    with DAPClient.spawn_stdio() as c:
        frame = stop_at_marker(c, binary)
        time_evaluates(c, frame, "call trivial()", 3, "42")  # warm up (DWARF of the callee)
        yield c, frame
        c.request("disconnect", {"terminateDebuggee": True}, timeout=60)


@contextmanager
def delve_session(dlv: str, binary: Path) -> Iterator[tuple[DAPClient, int]]:
    with dlv_dap(dlv) as c:
        frame = stop_at_marker(c, binary)
        time_evaluates(c, frame, "call trivial()", 3, "42")
        yield c, frame
        c.request("disconnect", {"terminateDebuggee": True}, timeout=60)


def fmt(xs: list[float]) -> str:
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1000:7.2f} ms, "
            f"p90 {xs[int(len(xs) * 0.9) - 1] * 1000:7.2f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    n = args.calls
    old = fixtures.build("calls", go=GO_DELVE_READS)
    new = fixtures.build("calls")
    dlv = shutil.which("dlv")
    rows: dict[str, list[float]] = {"dapgo 1.21": [], "dapgo 1.27": [], "plain": [],
                                    "Delve 1.21": []}
    with ExitStack() as stack:
        sessions = {"dapgo 1.21": stack.enter_context(dapgo_session(old)),
                    "dapgo 1.27": stack.enter_context(dapgo_session(new))}
        if dlv is not None:
            sessions["Delve 1.21"] = stack.enter_context(delve_session(dlv, old))
        # interleaved, one call each in turn: the machine's load falls on all alike
        for _ in range(n):
            for name, (c, frame) in sessions.items():
                rows[name] += time_evaluates(c, frame, "call trivial()", 1, "42")
            c, frame = sessions["dapgo 1.21"]
            rows["plain"] += time_evaluates(c, frame, "k", 1, "10")
    print(f"evaluate request -> response, {n} calls of main.trivial each (the calls "
          "fixture, two goroutines spinning), interleaved")
    print(f"  dapgo, Go {GO_DELVE_READS}, call trivial() : {fmt(rows['dapgo 1.21'])}")
    print(f"  dapgo, Go 1.27.3,  call trivial() : {fmt(rows['dapgo 1.27'])}")
    print(f"  dapgo, Go {GO_DELVE_READS}, plain variable  : {fmt(rows['plain'])} "
          "(no call: the floor)")
    if dlv is None:
        print("  Delve: not installed (dlv not on PATH); no ratio")
        return 0
    version = subprocess.run([dlv, "version"], capture_output=True, text=True)
    print(f"  Delve, Go {GO_DELVE_READS}, call trivial() : {fmt(rows['Delve 1.21'])} "
          f"({version.stdout.splitlines()[1].strip()})")
    print(f"  ratio dapgo/Delve (medians, Go {GO_DELVE_READS}) = "
          f"{statistics.median(rows['dapgo 1.21']) / statistics.median(rows['Delve 1.21']):.2f}"
          " (lower is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
