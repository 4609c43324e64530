"""Metric points: what `{#count}` / `{#latency by team}` in a logpoint's message means, and
the tables shown for them. Pure logic (a leaf: imports only errors), shared by the DAP
engine and `dapgo trace --stats`.

A metric point is a logpoint whose whole message is one directive:

    {#count}                    hits of this line
    {#count by goroutine}       ... per goroutine
    {#latency by team}          calls of the enclosing function, entry to return, split by
                                the value of the goroutine's pprof label `team`
    {#latency by label goroutine}  a label that happens to be named "goroutine"

The kernel sends no record per hit: it adds to counters and a log2 histogram of durations
(bucket i holds durations in [2^i, 2^(i+1)) ns), read back on request. Count, mean and
maximum are exact; percentiles are estimated from the histogram (linear within the bucket
the rank falls in, so within a factor of two by construction).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import attrs

from dapgo.engine.errors import DebuggerError

Kind = Literal["count", "latency"]
_DIRECTIVE = re.compile(r"\s*\{#\s*(\w+)(?:\s+by\s+(?:(label)\s+)?([^\s{}]+))?\s*\}\s*")


@attrs.frozen
class MetricSpec:
    kind: Kind
    by_goroutine: bool = False
    label: str | None = None  # the pprof label key that splits it

    def describe(self) -> str:
        by = " by goroutine" if self.by_goroutine else (
            f" by label {self.label}" if self.label else "")
        return f"{self.kind}{by}"


def parse_metric(message: str | None) -> MetricSpec | None:
    """The metric a log message asks for; None for an ordinary log message. A message that
    starts like a directive but is not a valid one is an error, said in full."""
    if message is None or "{#" not in message:
        return None
    m = _DIRECTIVE.fullmatch(message)
    if m is None:
        raise DebuggerError(
            f"metric point {message!r}: write the whole message as one directive, "
            "{#count} or {#latency}, optionally followed by 'by goroutine' or 'by LABELKEY' "
            "(e.g. {#latency by team})")
    kind, label_word, key = m.group(1), m.group(2), m.group(3)
    if kind not in ("count", "latency"):
        raise DebuggerError(f"metric point {message!r}: {kind!r} is not a metric "
                            "(count or latency)")
    if key is None:
        return MetricSpec(kind)  # type: ignore[arg-type]
    if key == "goroutine" and not label_word:
        return MetricSpec(kind, by_goroutine=True)  # type: ignore[arg-type]
    if len(key.encode()) > 32:
        raise DebuggerError(f"metric point {message!r}: label keys of up to 32 bytes")
    return MetricSpec(kind, label=key)  # type: ignore[arg-type]


@attrs.frozen
class Series:
    """One key of a metric: its counters and histogram (nanoseconds)."""

    key: str
    count: int
    total_ns: int = 0
    max_ns: int = 0
    hist: tuple[int, ...] = ()

    def percentile(self, q: float) -> int:
        """The q-th call's duration (ns) estimated from the histogram: linear within the
        bucket the rank falls in, never above the exact maximum."""
        n = sum(self.hist)
        if n == 0:
            return 0
        rank = max(1, int(q * n + 0.999999))
        seen = 0
        for i, c in enumerate(self.hist):
            if c and seen + c >= rank:
                lo = 1 << i if i else 0
                est = lo + (((1 << (i + 1)) - lo) * (rank - seen)) // c
                return min(est, self.max_ns) if self.max_ns else est
            seen += c
        return self.max_ns


def human_ns(ns: float) -> str:
    for unit, div in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= div:
            return f"{ns / div:.3g}{unit}"
    return f"{ns:.0f}ns"


def table(rows: Sequence[tuple[str, Kind, Series, float]]) -> str:
    """A text table of (metric name, kind, series, rate per second) rows."""
    head = ("metric", "key", "count", "rate/s", "p50", "p90", "p99", "max", "mean")
    out: list[tuple[str, ...]] = [head]
    for name, kind, s, rate in rows:
        if kind == "count":
            out.append((name, s.key, str(s.count), f"{rate:.0f}", "", "", "", "", ""))
        else:
            out.append((name, s.key, str(s.count), f"{rate:.0f}",
                        *(human_ns(s.percentile(q)) for q in (0.5, 0.9, 0.99)),
                        human_ns(s.max_ns), human_ns(s.total_ns / s.count if s.count else 0)))
    widths = [max(len(r[i]) for r in out) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in out)


def histogram(s: Series, width: int = 40) -> str:
    """The log2 histogram of one series as text bars."""
    used = [i for i, c in enumerate(s.hist) if c]
    if not used:
        return f"{s.key}: no calls measured"
    top = max(s.hist)
    lines = [f"{s.key}: {s.count} calls, max {human_ns(s.max_ns)}"]
    for i in range(used[0], used[-1] + 1):
        c = s.hist[i]
        bar = "#" * max(1 if c else 0, round(width * c / top))
        lines.append(f"  [{human_ns(1 << i):>7}, {human_ns(1 << (i + 1)):>7})  {c:>9}  {bar}")
    return "\n".join(lines)
