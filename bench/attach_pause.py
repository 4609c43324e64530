"""Attach benchmark: how long an attach holds a running program still, and how long it takes.

The program (tests/fixtures/ticker) sleeps 5 ms at a time and reports each new longest gap
between two wake-ups; the longest gap during an attach is how long the debugger kept it
stopped. Side by side in one run, median of several: dapgo (`attach`, configurationDone,
disconnect without terminating) and Delve (`dlv dap`, the same requests), where `dlv` is
installed and reads that Go version (Delve 1.20.2: Go 1.21 builds). dapgo compiles its BPF
program (~2 s of clang: an attached program's breakpoints are uprobes) before it stops the
program. Target: the pause no longer than Delve's.

Usage: .venv/bin/python bench/attach_pause.py [--runs N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fixtures  # noqa: E402
from dapclient import DAPClient  # noqa: E402
from dlvdap import dlv_dap  # noqa: E402

GO = "1.21.13"  # a version Delve 1.20.2 reads
SETTLE = 0.5  # s the program runs before the attach (its own start's gaps come first)


def attach(c: DAPClient, pid: int) -> float:
    """Attach, configurationDone, disconnect (the program goes on): the attach's time."""
    t0 = time.perf_counter()
    c.request("initialize", {"adapterID": "go", "linesStartAt1": True,
                             "columnsStartAt1": True, "pathFormat": "path"}, timeout=60)
    c.request("attach", {"mode": "local", "processId": pid}, timeout=120)
    c.request("configurationDone", timeout=60)
    elapsed = time.perf_counter() - t0
    c.request("disconnect", {"terminateDebuggee": False}, timeout=60)
    return elapsed


def one(binary: Path, adapter: str, dlv: str | None) -> tuple[float, float]:
    """(longest pause of the program, attach time) for one attach."""
    prog = subprocess.Popen([str(binary)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(SETTLE)
        if adapter == "dapgo":
            with DAPClient.spawn_stdio() as c:
                took = attach(c, prog.pid)
        else:
            assert dlv is not None
            with dlv_dap(dlv) as c:
                took = attach(c, prog.pid)
        time.sleep(0.3)  # detached: it runs on
    finally:
        prog.kill()
        _, text = prog.communicate()
    gaps = [int(m) / 1e6 for m in re.findall(r"gap (\d+) us", text)]
    assert gaps, text
    return max(gaps), took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    binary = fixtures.build("ticker", go=GO)
    dlv = shutil.which("dlv")
    rows: dict[str, list[tuple[float, float]]] = {"dapgo": [], "Delve": []}
    for _ in range(args.runs):
        rows["dapgo"].append(one(binary, "dapgo", dlv))
        if dlv:
            rows["Delve"].append(one(binary, "Delve", dlv))
    print(f"attach to a running program (ticker, Go {GO}), median of {args.runs} runs")
    pause = {}
    for name, got in rows.items():
        if not got:
            print(f"  {name:6}: not installed (dlv not on PATH); no ratio")
            continue
        pause[name] = statistics.median(p for p, _ in got)
        took = statistics.median(t for _, t in got)
        print(f"  {name:6}: program held still {pause[name] * 1000:7.1f} ms, "
              f"attach to configurationDone {took * 1000:7.1f} ms")
    if "Delve" in pause:
        ratio = pause["dapgo"] / pause["Delve"]
        print(f"  pause dapgo/Delve {ratio:.2f} (target <= 1.0: "
              f"{'met' if ratio <= 1.0 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
