"""Pairing trace records into calls (dapgo/trace_spans.py)."""

from __future__ import annotations

from dapgo.trace_spans import Spans


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
