"""Per-hit cost of metric points, side by side in one run with the floor they must be
compared with: an empty uprobe on the very same instructions (tracee fixture, `hot`).

- `{#count}` and `{#count by goroutine}` on main.hot's first instruction after the prologue,
  against an empty uprobe there;
- `{#latency}` of main.hot (probes on its entry and its RET), against empty uprobes on the
  same two instructions (an entry the kernel emulates, a RET it single-steps out of line);
- `dapgo trace --stats` of main.hot, the same probes, for the end-to-end CLI figure.

Target (issue: in-kernel metrics): each metric point at most 1.1x its floor per hit.
Run as root: .venv/bin/python bench/metric_overhead.py [CALLS]. A benchmark: exits 0."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
import fixtures  # noqa: E402
from trace_overhead import EmptyProbe, run_held  # noqa: E402

from dapgo.engine.bpf.metrics import metric_descs  # noqa: E402
from dapgo.engine.bpf.session import BpfSession  # noqa: E402
from dapgo.engine.bpf.tracer import call_site, ret_addresses  # noqa: E402
from dapgo.engine.dwarf import BinaryInfo  # noqa: E402
from dapgo.engine.metrics import parse_metric  # noqa: E402


class Metric:
    """A metric point as the DAP engine makes one, on its own BPF session."""

    def __init__(self, bi: BinaryInfo, pid: int, message: str, addrs: list[int]) -> None:
        spec = parse_metric(message)
        assert spec is not None
        self.s = BpfSession(bi, pid)
        self.spec = spec
        self.s.add_group(7, metric_descs(self.s, spec, addrs))

    def count(self) -> int:
        return sum(int(v.count) for _k, v in self.s.metrics(7))

    def close(self) -> None:
        self.s.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("calls", nargs="?", type=int, default=200_000)
    n = ap.parse_args().calls
    binary = str(fixtures.build("tracee"))
    bi = BinaryInfo.open(binary)
    fn = bi.function("main.hot")
    assert fn is not None
    first = bi.first_pc_after_prologue(fn)
    rets = ret_addresses(bi, fn)
    counts: dict[str, int] = {}

    def metric(name: str, message: str, addrs: list[int]):  # type: ignore[no-untyped-def]
        def setup(pid: int) -> object:
            m = Metric(bi, pid, message, addrs)

            class Closing:
                def close(self) -> None:
                    counts[name] = m.count()
                    m.close()
            return Closing()
        return setup

    rows: list[tuple[str, int, float, str]] = []  # name, hits per call, us/call, floor row
    untraced = run_held(binary, n) / 1000
    rows.append(("untraced call", 0, untraced, ""))
    one = "empty uprobe, first instruction after the prologue"
    rows.append((one, 1, run_held(binary, n, lambda p: EmptyProbe(binary, [first], p))
                 / 1000, ""))
    rows.append(("{#count}", 1, run_held(binary, n, metric("{#count}", "{#count}", [first]))
                 / 1000, one))
    rows.append(("{#count by goroutine}", 1, run_held(binary, n, metric(
        "{#count by goroutine}", "{#count by goroutine}", [first])) / 1000, one))
    two = f"empty uprobes, entry + {len(rets)} RET"
    begin = call_site(bi, fn) or fn.entry
    rows.append((two, 2, run_held(binary, n, lambda p: EmptyProbe(
        binary, [begin, *rets], p)) / 1000, ""))
    rows.append(("{#latency}", 2, run_held(binary, n, metric("{#latency}", "{#latency}",
                                                            [first])) / 1000, two))
    tr = subprocess.run([sys.executable, "-m", "dapgo.trace", "trace", "--stats", "--exec",
                         binary, r"^main\.hot$", "--", "hot", str(n)], capture_output=True,
                        text=True, cwd=ROOT)
    m = re.search(r"(\d+) ns/call", tr.stdout)
    rows.append(("dapgo trace --stats", 2, float(m.group(1)) / 1000 if m else float("nan"),
                 two))
    got = re.search(r"main\.hot\s+\(all\)\s+(\d+)", tr.stderr)
    counts["dapgo trace --stats"] = int(got.group(1)) if got else -1

    by = {name: per for name, _h, per, _f in rows}
    print(f"{'what':52} {'us/call':>9} {'x floor':>8}  counted")
    ratios = {}
    for name, _hits, per, floor in rows:
        r = (per - untraced) / (by[floor] - untraced) if floor else float("nan")
        ratios[name] = r
        c = counts.get(name)
        print(f"{name:52} {per:9.3f} {r:8.2f}  {'' if c is None else c}")
    print("(x floor = added cost per call / the empty uprobes' added cost per call, on the "
          "same instructions)")
    for name in ("{#count}", "{#count by goroutine}", "{#latency}"):
        ok = ratios[name] <= 1.1
        print(f"target {name + ' <= 1.1x its floor':58} {'holds' if ok else 'MISSED'}")
    exact = all(counts.get(k) == n for k in ("{#count}", "{#latency}", "dapgo trace --stats"))
    print(f"target {'every call counted':58} {'holds' if exact else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
