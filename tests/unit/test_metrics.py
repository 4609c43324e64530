"""Metric point directives and the figures shown for them (dapgo/engine/metrics.py)."""

from __future__ import annotations

import pytest

from dapgo.engine.errors import DebuggerError
from dapgo.engine.metrics import MetricSpec, Series, histogram, parse_metric, table


def test_directives() -> None:
    assert parse_metric("x={x}") is None and parse_metric(None) is None
    assert parse_metric("{#count}") == MetricSpec("count")
    assert parse_metric(" {# latency by team } ") == MetricSpec("latency", label="team")
    assert parse_metric("{#count by goroutine}") == MetricSpec("count", by_goroutine=True)
    assert parse_metric("{#count by label goroutine}") == MetricSpec("count", label="goroutine")


@pytest.mark.parametrize("bad", ["{#count} and text", "{#histogram}", "{#count by}",
                                 "{#latency by " + "k" * 33 + "}"])
def test_bad_directives_say_why(bad: str) -> None:
    with pytest.raises(DebuggerError, match="metric point"):
        parse_metric(bad)


def hist(**buckets: int) -> tuple[int, ...]:
    h = [0] * 64
    for k, v in buckets.items():
        h[int(k[1:])] = v
    return tuple(h)


def test_percentiles_interpolate_within_the_bucket_and_never_pass_the_max() -> None:
    # 10 calls in [2**24, 2**25) ns
    s = Series("k", 10, total_ns=10 * 20_000_000, max_ns=21_000_000, hist=hist(b24=10))
    assert 1 << 24 <= s.percentile(0.5) <= s.max_ns
    assert s.percentile(0.99) == 21_000_000
    t = Series("k", 100, max_ns=1 << 30, hist=hist(b10=90, b20=10))
    assert (1 << 10) <= t.percentile(0.5) < (1 << 11)
    assert (1 << 20) <= t.percentile(0.95) < (1 << 21)
    assert Series("k", 0).percentile(0.5) == 0


def test_table_and_histogram_text() -> None:
    lat = Series("team=red", 3, total_ns=60_000_000, max_ns=21_000_000, hist=hist(b24=3))
    cnt = Series("(all)", 1000)
    text = table([("main.go:10 latency", "latency", lat, 1.5),
                  ("main.go:20 count", "count", cnt, 100.0)])
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "key", "count", "rate/s", "p50", "p90", "p99",
                                "max", "mean"]
    assert lines[1].split()[:5] == ["main.go:10", "latency", "team=red", "3", "2"]
    assert lines[1].split()[-2:] == ["21ms", "20ms"]
    assert lines[2].split() == ["main.go:20", "count", "(all)", "1000", "100"]
    h = histogram(lat).splitlines()
    assert h[0] == "team=red: 3 calls, max 21ms"
    assert "16.8ms" in h[1] and h[1].split()[-2:] == ["3", "#" * 40]
