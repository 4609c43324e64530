"""Unit tests for the Delve-syntax goroutine filter parser and matcher (pure logic)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import pytest

from dapgo.engine.errors import DebuggerError
from dapgo.engine.goroutine_filters import (
    FilterError,
    GoroutineFilter,
    GoroutineQuery,
    group_value,
    matches_all,
    order_by_cost,
    parse_filters,
    parse_query,
)
from dapgo.engine.goroutine_view import parse_command


@attrs.frozen
class G:
    """A fake goroutine for the matcher."""

    lab: dict[str, str] = attrs.field(factory=dict)
    run: bool = False
    sys: bool = False
    locs: dict[str, str] = attrs.field(factory=dict)

    def labels(self) -> Mapping[str, str]:
        return self.lab

    def running(self) -> bool:
        return self.run

    def system(self) -> bool:
        return self.sys

    def location(self, kind: str) -> str:
        return self.locs.get(kind, "?:0 in ?")


@pytest.mark.parametrize(("text", "expected"), [
    ("", ()),
    ("-with label team=blue", (GoroutineFilter("label", "team=blue"),)),
    ("-w label team", (GoroutineFilter("label", "team"),)),
    ("-without running", (GoroutineFilter("running", negated=True),)),
    ("-wo user", (GoroutineFilter("user", negated=True),)),
    ("-with userloc main.work -without curloc runtime.gopark",
     (GoroutineFilter("userloc", "main.work"),
      GoroutineFilter("curloc", "runtime.gopark", True))),
    ("-with goloc main.go:12 -with startloc main.worker",
     (GoroutineFilter("goloc", "main.go:12"), GoroutineFilter("startloc", "main.worker"))),
    ("  -with   label   'team=a b'  ", (GoroutineFilter("label", "team=a b"),)),
    ("-with label k=", (GoroutineFilter("label", "k="),)),
])
def test_parse(text: str, expected: tuple[GoroutineFilter, ...]) -> None:
    assert parse_filters(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("-with", "-with must be followed by one of"),
    ("-with lable team=blue", "unknown filter kind 'lable'"),
    ("-with label", "-with label must be followed by KEY or KEY=VALUE"),
    ("-with label =blue", "needs a KEY"),
    ("-with userloc", "must be followed by a SUBSTRING"),
    ("-with userloc -with running", "must be followed by a SUBSTRING"),
    ("label team=blue", "unexpected 'label'"),
    ("-with running extra", "unexpected 'extra'"),
    ("-group label team", "unexpected '-group'"),  # not in goroutineFilters
    ("-with label 'team", "cannot parse"),
])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as info:
        parse_filters(text)
    assert isinstance(info.value, DebuggerError)


def test_query_group() -> None:
    q = parse_query("-with user -group label shard")
    assert q == GoroutineQuery((GoroutineFilter("user"),), "label", "shard")
    assert parse_query("-group running").group_by == "running"
    with pytest.raises(FilterError, match="-group label must be followed by a label KEY"):
        parse_query("-group label")
    with pytest.raises(FilterError, match="only once"):
        parse_query("-group user -group running")


def test_str_roundtrip() -> None:
    fs = parse_filters("-with label 'team=a b' -without running -w userloc x")
    assert parse_filters(" ".join(map(str, fs))) == fs


def test_match() -> None:
    blue = G({"team": "blue", "worker": "1"}, locs={"userloc": "/x/main.go:3 in main.work"})
    red = G({"team": "red"}, run=True)
    sysg = G(sys=True, locs={"userloc": "/r/proc.go:1 in runtime.gopark"})
    gs = [blue, red, sysg]

    def pick(text: str) -> list[G]:
        fs = order_by_cost(parse_filters(text))
        return [g for g in gs if matches_all(fs, g)]

    assert pick("-with label team=blue") == [blue]
    assert pick("-with label team") == [blue, red]
    assert pick("-without label team") == [sysg]
    assert pick("-with label team=") == []  # present with an empty value only
    assert pick("-with running") == [red]
    assert pick("-without running") == [blue, sysg]
    assert pick("-with user") == [blue, red]
    assert pick("-without user") == [sysg]
    assert pick("-with userloc main.work") == [blue]
    assert pick("-with userloc 'main.go:3 in'") == [blue]
    assert pick("-without userloc runtime. -with label team") == [blue, red]
    assert pick("-with label team -without label worker=1") == [red]
    assert pick("") == gs


def test_group_value() -> None:
    q = parse_query("-group label team")
    assert group_value(q, G({"team": "x"})) == "x"
    assert group_value(q, G()) is None
    assert group_value(parse_query("-group user"), G(sys=True)) == "system"
    assert group_value(parse_query("-group userloc"),
                       G(locs={"userloc": "a:1 in f"})) == "a:1 in f"


def test_command() -> None:
    c = parse_command("goroutines -with label team=blue")
    assert c.sets_view and c.query.filters == (GoroutineFilter("label", "team=blue"),)
    c = parse_command("-with label team=blue -group label worker")
    assert not c.sets_view and c.reports_only and c.query.group_key == "worker"
    c = parse_command("-labels team,worker")
    assert c.sets_view and c.labels == ("team", "worker")
    assert parse_command("-labels -").labels == ()
    assert parse_command("-clear").sets_view
    assert parse_command("-list 5").list_count == 5
    assert parse_command("-help").help
    assert not parse_command("").sets_view
    with pytest.raises(FilterError, match="-labels must be followed"):
        parse_command("-labels")
    with pytest.raises(FilterError, match="unknown filter kind"):
        parse_command("-with nothing")
    with pytest.raises(FilterError, match="-clear removes the filters"):
        parse_command("-clear -with user")
