"""Goroutine filters with Delve's syntax: parsing (with clear errors) and matching.

    -with|-w     KIND [ARG]      keep the goroutines that match
    -without|-wo KIND [ARG]      keep the goroutines that do not match
    -group       KIND [KEY]      (command only) count goroutines per value

KIND is `label KEY=VALUE`, `label KEY`, `userloc|curloc|goloc|startloc SUBSTRING`,
`running` or `user`. Several filters combine with AND. A location matches when SUBSTRING
occurs in "FILE:LINE in FUNCTION", as in Delve. Pure logic: what a goroutine looks like is
asked through the `GoroutineFacts` protocol, so costly facts (locations) are only computed
when a filter needs them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

import attrs

from dapgo.engine.errors import DebuggerError

FilterKind = Literal["curloc", "userloc", "goloc", "startloc", "label", "running", "user"]
LOCATION_KINDS: tuple[FilterKind, ...] = ("curloc", "userloc", "goloc", "startloc")
KINDS: tuple[FilterKind, ...] = (*LOCATION_KINDS, "label", "running", "user")
_WITH = {"-w": False, "-with": False, "-wo": True, "-without": True}
# cheap facts first: AND is order-independent, locations may need a stack unwind
_COST: dict[str, int] = {"label": 0, "running": 0, "user": 1, "startloc": 2, "goloc": 2,
                         "curloc": 3, "userloc": 4}


class FilterError(DebuggerError):
    """A goroutine filter that does not parse; the message says what is wrong."""


class GoroutineFacts(Protocol):
    """What the matcher asks about one goroutine."""

    def labels(self) -> Mapping[str, str]: ...

    def running(self) -> bool: ...

    def system(self) -> bool: ...

    def location(self, kind: str) -> str:
        """`FILE:LINE in FUNCTION` for "curloc", "userloc", "goloc" or "startloc"."""
        ...


@attrs.frozen
class GoroutineFilter:
    kind: FilterKind
    arg: str = ""
    negated: bool = False

    def __str__(self) -> str:
        text = f"{'-without' if self.negated else '-with'} {self.kind}"
        return f"{text} {shlex.quote(self.arg)}" if self.arg else text

    def matches(self, g: GoroutineFacts) -> bool:
        if self.kind == "label":
            key, eq, value = self.arg.partition("=")
            labels = g.labels()
            hit = labels.get(key) == value if eq else key in labels
        elif self.kind == "running":
            hit = g.running()
        elif self.kind == "user":
            hit = not g.system()
        else:
            hit = self.arg in g.location(self.kind)
        return hit != self.negated


@attrs.frozen
class GoroutineQuery:
    """A parsed `goroutines` argument string: filters, and optionally a grouping."""

    filters: tuple[GoroutineFilter, ...] = ()
    group_by: FilterKind | None = None
    group_key: str = ""  # the label key when grouping by label


def _kind(tokens: list[str], i: int, flag: str) -> FilterKind:
    if i >= len(tokens):
        raise FilterError(f"{flag} must be followed by one of: {', '.join(KINDS)}")
    word = tokens[i]
    for k in KINDS:
        if word == k:
            return k
    raise FilterError(f"unknown filter kind {word!r} after {flag} "
                      f"(expected one of: {', '.join(KINDS)})")


def parse_query(text: str, allow_group: bool = True) -> GoroutineQuery:
    """Parse Delve-style goroutine arguments; raises FilterError saying what is wrong."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise FilterError(f"cannot parse goroutine filter {text!r}: {exc}") from exc
    filters: list[GoroutineFilter] = []
    group_by: FilterKind | None = None
    group_key = ""
    i = 0
    while i < len(tokens):
        flag = tokens[i]
        if flag in _WITH:
            kind = _kind(tokens, i + 1, flag)
            i += 2
            arg = ""
            if kind not in ("running", "user"):
                if i >= len(tokens) or tokens[i] in _WITH or tokens[i] == "-group":
                    what = "KEY or KEY=VALUE" if kind == "label" else "a SUBSTRING"
                    raise FilterError(f"{flag} {kind} must be followed by {what}")
                arg = tokens[i]
                if kind == "label" and arg.partition("=")[0] == "":
                    raise FilterError(f"{flag} label needs a KEY or KEY=VALUE, not {arg!r}")
                i += 1
            filters.append(GoroutineFilter(kind, arg, _WITH[flag]))
        elif flag == "-group" and allow_group:
            if group_by is not None:
                raise FilterError("-group may be given only once")
            group_by = _kind(tokens, i + 1, flag)
            i += 2
            if group_by == "label":
                if i >= len(tokens) or tokens[i].startswith("-"):
                    raise FilterError("-group label must be followed by a label KEY")
                group_key = tokens[i]
                i += 1
        else:
            expected = "-with, -without" + (" or -group" if allow_group else "")
            raise FilterError(f"unexpected {flag!r} in goroutine filter {text!r} "
                              f"(expected {expected})")
    return GoroutineQuery(tuple(filters), group_by, group_key)


def parse_filters(text: str) -> tuple[GoroutineFilter, ...]:
    """Only `-with`/`-without` filters (the `goroutineFilters` launch attribute)."""
    return parse_query(text, allow_group=False).filters


def format_filters(filters: Iterable[GoroutineFilter]) -> str:
    return " ".join(str(f) for f in filters)


def order_by_cost(filters: Iterable[GoroutineFilter]) -> tuple[GoroutineFilter, ...]:
    return tuple(sorted(filters, key=lambda f: _COST[f.kind]))


def matches_all(filters: tuple[GoroutineFilter, ...], g: GoroutineFacts) -> bool:
    """AND of every filter (pass them through `order_by_cost` once for speed)."""
    return all(f.matches(g) for f in filters)


def group_value(query: GoroutineQuery, g: GoroutineFacts) -> str | None:
    """The value a goroutine is grouped under (None: no such label)."""
    kind = query.group_by
    if kind == "label":
        return g.labels().get(query.group_key)
    if kind == "running":
        return "running" if g.running() else "not running"
    if kind == "user":
        return "system" if g.system() else "user"
    assert kind is not None
    return g.location(kind)
