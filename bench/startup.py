"""Start-up benchmark: launch cmd/go (23+ MB, built with -N -l) and stop at main.main.

Measures, side by side in one run, the wall time from starting the debug adapter to having
the stack trace of the goroutine stopped at `main.main` (initialize, launch in exec mode,
setFunctionBreakpoints, configurationDone, stopped, threads, stackTrace), for:
  * dapgo, cold: an empty dapgo cache directory (nothing indexed yet);
  * dapgo, warm: the cache left by a previous run;
  * Delve (`dlv dap`), where `dlv` is on PATH.
Prints the median of several runs and the ratios. Targets: cold no slower than Delve, warm
at most 0.3x Delve's time (the on-disk index must pay: a warm first stop decodes no DWARF).

The adapter runs with its Python bytecode cached, as an installed dapgo does (pip compiles
it): PYTHONDONTWRITEBYTECODE is dropped for it and the bytecode goes to .cache/pycache (one
untimed run first fills it). Without that, every run would compile dapgo's ~130 modules
(~0.1 s), a cost of this checkout, not of dapgo.

Usage: .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dapclient import DAPClient  # noqa: E402
from dlvdap import dlv_dap  # noqa: E402

CMD_GO = ROOT / ".cache" / "bench" / "cmd-go"
GO = ROOT / ".venv" / "bin" / "go"
WARM_TARGET = 0.30  # warm first stop, as a fraction of Delve's


def build_cmd_go() -> Path:
    if not CMD_GO.exists():
        goroot = subprocess.run([str(GO), "env", "GOROOT"], capture_output=True, text=True,
                                check=True).stdout.strip()
        CMD_GO.parent.mkdir(parents=True, exist_ok=True)
        print(f"building cmd/go with -gcflags=all=-N -l into {CMD_GO} ...", flush=True)
        subprocess.run([str(GO), "build", "-gcflags=all=-N -l", "-o", str(CMD_GO), "."],
                       cwd=os.path.join(goroot, "src", "cmd", "go"), check=True)
    return CMD_GO


def session(client: DAPClient, binary: Path) -> None:
    """One DAP session up to the stack trace at main.main, then disconnect."""
    client.request("initialize", {"adapterID": "go", "linesStartAt1": True,
                                  "columnsStartAt1": True, "pathFormat": "path"}, timeout=60)
    client.request("launch", {"mode": "exec", "program": str(binary), "args": ["version"]},
                   timeout=60)
    client.wait_event("initialized", timeout=60)
    bps = client.request("setFunctionBreakpoints",
                         {"breakpoints": [{"name": "main.main"}]}, timeout=60)
    assert bps["body"]["breakpoints"][0]["verified"], bps
    client.request("configurationDone", timeout=60)
    stopped = client.wait_event("stopped", timeout=60)["body"]
    client.request("threads", timeout=60)
    st = client.request("stackTrace", {"threadId": stopped["threadId"], "startFrame": 0,
                                       "levels": 20}, timeout=60)
    top = st["body"]["stackFrames"][0]["name"]
    assert top.endswith("main.main"), top
    client.request("disconnect", {"terminateDebuggee": True}, timeout=60)


def adapter_env(cache_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "DAPGO_CACHE_DIR": cache_dir,
            "PYTHONPYCACHEPREFIX": str(ROOT / ".cache" / "pycache")}


def time_dapgo(binary: Path, cache_dir: str) -> float:
    env = adapter_env(cache_dir)
    t0 = time.perf_counter()
    with DAPClient.spawn_stdio(env=env) as c:
        session(c, binary)
        elapsed = time.perf_counter() - t0
    return elapsed


def time_delve(dlv: str, binary: Path) -> float:
    t0 = time.perf_counter()
    with dlv_dap(dlv) as c:
        session(c, binary)
        return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    binary = build_cmd_go()
    size_mb = binary.stat().st_size / 1e6
    dlv = shutil.which("dlv")
    cold, warm, delve = [], [], []
    with tempfile.TemporaryDirectory(prefix="dapgo-cache-") as cache:
        time_dapgo(binary, cache)  # untimed: fills the bytecode cache
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="dapgo-cache-") as cache:
            cold.append(time_dapgo(binary, cache))
            warm.append(time_dapgo(binary, cache))
        if dlv:
            delve.append(time_delve(dlv, binary))
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"cmd/go ({size_mb:.1f} MB, -N -l): adapter start -> stack trace at main.main, "
          f"median of {args.runs} runs")
    print(f"  dapgo cold : {c * 1000:8.1f} ms")
    print(f"  dapgo warm : {w * 1000:8.1f} ms")
    if delve:
        d = statistics.median(delve)
        version = subprocess.run([dlv, "version"], capture_output=True, text=True)
        print(f"  Delve      : {d * 1000:8.1f} ms  ({version.stdout.splitlines()[1].strip()})")
        cold_ok, warm_ok = c / d <= 1.0, w / d <= WARM_TARGET
        print(f"  ratio cold/Delve = {c / d:.2f} (target <= 1.00: "
              f"{'met' if cold_ok else 'NOT met'})")
        print(f"  ratio warm/Delve = {w / d:.2f} (target <= {WARM_TARGET:.2f}: "
              f"{'met' if warm_ok else 'NOT met'})")
        print(f"  ratio warm/cold  = {w / c:.2f}")
        ok = cold_ok and warm_ok
        print("  targets: " + ("met" if ok else "NOT met"))
        return 0 if ok else 1
    print("  Delve      : not installed (dlv not on PATH); no ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
