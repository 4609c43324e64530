"""Data breakpoint cost: a global written in a hot loop, watched by the debug registers.

Side by side in one run, per write of the watched variable:
  * untraced: the loop on its own;
  * trap floor: the bare hardware trap, with a minimal tracer that only continues;
  * dapgo: a data breakpoint set through the engine, whose hit condition is never met, so
    every trap goes through dapgo's stop decision and the program goes on;
  * single-step watch: what a debugger without debug registers does (gdb's software
    watchpoints): single-step the loop and compare the value after every instruction.
Target: dapgo costs no more per write than the trap itself (ratio to the floor near 1),
and far less than single-stepping.

Usage: .venv/bin/python bench/watch_overhead.py [--writes N]
"""

from __future__ import annotations

import argparse
import os
import queue
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GO = ROOT / ".venv" / "bin" / "go"
BINARY = ROOT / ".cache" / "bench" / "watch-bench"

from dapgo.engine.debugger import Debugger  # noqa: E402
from dapgo.engine.dwarf import BinaryInfo  # noqa: E402
from dapgo.engine.hwbreak import DebugRegisterSet, allocate  # noqa: E402
from dapgo.engine.model import (  # noqa: E402
    DataBreakpointSpec,
    Exited,
    LaunchConfig,
    Output,
    Stopped,
)
from dapgo.engine.ptrace.process import TracedProcess  # noqa: E402


def build() -> Path:
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(GO), "build", "-gcflags=all=-N -l", "-o", str(BINARY), "."],
                   cwd=ROOT / "bench" / "watch", check=True)
    return BINARY


def loop_ns(output: str) -> tuple[int, int]:
    n, ns = output.split()
    return int(n), int(ns)


def untraced(n: int) -> float:
    out = subprocess.run([str(BINARY), str(n)], capture_output=True, text=True, check=True)
    writes, ns = loop_ns(out.stdout)
    return ns / writes


def _launch_raw(n: int) -> tuple[TracedProcess, int, int]:
    r, w = os.pipe()
    proc = TracedProcess.launch([str(BINARY), str(n)], dict(os.environ), None, w, w)
    os.close(w)
    return proc, r, BinaryInfo.open(str(BINARY)).symbol("main.counter").addr  # type: ignore[union-attr]


def trap_floor(n: int) -> float:
    """Every write traps; the tracer clears DR6 and continues: nothing else."""
    proc, r, addr = _launch_raw(n)
    regs = DebugRegisterSet(proc.debug_register, proc.set_debug_register)
    regs.slots = allocate([(1, addr, 8, "write")])
    regs.apply(proc.pid)
    proc.on_new_thread = regs.apply
    traps = 0
    proc.resume()
    while True:
        ev = proc.wait_event()
        if ev.kind == "exited":
            break
        if ev.kind == "trap":
            traps += 1
            regs.fired(ev.tid)
        proc.resume_thread(ev.tid)
    writes, ns = loop_ns(os.read(r, 4096).decode())
    assert traps >= writes, (traps, writes)
    return ns / writes


def dapgo(n: int) -> float:
    """A dapgo data breakpoint whose hit condition never holds: every write is decided by
    dapgo (count, condition) and the program goes on."""
    events: queue.Queue[object] = queue.Queue()
    d = Debugger(events.put)
    d.launch(LaunchConfig(program=str(BINARY), mode="exec", args=(str(n),)),
             stop_on_entry=True).result()
    d.configuration_done().result()
    stop = events.get(timeout=30)
    assert isinstance(stop, Stopped), stop
    info = d.data_breakpoint_info(None, "main.counter", stop.thread_id, 0).result()
    assert info.data_id, info
    (status,) = d.set_data_breakpoints(
        [DataBreakpointSpec(info.data_id, "write", hit_condition=f"== {10 * n}")]).result()
    assert status.verified, status
    d.resume().result()
    text = ""
    while True:
        ev = events.get(timeout=600)
        if isinstance(ev, Output):
            text += ev.text
        elif isinstance(ev, Exited):
            break
        else:
            raise AssertionError(f"unexpected stop: {ev}")
    d.disconnect(True).result()
    writes, ns = loop_ns(text)
    return ns / writes


def single_step(n: int) -> float:
    """Single-step the loop's thread and compare the watched value after each instruction."""
    proc, r, addr = _launch_raw(n)
    binary = BinaryInfo.open(str(BINARY))
    work = binary.function("main.work")
    assert work is not None
    entry = binary.first_pc_after_prologue(work)
    proc.insert_breakpoint(entry)
    proc.resume()
    ev = proc.wait_event()
    assert ev.kind == "breakpoint", ev
    proc.stop_others(ev)
    proc.remove_breakpoint(entry)
    tid = ev.tid
    value = struct.unpack("<q", proc.read_memory(addr, 8))[0]
    changes = 0
    t0 = time.perf_counter()
    while work.entry <= proc.pc(tid) < work.end:
        proc.step_instruction(tid)
        now = struct.unpack("<q", proc.read_memory(addr, 8))[0]
        if now != value:
            changes += 1
            value = now
    elapsed = time.perf_counter() - t0
    proc.resume()
    while proc.wait_event().kind != "exited":
        pass
    os.close(r)
    assert changes == n, (changes, n)
    return elapsed * 1e9 / changes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=20000)
    ap.add_argument("--step-writes", type=int, default=2000)
    args = ap.parse_args()
    build()
    n = args.writes
    base = untraced(n)
    floor = trap_floor(n)
    ours = dapgo(n)
    stepped = single_step(args.step_writes)
    print(f"watched global written in a hot loop: per write ({n} writes; "
          f"single-step on {args.step_writes})")
    print(f"  untraced          : {base / 1000:10.3f} us")
    print(f"  trap floor        : {floor / 1000:10.3f} us")
    print(f"  dapgo watchpoint  : {ours / 1000:10.3f} us   ({ours / floor:.2f}x the trap floor)")
    print(f"  single-step watch : {stepped / 1000:10.3f} us   ({stepped / ours:.1f}x dapgo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
