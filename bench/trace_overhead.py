"""Per-call cost of tracing one hot function, side by side in one run (tracee fixture, `hot`):
untraced, an empty uprobe (the floor), a dapgo logpoint and a never-true in-kernel condition
(both at the // @hot_body line of main.hot), dapgo trace (args + returns), records delivered
at 200,000+ hits, and, when `dlv` is on PATH, Delve's ptrace trace (`dlv trace`), logpoint and
never-true conditional breakpoint (both over DAP, `dlv dap`) on the same function and line.

dapgo rows use the tracee's own in-loop timer. Delve is ~10^3 times slower per hit, so its
rows run fewer calls (--dlv-calls) and are timed from outside: (wall time of the traced run -
wall time of the same run under Delve with nothing set) / calls; the hits Delve reported
are counted so the figure is known to cover real work. Delve 1.20 cannot read DWARF 5 (the
default since Go 1.25), so its rows run a DWARF 4 build of the same source, checked to have
byte-identical main.hot code at the same address.

Run as root: .venv/bin/python bench/trace_overhead.py [CALLS] [--dlv-calls N]
A benchmark: always exits 0."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import fixtures  # noqa: E402
from dapclient import DAPClient  # noqa: E402

from dapgo.engine.bpf.attach import UprobeLink  # noqa: E402
from dapgo.engine.bpf.logpoints import BpfLogpoints  # noqa: E402
from dapgo.engine.bpf.tracer import FunctionTracer  # noqa: E402
from dapgo.engine.dwarf import BinaryInfo  # noqa: E402


def held(binary: str, args: list[str]) -> tuple[int, int]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os.execv(binary, [binary, *args])
    os.close(r)
    return pid, w


def run_held(binary: str, n: int, setup: object = None) -> float:
    """ns per call reported by the tracee's own timer, with probes set up by `setup(pid)`."""
    out_r, out_w = os.pipe()
    pid, w = -1, -1
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.dup2(out_w, 1)
        os.read(r, 1)
        os.execv(binary, [binary, "hot", str(n)])
    os.close(r)
    os.close(out_w)
    cleanup = setup(pid) if callable(setup) else None
    os.write(w, b"x")
    os.close(w)
    data = b""
    while chunk := os.read(out_r, 4096):
        data += chunk
        if cleanup is not None and hasattr(cleanup, "poll"):
            cleanup.poll(0)
    os.waitpid(pid, 0)
    if cleanup is not None:
        cleanup.close()
    m = re.search(rb"(\d+) ns/call", data)
    return float(m.group(1)) if m else float("nan")


class EmptyProbe:
    """A uprobe running a BPF program that returns at once."""

    def __init__(self, binary: str, addrs: int | list[int], pid: int) -> None:
        import bcc

        from dapgo.engine.bpf.attach import BPF_TRACE_UPROBE_MULTI
        self.b = bcc.BPF(text="int empty(void *ctx) { return 0; }")
        fn = self.b.load_func(b"empty", bcc.BPF.KPROBE, attach_type=BPF_TRACE_UPROBE_MULTI)
        self.link = UprobeLink(binary, fn.fd, addrs if isinstance(addrs, list) else [addrs],
                               pid)

    def close(self) -> None:
        self.link.close()
        self.b.cleanup()


# ---- Delve (reference only: used when `dlv` is on PATH) ----

DLV_FLAGS = ["--check-go-version=false"]


def dwarf4_twin(binary: str, tmp: str) -> tuple[str, str]:
    """A DWARF 4 build of the tracee (Delve 1.20 cannot read Go's default DWARF 5), and a note
    saying whether its main.hot is byte-identical, at the same address, to `binary`'s."""
    out = str(Path(tmp) / "tracee-dwarf4")
    gobin = fixtures.go_binary()
    r = subprocess.run([gobin, "build", *fixtures.DEBUG_FLAGS, "-o", out, "."],
                       cwd=fixtures.FIXTURES / "tracee", capture_output=True, text=True,
                       env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local",
                            "GOEXPERIMENT": "nodwarf5"})
    if r.returncode != 0:
        return binary, "no DWARF 4 build (Delve may not read variables): " + r.stderr.strip()

    def code(path: str) -> list[tuple[str, str]]:
        dump = subprocess.run([gobin, "tool", "objdump", "-s", r"^main\.hot$", path],
                              capture_output=True, text=True).stdout
        return re.findall(r"^\s+\S+:\d+\s+(0x[0-9a-f]+)\s+([0-9a-f]+)\s", dump, re.M)

    a, b = code(binary), code(out)
    if a and a == b:
        return out, f"Delve ran a DWARF 4 build; main.hot identical ({len(a)} instructions, " \
                    f"same address {a[0][0]})"
    return out, "WARNING: Delve ran a DWARF 4 build whose main.hot code differs"


def dlv_trace(dlv: str, binary: str, regex: str, n: int) -> tuple[float, int, int, float]:
    """(wall s, entry lines, return lines, tracee's own ns/call) of `dlv trace`."""
    t0 = time.monotonic()
    r = subprocess.run([dlv, "trace", *DLV_FLAGS, "--exec", binary, regex, "--", "hot",
                        str(n)], capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    fn = regex.strip("^$").replace("\\", "")
    calls = len(re.findall(rf"^> goroutine\(\d+\): {re.escape(fn)}\(", r.stderr, re.M))
    rets = len(re.findall(r"^>> goroutine\(\d+\): => \(", r.stderr, re.M))
    m = re.search(r"(\d+) ns/call", r.stdout)
    return wall, calls, rets, float(m.group(1)) if m else float("nan")


def dlv_dap(dlv: str, binary: str, n: int, bp: dict | None,
            source: str) -> tuple[float, int, int, float, str]:
    """Run `hot N` under `dlv dap` with breakpoint `bp` (or none) at `source`; returns (s from
    configurationDone to the program's exit, logpoint output lines, stops, tracee's own
    ns/call, a sample logpoint line)."""
    proc = subprocess.Popen([dlv, "dap", "--listen", "127.0.0.1:0", *DLV_FLAGS],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: list[str] = []
    m = None
    while m is None:
        line = stdout.readline()
        if not line:
            proc.wait()
            raise RuntimeError(f"dlv dap did not start: {lines}")
        lines.append(line)
        m = re.search(r"DAP server listening at: \[?([^\]\s]+?)\]?:(\d+)\s*$", line)
    pump = threading.Thread(target=lambda: lines.extend(stdout), daemon=True)
    pump.start()
    c = DAPClient.connect(m.group(1), int(m.group(2)))
    try:
        c.request("initialize", {"adapterID": "go", "linesStartAt1": True,
                                 "columnsStartAt1": True, "pathFormat": "path"})
        c.request("launch", {"mode": "exec", "program": binary, "args": ["hot", str(n)]})
        c.wait_event("initialized")
        if bp is not None:
            r = c.request("setBreakpoints", {"source": {"path": source}, "breakpoints": [bp]})
            assert r["body"]["breakpoints"][0].get("verified"), r
        stops = 0
        seen = len(c.messages)
        t0 = time.monotonic()
        c.request("configurationDone")
        while True:  # a never-true condition must not stop; if it does, count and go on
            ev = c.wait_for(lambda msg: msg.get("type") == "event" and msg.get("event") in (
                "stopped", "terminated", "exited"), timeout=600, after=seen)
            seen = c.messages.index(ev) + 1
            if ev["event"] != "stopped":
                break
            stops += 1
            c.request("continue", {"threadId": ev["body"].get("threadId", 1)})
        wall = time.monotonic() - t0
        logs = [e["body"]["output"] for e in c.events("output")
                if e["body"].get("category") == "stdout"
                and e["body"]["output"].startswith("> [Go ")]
        try:
            c.request("disconnect", {"terminateDebuggee": True})
        except (AssertionError, TimeoutError):
            pass
    finally:
        c.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    pump.join(timeout=5)
    ns = re.search(r"(\d+) ns/call", "".join(lines))
    return (wall, len(logs), stops, float(ns.group(1)) if ns else float("nan"),
            logs[-1].strip() if logs else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("calls", nargs="?", type=int, default=200_000,
                    help="calls for the dapgo rows (default 200000; trace hits = 2x)")
    ap.add_argument("--dlv-calls", type=int, default=300,
                    help="calls for Delve's rows (default 300; ~2-8 ms per hit)")
    opts = ap.parse_args()
    n, dn = opts.calls, opts.dlv_calls
    binary = str(fixtures.build("tracee"))
    bi = BinaryInfo.open(binary)
    fn = bi.function("main.hot")
    assert fn is not None
    entry = bi.first_pc_after_prologue(fn)
    src, body_line = fixtures.line_of("tracee", "hot_body")
    body = bi.addresses_for_line(src, body_line).addresses
    # the same never-true condition for dapgo and Delve (dapgo cannot parse "i == -1" yet)
    never = "i < 0"
    # (name, hits per call, us per call, how measured)
    rows: list[tuple[str, int, float, str]] = []
    notes: list[str] = []

    def us(ns: float) -> float:
        return ns / 1000

    rows.append(("untraced call", 0, us(run_held(binary, n)), f"tracee timer, {n} calls"))
    rows.append(("empty uprobe (floor)", 1, us(run_held(
        binary, n, lambda pid: EmptyProbe(binary, entry, pid))), f"tracee timer, {n} calls"))

    def logpoint(pid: int, cond: str | None) -> BpfLogpoints:
        lp = BpfLogpoints(bi, pid)
        res = lp.add(9, body, message="i={i}", condition=cond)
        assert res.fallback is None, res.fallback
        return lp

    rows.append(("dapgo logpoint i={i}", 1, us(run_held(
        binary, n, lambda p: logpoint(p, None))), f"tracee timer, {n} calls"))
    rows.append((f"dapgo condition {never}", 1, us(run_held(
        binary, n, lambda p: logpoint(p, never))), f"tracee timer, {n} calls"))
    # the floor of dapgo trace itself: empty uprobes on the very sites it probes
    plan = FunctionTracer(None, bi=bi)
    sites = sorted(plan.plan(r"^main\.hot$"))
    rows.append(("empty uprobes on trace's sites (floor)", 2, us(run_held(
        binary, n, lambda pid: EmptyProbe(binary, sites, pid))), f"tracee timer, {n} calls"))
    how = "after the prologue: single-stepped" if plan.slow_entries else \
        "at its PUSH RBP: emulated"
    notes.append(f"dapgo trace probes main.hot at {', '.join(hex(a) for a in sites)} "
                 f"(entry {how})")
    # which functions of whole programs could not have their entry at an emulated PUSH RBP
    programs = [("the tracee", binary)]
    try:
        programs.append(("gofmt (built plainly)", str(fixtures.gofmt())))
    except subprocess.CalledProcessError as exc:
        notes.append(f"gofmt could not be built: {exc}")
    for name, path in programs:
        every = FunctionTracer(None, bi=bi if path == binary else BinaryInfo.open(path))
        planned = len(every.plan(r"."))
        fns = len(every.functions)
        slow = every.slow_entries
        notes.append(f"{name}: {fns - len(slow)} of {fns} functions' entries probed at an "
                     f"emulated PUSH RBP ({planned} probes); single-stepped entries "
                     f"(no PUSH RBP, or arguments not all readable there): {len(slow)}"
                     + (f", e.g. {', '.join(slow[:6])}" if slow else ""))
    t0 = time.monotonic()
    tr = subprocess.run([sys.executable, "-m", "dapgo.trace", "trace", "--exec", binary,
                         r"^main\.hot$", "--", "hot", str(n)], capture_output=True, text=True,
                        cwd=ROOT)
    wall = time.monotonic() - t0
    m = re.search(r"(\d+) ns/call", tr.stdout)
    rows.append(("dapgo trace (args + returns)", 2, us(float(m.group(1)) if m else float("nan")),
                 f"tracee timer, {n} calls"))
    summary = re.search(r"dapgo trace: (\d+) records delivered, (\d+) lost", tr.stderr)

    dlv = shutil.which("dlv")
    with tempfile.TemporaryDirectory(prefix="dapgo-bench-") as tmp:
        if dlv:
            dbin, note = dwarf4_twin(binary, tmp)
            notes.append(note)
            try:
                base_w, base_calls, _, _ = dlv_trace(dlv, dbin, r"^main\.main$", dn)
                w, calls, rets, own = dlv_trace(dlv, dbin, r"^main\.hot$", dn)
                ok = calls == dn and rets == dn
                per = (w - base_w) / dn * 1e6
                rows.append(("dlv trace (args + returns)", 2, per,
                             f"wall diff, {dn} calls{'' if ok else ' INCOMPLETE'}"))
                notes.append(f"dlv trace: {calls} call + {rets} return lines for {dn} calls "
                             f"(baseline run traced main.main only: {base_calls} call); "
                             f"{w:.2f} s vs {base_w:.2f} s wall; tracee's own timer "
                             f"{own / 1000:.0f} us/call")
                base, _, _, own0, _ = dlv_dap(dlv, dbin, dn, None, src)
                notes.append(f"dlv dap, no breakpoint: {base:.2f} s from configurationDone to "
                             f"exit; tracee's own timer {own0 / 1000:.3f} us/call")
                for name, bp in (("dlv logpoint i={i} (DAP)",
                                  {"line": body_line, "logMessage": "i={i}"}),
                                 (f"dlv condition {never} (DAP)",
                                  {"line": body_line, "condition": never})):
                    w, logs, stops, own, sample = dlv_dap(dlv, dbin, dn, bp, src)
                    want = dn if "logMessage" in bp else 0
                    ok = logs == want and stops == 0
                    rows.append((name, 1, (w - base) / dn * 1e6,
                                 f"wall diff, {dn} calls{'' if ok else ' INCOMPLETE'}"))
                    last = f" (last: {sample!r})" if sample else ""
                    notes.append(f"{name}: {logs} log lines{last}"
                                 f", {stops} stops, for {dn} calls; {w:.2f} s vs {base:.2f} s "
                                 f"with no breakpoint; tracee's own timer {own / 1000:.0f} "
                                 f"us/call")
            except Exception as exc:  # a benchmark: report, don't fail
                notes.append(f"Delve rows incomplete: {type(exc).__name__}: {exc}")
        else:
            notes.append("dlv not on PATH: no Delve rows")

    by = {name: (hits, per) for name, hits, per, _ in rows}
    floor = by["empty uprobe (floor)"][1]

    def per_hit(name: str) -> float:
        hits, per = by.get(name, (1, float("nan")))
        return per / hits if hits else per

    def ratio(name: str) -> float:
        return per_hit(name) / floor if floor else float("nan")

    print(f"{'what':34} {'hits/call':>9} {'us/call':>10} {'us/hit':>10} {'x floor':>8}  how")
    for name, hits, per, how in rows:
        print(f"{name:34} {hits:9d} {per:10.3f} {per_hit(name):10.3f} {ratio(name):8.2f}  {how}")
    print("(x floor = us per hit / empty-uprobe us per hit; Delve rows are added cost only)")
    for note in notes:
        print("note:", note)
    if summary:
        print(f"dapgo trace at {n} calls ({2 * n} hits): {summary.group(1)} records delivered, "
              f"{summary.group(2)} lost; {wall:.1f} s wall")

    pairs = [("logpoint", "dlv logpoint i={i} (DAP)", "dapgo logpoint i={i}"),
             ("never-true condition", f"dlv condition {never} (DAP)",
              f"dapgo condition {never}"),
             ("trace (per call)", "dlv trace (args + returns)", "dapgo trace (args + returns)")]
    for what, d, g in pairs:
        if d in by:
            print(f"Delve/dapgo {what:22} {by[d][1] / by[g][1]:10.0f}x")

    def target(text: str, ok: bool) -> None:
        print(f"target {text:58} {'holds' if ok else 'MISSED'}")

    target("dapgo logpoint <= 2x floor per hit", ratio("dapgo logpoint i={i}") <= 2)
    target("dapgo trace <= 2x floor per hit", ratio("dapgo trace (args + returns)") <= 2)
    own = by["empty uprobes on trace's sites (floor)"][1]
    trace_x = by["dapgo trace (args + returns)"][1] / own if own else float("nan")
    print(f"dapgo trace / empty uprobes on its own sites, per call: {trace_x:.2f}x")
    target("dapgo never-true condition <= 1.5x floor per hit",
           ratio(f"dapgo condition {never}") <= 1.5)
    delivered = bool(summary) and 2 * n >= 200_000 and summary is not None \
        and int(summary.group(1)) == 2 * n and int(summary.group(2)) == 0
    target(f"every record delivered at {2 * n} hits (>= 200,000)", delivered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
