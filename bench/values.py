"""Values benchmark: load a stopped frame's variables, dapgo beside Delve, on one program.

bench/values/ is a Go program whose `work` frame holds about 115 locals of the kinds real
programs hold (numbers, strings, structs, pointers, slices, maps, errors, interfaces,
time.Time, nested values). It is built with Go 1.21 (which Delve 1.20.2 reads) and `-N -l`,
and stopped at @stop under each adapter over DAP. Timed from the client, per session
(nothing loaded before):
  * scopes + locals: `scopes` for the top frame, then `variables` of its first scope
    (Locals, arguments first, in both adapters);
  * expand to depth 3: `variables` for every child with a variablesReference, breadth
    first, three levels below the locals (requests sent one at a time, as an editor does);
    a pointer whose one child is its pointee (Delve names it "", dapgo "*T") has that
    child opened at the same level, as dapgo opens a pointer to a struct straight into
    its fields: both adapters walk the same values, Delve with a request more;
  * the floor: one `variables` request for a 3-field struct, repeated (what a request
    costs besides the values it loads: transport, dispatch).
at the first stop and again at a second stop at the same place (the program calls `work`
twice), and from starting the adapter to the first stop's locals (what a user waits for
in all: Delve reads the program's DWARF at launch, dapgo when a stop needs it; dapgo
imports its engine with the launch request). dapgo runs twice over: with its on-disk memo
warm (a cache directory of the run's own, filled by one session before the measured ones:
the binary was debugged before) and cold (an empty cache directory for every session: a
binary never debugged). Prints the medians of several sessions, the request counts, and
dapgo/Delve ratios.
Target: the scopes+locals and expand ratios <= 1.0 at both stops (no slower than Delve;
"target met" says so). The floor and the time from starting the adapter are printed as
measured, not part of the target (the latter is mostly Python importing dapgo's engine).

A second program nobody here wrote runs the same way (`--programs values,gofmt`, both by
default): cmd/gofmt built with `-N -l`, formatting go/printer/nodes.go, stopped in
go/printer.(*printer).binaryExpr: 5 locals, one a *printer of dozens of fields whose
summary reads their types and their constants (go/token.Token has 90); expanded to depth 3
the same way (no floor: no small struct there).

Usage: .venv/bin/python bench/values.py [--runs N] [--go VERSION] [--programs LIST]
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fixtures  # noqa: E402
from dapclient import DAPClient  # noqa: E402
from dlvdap import dlv_dap  # noqa: E402

SRC = ROOT / "bench" / "values"
CACHE = ROOT / ".cache" / "bench"
DEPTH = 3
# dapgo runs with its bytecode cached, as an installed dapgo does (pip compiles it), in
# .cache/pycache, whatever PYTHONDONTWRITEBYTECODE says here (as bench/startup.py)
ADAPTER_ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
               "PYTHONPYCACHEPREFIX": str(ROOT / ".cache" / "pycache")}
FLOOR_REQUESTS = 50  # `variables` of a 3-field struct, repeated: the per-request floor


def build(go: str) -> Path:
    gobin = fixtures.go_binary(go)
    out = CACHE / f"values-go{go}-{fixtures._source_hash(SRC, f'{go} {SRC}')}"  # paths in DWARF
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([gobin, "build", *fixtures.DEBUG_FLAGS, "-o", str(out), "."], cwd=SRC,
                       check=True, env={**os.environ, "GOFLAGS": "-mod=mod",
                                        "GOTOOLCHAIN": "local"})
    return out


def build_gofmt(go: str) -> Path:
    """cmd/gofmt of toolchain `go`, built with the debug flags."""
    out = CACHE / f"gofmt-go{go}-debug"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([fixtures.go_binary(go), "build", *fixtures.DEBUG_FLAGS, "-o",
                        str(out), "cmd/gofmt"], check=True,
                       env={**os.environ, "GOFLAGS": "", "GOTOOLCHAIN": "local"})
    return out


def stop_line() -> int:
    for i, line in enumerate((SRC / "main.go").read_text().splitlines(), 1):
        if "// @stop" in line:
            return i
    raise LookupError("@stop")


@dataclass
class Program:
    """What to debug and where to stop."""

    name: str
    binary: Path
    args: list[str]
    breakpoint: tuple[str, dict[str, Any]]  # the request that sets it, its arguments
    frame: str  # the stopped frame's function name ends with it
    floor_var: str | None  # a small struct local, `variables` of it repeated: the floor


def programs(go: str, names: list[str]) -> list[Program]:
    out = []
    if "values" in names:
        out.append(Program("values", build(go), [], ("setBreakpoints", {
            "source": {"path": str(SRC / "main.go")}, "breakpoints": [{"line": stop_line()}]}),
            "main.work", "p0"))
    if "gofmt" in names:
        goroot = subprocess.run([fixtures.go_binary(go), "env", "GOROOT"], check=True,
                                capture_output=True, text=True).stdout.strip()
        out.append(Program("gofmt", build_gofmt(go),
                           ["-l", f"{goroot}/src/go/printer/nodes.go"],
                           ("setFunctionBreakpoints", {"breakpoints": [
                               {"name": "go/printer.(*printer).binaryExpr"}]}),
                           "binaryExpr", None))
    return out


def measure(c: DAPClient, prog: Program, started: float) -> dict[str, Any]:
    """One session: the timed loads at the first stop (nothing loaded before), again at
    the second (same place), and the floor: one small `variables` request."""
    c.request("initialize", {"adapterID": "go", "linesStartAt1": True,
                             "columnsStartAt1": True, "pathFormat": "path"}, timeout=60)
    c.request("launch", {"mode": "exec", "program": str(prog.binary), "args": prog.args},
              timeout=60)
    c.wait_event("initialized", timeout=60)
    bp = c.request(*prog.breakpoint, timeout=60)
    assert bp["body"]["breakpoints"][0].get("verified"), bp
    c.request("configurationDone", timeout=60)
    out: dict[str, Any] = {}
    seen = 0
    for stop in ("first", "second"):
        tid = c.wait_event("stopped", timeout=60, after=seen)["body"]["threadId"]
        figures = load_frame(c, tid, prog)
        if stop == "first":  # from starting the adapter to the first stop's locals shown
            figures["to locals"] = figures.pop("loaded_at") - started
        else:
            figures.pop("loaded_at")
        out.update({f"{stop} {k}": v for k, v in figures.items()})
        seen = len(c.messages)
        if stop == "first":
            c.request("continue", {"threadId": tid}, timeout=60)
    c.request("disconnect", {"terminateDebuggee": True}, timeout=60)
    return out


def load_frame(c: DAPClient, tid: int, prog: Program) -> dict[str, Any]:
    st = c.request("stackTrace", {"threadId": tid, "startFrame": 0, "levels": 20}, timeout=60)
    frame = st["body"]["stackFrames"][0]
    assert frame["name"].endswith(prog.frame), frame

    def variables(ref: int) -> list[dict[str, Any]]:
        r = c.request("variables", {"variablesReference": ref}, timeout=60)
        return list(r["body"]["variables"])

    t0 = time.perf_counter()
    scopes = c.request("scopes", {"frameId": frame["id"]}, timeout=60)["body"]["scopes"]
    top = variables(scopes[0]["variablesReference"])
    t1 = time.perf_counter()
    level = [v["variablesReference"] for v in top if v["variablesReference"]]
    requests = values = 0
    for _ in range(DEPTH):
        nxt = []
        for ref in level:
            kids = variables(ref)
            requests += 1
            values += len(kids)
            while len(kids) == 1 and kids[0]["variablesReference"] and \
                    kids[0]["name"] in ("", "*" + kids[0].get("type", "")):
                # a pointer's one child, its pointee: opened at the same level, as a
                # pointer to a struct opens straight into its fields in dapgo
                kids = variables(kids[0]["variablesReference"])
                requests += 1
                values += len(kids)
            nxt.extend(k["variablesReference"] for k in kids if k["variablesReference"])
        level = nxt
    t2 = time.perf_counter()
    floor = 0.0
    if prog.floor_var is not None:
        small = next(v["variablesReference"] for v in top if v["name"] == prog.floor_var)
        t3 = time.perf_counter()
        for _ in range(FLOOR_REQUESTS):
            variables(small)
        floor = (time.perf_counter() - t3) / FLOOR_REQUESTS
    return {"load": t1 - t0, "expand": t2 - t1, "locals": len(top), "requests": requests,
            "values": values, "scope": scopes[0]["name"], "floor": floor, "loaded_at": t1}


def run_dapgo(prog: Program, cache_dir: str | None = None) -> dict[str, Any]:
    """One session; `cache_dir` None: a new, empty cache directory (cold)."""
    with tempfile.TemporaryDirectory() as empty:
        env = {**ADAPTER_ENV, "DAPGO_CACHE_DIR": cache_dir or empty}
        started = time.perf_counter()
        with DAPClient.spawn_stdio(env=env) as c:
            return measure(c, prog, started)


def run_delve(dlv: str, prog: Program) -> dict[str, Any]:
    started = time.perf_counter()
    with dlv_dap(dlv) as c:
        return measure(c, prog, started)


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--go", default="1.21.13", help="toolchain under .cache/go (Delve 1.20.2 "
                                                    "reads Go 1.21 builds)")
    ap.add_argument("--programs", default="values,gofmt",
                    help="comma-separated: values (bench/values), gofmt (cmd/gofmt)")
    args = ap.parse_args()
    for prog in programs(args.go, args.programs.split(",")):
        compare(prog, args.runs)
    return 0


def compare(prog: Program, runs: int) -> None:
    """dapgo warm, dapgo cold and Delve on one program, interleaved; prints the table."""
    dlv = shutil.which("dlv")
    warm = tempfile.mkdtemp(prefix="dapgo-bench-cache-")
    run_dapgo(prog, warm)  # fills the warm cache (and the bytecode cache)
    sides: dict[str, Callable[[], dict[str, Any]]] = {
        "dapgo": lambda: run_dapgo(prog, warm), "dapgo cold": lambda: run_dapgo(prog)}
    if dlv:
        sides["Delve"] = lambda: run_delve(dlv, prog)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, fn in sides.items():  # interleaved: both see the same machine load
            results[name].append(fn())
    shutil.rmtree(warm, ignore_errors=True)
    print(f"bench/values.py: {prog.name} ({prog.binary.name}), {runs} sessions each, medians")
    print(f"{'adapter':10} {'stop':6} {'locals':>6} {'scopes+locals':>14} {'requests':>9} "
          f"{'values':>7} {'expand depth 3':>15} {'floor/request':>14} "
          f"{'start to locals':>16}")
    for name, got in results.items():
        for stop in ("first", "second"):
            r0 = got[0]
            to_locals = (f"{median(got, 'first to locals') * 1e3:13.1f} ms"
                         if stop == "first" else "")
            print(f"{name:10} {stop:6} {r0[stop + ' locals']:6} "
                  f"{median(got, stop + ' load') * 1e3:11.1f} ms {r0[stop + ' requests']:9} "
                  f"{r0[stop + ' values']:7} {median(got, stop + ' expand') * 1e3:12.1f} ms "
                  f"{median(got, stop + ' floor') * 1e3:11.3f} ms {to_locals}")
    if "Delve" not in results:
        print("dlv not on PATH: no Delve column")
        return
    d = results["Delve"]
    for side in ("dapgo", "dapgo cold"):
        g = results[side]
        met = True
        for stop in ("first", "second"):
            load = median(g, stop + " load") / median(d, stop + " load")
            expand = median(g, stop + " expand") / median(d, stop + " expand")
            met = met and load <= 1.0 and expand <= 1.0
            floor = (f", per-request floor "
                     f"{median(g, stop + ' floor') / median(d, stop + ' floor'):.2f}x"
                     if prog.floor_var else "")
            print(f"{prog.name}: {side}/Delve, {stop} stop: scopes+locals {load:.2f}x, "
                  f"expand to depth 3 {expand:.2f}x{floor}")
        whole = median(g, "first to locals") / median(d, "first to locals")
        print(f"{prog.name}: {side}/Delve, from starting the adapter to the first stop's "
              f"locals {whole:.2f}x")
        print(f"{prog.name}: {side}: target <= 1.0x {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
