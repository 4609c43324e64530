"""Pairing `dapgo trace` records into calls: each return with the entry it ends.

Records come per goroutine in the order they happened (one ring buffer, reserved in time
order). A return ends the innermost open call of its function on that goroutine; calls
above it on the goroutine's stack left without a return of their own (a panic unwound
them), so they end there too, marked `unwound`. A return whose entry was never seen (the
call began before the probes) ends nothing and is counted. Pure logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs


@attrs.define
class Open:
    """A call that has begun: its function, start (ns) and arguments as Go text."""

    fn: str
    start: int
    args: list[tuple[str, str]]


@attrs.define
class Ended:
    """A call that is over."""

    goid: int
    call: Open
    end: int
    results: list[str]
    unwound: bool = False      # ended by a panic unwinding through it, not by its RET
    unfinished: bool = False   # still open when the trace ended

    @property
    def duration(self) -> int:
        return self.end - self.call.start


@attrs.define
class Spans:
    """Open calls per goroutine; `enter` and `leave` say what ended."""

    stacks: dict[int, list[Open]] = attrs.field(factory=dict)
    orphan_returns: int = 0

    def enter(self, goid: int, fn: str, t: int, args: list[tuple[str, str]]) -> Open:
        call = Open(fn, t, args)
        self.stacks.setdefault(goid, []).append(call)
        return call

    def leave(self, goid: int, fn: str, t: int, results: list[str]) -> list[Ended]:
        """The calls this return ends, innermost first (the last one is `fn`'s own)."""
        stack = self.stacks.get(goid, [])
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth].fn == fn:
                break
        else:
            self.orphan_returns += 1
            return []
        ended = [Ended(goid, c, t, [], unwound=True) for c in reversed(stack[depth + 1:])]
        ended.append(Ended(goid, stack[depth], t, results))
        del stack[depth:]
        return ended

    def finish(self, t: int) -> Iterator[Ended]:
        """End every call still open at time `t` (the trace is over), innermost first."""
        for goid, stack in self.stacks.items():
            for c in reversed(stack):
                yield Ended(goid, c, max(t, c.start), [], unfinished=True)
        self.stacks.clear()
