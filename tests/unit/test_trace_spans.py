"""Pairing trace records into calls (dapgo/trace_spans.py) and the --stats table."""

from __future__ import annotations

from dapgo.trace_spans import Spans
from dapgo.trace_stats import CallStats, _pct


def test_return_ends_its_own_call_and_those_a_panic_unwound() -> None:
    s = Spans()
    s.enter(1, "a", 0, [])
    s.enter(1, "b", 10, [])
    s.enter(1, "c", 20, [])
    ended = s.leave(1, "a", 50, ["r"])
    assert [(e.call.fn, e.unwound, e.duration) for e in ended] == [
        ("c", True, 30), ("b", True, 40), ("a", False, 50)]
    assert ended[-1].results == ["r"]
    assert s.stacks[1] == []


def test_recursion_ends_the_innermost_call() -> None:
    s = Spans()
    s.enter(1, "f", 0, [])
    s.enter(1, "f", 5, [])
    assert [e.call.start for e in s.leave(1, "f", 7, [])] == [5]
    assert [e.call.start for e in s.leave(1, "f", 9, [])] == [0]


def test_goroutines_are_separate_and_orphan_returns_counted() -> None:
    s = Spans()
    s.enter(1, "f", 0, [])
    assert s.leave(2, "f", 3, []) == []
    assert s.orphan_returns == 1
    assert [e.goid for e in s.leave(1, "f", 4, [])] == [1]


def test_finish_closes_open_calls_innermost_first() -> None:
    s = Spans()
    s.enter(1, "main", 0, [])
    s.enter(1, "g", 5, [])
    ended = list(s.finish(9))
    assert [(e.call.fn, e.unfinished, e.end) for e in ended] == [
        ("g", True, 9), ("main", True, 9)]
    assert s.stacks == {}


def test_percentiles_nearest_rank() -> None:
    d = list(range(1, 101))
    assert (_pct(d, 0.5), _pct(d, 0.9), _pct(d, 0.99)) == (50, 90, 99)
    assert _pct([7], 0.99) == 7 and _pct([], 0.5) == 0


def test_stats_table_counts_unwound_and_unfinished() -> None:
    st = CallStats()
    st.call(1, "f", 0)
    st.call(1, "g", 1_000)
    st.ret(1, "f", 3_000_000)
    st.call(2, "f", 3_000_000)
    table = st.table().splitlines()
    assert table[0].split()[:7] == ["function", "calls", "rate/s", "p50", "p90", "p99", "max"]
    f = next(r for r in table if r.startswith("f "))
    assert f.split()[1] == "1" and "1 still running" in f and "3ms" in f
    g = next(r for r in table if r.startswith("g "))
    assert "1 unwound by panic" in g
