"""Per-call cost of tracing one hot function, side by side in one run (tracee fixture, `hot`):
untraced, an empty uprobe (the floor), dapgo trace (args + returns), a dapgo logpoint, a
never-true in-kernel condition, and `dlv trace` if dlv is on PATH. Also: records delivered
at 200,000 hits. Run as root: .venv/bin/python bench/trace_overhead.py [CALLS]"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import fixtures  # noqa: E402

from dapgo.engine.bpf.attach import UprobeLink  # noqa: E402
from dapgo.engine.bpf.logpoints import BpfLogpoints  # noqa: E402
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

    def __init__(self, binary: str, addr: int, pid: int) -> None:
        import bcc

        from dapgo.engine.bpf.attach import BPF_TRACE_UPROBE_MULTI
        self.b = bcc.BPF(text="int empty(void *ctx) { return 0; }")
        fn = self.b.load_func(b"empty", bcc.BPF.KPROBE, attach_type=BPF_TRACE_UPROBE_MULTI)
        self.link = UprobeLink(binary, fn.fd, [addr], pid)

    def close(self) -> None:
        self.link.close()
        self.b.cleanup()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    binary = str(fixtures.build("tracee"))
    bi = BinaryInfo.open(binary)
    fn = bi.function("main.hot")
    assert fn is not None
    entry = bi.first_pc_after_prologue(fn)
    body = bi.addresses_for_line(*fixtures.line_of("tracee", "hot_body")).addresses
    rows: list[tuple[str, float]] = []
    rows.append(("untraced call", run_held(binary, n)))
    rows.append(("empty uprobe (floor)", run_held(
        binary, n, lambda pid: EmptyProbe(binary, entry, pid))))

    def logpoint(pid: int, cond: str | None) -> BpfLogpoints:
        lp = BpfLogpoints(bi, pid)
        res = lp.add(9, body, message="i={i}", condition=cond)
        assert res.fallback is None, res.fallback
        return lp

    rows.append(("dapgo logpoint i={i}", run_held(binary, n, lambda p: logpoint(p, None))))
    rows.append(("dapgo condition never true", run_held(
        binary, n, lambda p: logpoint(p, "i < 0"))))
    t0 = time.monotonic()
    tr = subprocess.run([sys.executable, "-m", "dapgo.trace", "trace", "--exec", binary,
                         r"^main\.hot$", "--", "hot", str(n)], capture_output=True, text=True,
                        cwd=ROOT)
    wall = time.monotonic() - t0
    m = re.search(r"(\d+) ns/call", tr.stdout)
    rows.append(("dapgo trace (args + returns)", float(m.group(1)) if m else float("nan")))
    summary = re.search(r"dapgo trace: (\d+) records delivered, (\d+) lost", tr.stderr)
    dlv = shutil.which("dlv")
    if dlv:
        dn = min(n, 2000)  # ptrace tracing is ~10^4 times slower: fewer calls
        d = subprocess.run([dlv, "trace", "--exec", binary, r"^main\.hot$", "--", "hot",
                            str(dn)], capture_output=True, text=True, timeout=600)
        m = re.search(r"(\d+) ns/call", d.stdout + d.stderr)
        rows.append((f"dlv trace ({dn} calls)", float(m.group(1)) if m else float("nan")))
    floor = rows[1][1]
    print(f"{'what':32} {'us/call':>10} {'x floor':>8}")
    for name, ns in rows:
        print(f"{name:32} {ns / 1000:10.3f} {ns / floor if floor else 0:8.2f}")
    if summary:
        print(f"dapgo trace at {n} calls ({2 * n} hits): {summary.group(1)} records delivered, "
              f"{summary.group(2)} lost; {wall:.1f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
