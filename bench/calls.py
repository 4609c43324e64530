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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import fixtures  # noqa: E402
from dapclient import DAPClient  # noqa: E402
from startup import _drain_stdout  # noqa: E402

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


def dapgo_run(binary: Path, n: int) -> tuple[list[float], list[float]]:
    with DAPClient.spawn_stdio() as c:
        frame = stop_at_marker(c, binary)
        time_evaluates(c, frame, "call trivial()", 3, "42")  # warm up (DWARF of the callee)
        calls = time_evaluates(c, frame, "call trivial()", n, "42")
        plain = time_evaluates(c, frame, "k", n, "10")
        c.request("disconnect", {"terminateDebuggee": True}, timeout=60)
    return calls, plain


def delve_run(dlv: str, binary: Path, n: int) -> list[float]:
    import re

    proc = subprocess.Popen([dlv, "dap", "--listen", "127.0.0.1:0", "--check-go-version=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = _drain_stdout(proc)
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            for line in list(lines):
                m = re.search(r"listening at: \[?[^\]]*\]?:(\d+)", line)
                if m:
                    port = int(m.group(1))
            if time.monotonic() > deadline:
                raise RuntimeError(f"dlv dap did not start: {lines}")
            time.sleep(0.005)
        with DAPClient.connect("127.0.0.1", port) as c:
            frame = stop_at_marker(c, binary)
            time_evaluates(c, frame, "call trivial()", 3, "42")
            calls = time_evaluates(c, frame, "call trivial()", n, "42")
            c.request("disconnect", {"terminateDebuggee": True}, timeout=60)
    finally:
        proc.kill()
        proc.wait()
    return calls


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
    calls, plain = dapgo_run(old, n)
    calls_new, _ = dapgo_run(new, n)
    print(f"evaluate request -> response, {n} calls of main.trivial (the calls fixture, "
          "two goroutines spinning)")
    print(f"  dapgo, Go {GO_DELVE_READS}, call trivial() : {fmt(calls)}")
    print(f"  dapgo, Go 1.27.3,  call trivial() : {fmt(calls_new)}")
    print(f"  dapgo, Go {GO_DELVE_READS}, plain variable  : {fmt(plain)} (no call: the floor)")
    dlv = shutil.which("dlv")
    if dlv is None:
        print("  Delve: not installed (dlv not on PATH); no ratio")
        return 0
    delve = delve_run(dlv, old, n)
    version = subprocess.run([dlv, "version"], capture_output=True, text=True)
    print(f"  Delve, Go {GO_DELVE_READS}, call trivial() : {fmt(delve)} "
          f"({version.stdout.splitlines()[1].strip()})")
    print(f"  ratio dapgo/Delve (medians) = "
          f"{statistics.median(calls) / statistics.median(delve):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
