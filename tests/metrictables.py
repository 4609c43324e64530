"""Reading `dapgo metrics` and `dapgo metrics -hist` back, for the tests that check metric
points (over DAP in tests/e2e, and through the real editors in tests/editors)."""

from __future__ import annotations

import math
import re

# 20 ms = 2**24.25 ns: durations in [2**24, 2**25) ns, [16.8 ms, 33.6 ms)
BUCKET_20MS = 24


def rows(table: str) -> dict[tuple[str, str], list[str]]:
    """(metric, key) -> the other columns of `dapgo metrics`' table."""
    out = {}
    for ln in table.splitlines()[1:]:
        cols = ln.split()
        if len(cols) >= 4:
            out[(f"{cols[0]} {cols[1]}", cols[2])] = cols[3:]
    return out


def histograms(text: str) -> dict[str, dict[int, int]]:
    """key -> {log2 bucket: calls} from `dapgo metrics -hist`."""
    out: dict[str, dict[int, int]] = {}
    key = ""
    units = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
    for ln in text.splitlines():
        m = re.match(r"(\S+): \d+ calls", ln)
        if m:
            key = m.group(1)
            out[key] = {}
            continue
        m = re.match(r"\s+\[\s*([\d.]+)(ns|us|ms|s),.*\)\s+(\d+)", ln)
        if m and key:
            lo = float(m.group(1)) * units[m.group(2)]
            out[key][round(math.log2(lo))] = int(m.group(3))
    return out


def check_sleeps(hist: dict[int, int], calls: int) -> None:
    """`calls` calls of a function that sleeps 20 ms: all in the 20 ms bucket, but for one
    that a loaded machine may have delayed into the next."""
    assert sum(hist.values()) == calls and min(hist) == BUCKET_20MS, hist
    assert hist.get(BUCKET_20MS, 0) >= calls - 1 and max(hist) <= BUCKET_20MS + 1, hist


def check_teams(metrics: str, hist: str, *, latency: str, count: str) -> None:
    """What the `editors` fixture's labelled goroutines show (team=red calls serve 3 times,
    team=blue 5, each sleeping 20 ms) for a `{#latency by team}` metric named `latency` and a
    `{#count by team}` one named `count` (as `dapgo metrics` names them: "main.go:N
    latency"): exact counts per label value, p50 and every call in the 20 ms log2 bucket."""
    table = rows(metrics)
    for name in (latency, count):
        assert (table[(name, "team=red")][0], table[(name, "team=blue")][0]) == ("3", "5"), metrics
    for team in ("team=red", "team=blue"):
        p50 = table[(latency, team)][2]
        assert p50.endswith("ms") and 16.7 <= float(p50[:-2]) < 33.6, metrics
    got = histograms(hist)
    check_sleeps(got["team=red"], 3)
    check_sleeps(got["team=blue"], 5)
