"""Benchmark: goroutines as threads at scale.

Parks 100,000 goroutines with pprof labels shard=i%100 and worker=i (bench/goroutines/), stops
at a breakpoint, then times through the engine facade:

* `threads` with the filter `-with label shard=7` (1,000 goroutines match): the first request
  of the stop, so it includes reading every goroutine and its labels;
* `dapgo goroutines -group label shard`, which must count all 100,000.

Prints the times, the goroutines read per second, and whether the filtered `threads` met
its target (THREADS_TARGET: 0.2 s for 100,000 goroutines). Usage:
    .venv/bin/python bench/goroutines.py [N] [--go VERSION]
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import fixtures  # noqa: E402

from dapgo.engine.debugger import Debugger  # noqa: E402
from dapgo.engine.model import (  # noqa: E402
    EngineEvent,
    Exited,
    LaunchConfig,
    SourceBreakpointSpec,
    Stopped,
)

SRC = ROOT / "bench" / "goroutines"
SHARDS = 100
THREADS_TARGET = 0.2  # seconds for the filtered `threads` over 100,000 goroutines


def build(go: str | None) -> Path:
    gobin = fixtures.go_binary(go)
    version = subprocess.run([gobin, "env", "GOVERSION"], capture_output=True, text=True,
                             check=True).stdout.strip()
    # the binary names its sources by absolute path and .cache/bench is shared between
    # checkouts: the key has the source directory as well as the sources and the toolchain
    out = (ROOT / ".cache" / "bench"
           / f"goroutines-{version}-{fixtures._source_hash(SRC, f'{version} {SRC}')}")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run([gobin, "build", *fixtures.DEBUG_FLAGS, "-o", str(tmp), "."], cwd=SRC,
                       check=True, env={**os.environ, "GOTOOLCHAIN": "local"})
        tmp.rename(out)
    return out


def marker_line(name: str) -> int:
    for i, text in enumerate((SRC / "main.go").read_text().splitlines(), start=1):
        if re.search(rf"//\s*@{name}\b", text):
            return i
    raise SystemExit(f"marker @{name} not found")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, nargs="?", default=100_000)
    ap.add_argument("--go", default=None, help="toolchain version (default: the project's)")
    args = ap.parse_args()
    binary = build(args.go)
    events: queue.Queue[EngineEvent] = queue.Queue()
    d = Debugger(events.put)
    d.launch(LaunchConfig(program=str(binary), mode="exec", args=(str(args.n),)),
             stop_on_entry=False).result()
    try:
        d.set_breakpoints(str(SRC / "main.go"),
                          [SourceBreakpointSpec(line=marker_line("bench_stop"))]).result()
        t0 = time.perf_counter()
        d.configuration_done().result()
        while True:
            ev = events.get(timeout=300)
            if isinstance(ev, Exited):
                raise SystemExit(f"program exited early: {ev}")
            if isinstance(ev, Stopped):
                break
        print(f"program parked {args.n} goroutines in {time.perf_counter() - t0:.2f} s")

        d.set_goroutine_options(["shard"], False, "-with label shard=7", 1024).result()
        t0 = time.perf_counter()
        threads = d.threads().result().threads
        t_threads = time.perf_counter() - t0
        ids = {t.id for t in threads} - {ev.thread_id}
        want = args.n // SHARDS
        ok = len(ids) == want and all(" 7] " in t.name for t in threads if t.id in ids)
        total = args.n + 5  # roughly: the parked ones plus main and the runtime's
        print(f"threads -with label shard=7: {len(threads)} threads "
              f"({len(ids)} matching + the stopped one) in {t_threads * 1000:.0f} ms"
              f" -> {total / t_threads:,.0f} goroutines/s read and filtered"
              f"  [{'OK' if ok else 'WRONG'}]")
        target = THREADS_TARGET * args.n / 100_000
        print(f"  target <= {target * 1000:.0f} ms: "
              f"{'met' if t_threads <= target else 'NOT met'} "
              f"({t_threads / target:.2f}x the target)")

        t0 = time.perf_counter()
        out = d.goroutine_command("-group label shard").result().text
        t_group = time.perf_counter() - t0
        counts = dict(re.findall(r"^  shard=(\d+): (\d+)$", out, re.M))
        counted = sum(int(v) for v in counts.values())
        ok_group = counted == args.n and len(counts) == min(SHARDS, args.n)
        print(f"dapgo goroutines -group label shard: {len(counts)} groups, {counted} "
              f"goroutines counted in {t_group * 1000:.0f} ms (same stop, cached reads)"
              f"  [{'OK' if ok_group else 'WRONG'}]")
        print("  " + out.splitlines()[0])

        d.set_goroutine_options([], False, "", 1024).result()
        t0 = time.perf_counter()
        answer = d.threads().result()
        threads = answer.threads
        print(f"threads unfiltered: {len(threads)} shown, {answer.omitted} left out "
              f"(maxGoroutines 1024) in {(time.perf_counter() - t0) * 1000:.0f} ms")
        return 0 if ok and ok_group else 1
    finally:
        d.disconnect(True).result()


if __name__ == "__main__":
    sys.exit(main())
