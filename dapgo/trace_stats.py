"""`dapgo trace --stats`: calls, rate and latency percentiles per traced function.

Built from the same pairing of entries and returns as the Chrome output (trace_spans), in
user space from the records the ring buffer delivered: exact percentiles (durations are
kept per function in compact arrays). Calls a panic unwound count with the time to the
unwinding; calls still open at the end are counted apart, not as latencies.
"""

from __future__ import annotations

from array import array

import attrs

from .trace_spans import Ended, Spans


@attrs.define
class FnStats:
    durations: array = attrs.field(factory=lambda: array("q"))
    unwound: int = 0
    unfinished: int = 0


def _pct(sorted_ns: list[int], q: float) -> int:
    """The q-th percentile (nearest rank) of sorted durations."""
    if not sorted_ns:
        return 0
    k = max(0, min(len(sorted_ns) - 1, int(q * len(sorted_ns) + 0.999999) - 1))
    return sorted_ns[k]


def human_ns(ns: int) -> str:
    for unit, div in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= div:
            return f"{ns / div:.3g}{unit}"
    return f"{ns}ns"


@attrs.define
class CallStats:
    spans: Spans = attrs.field(factory=Spans)
    by_fn: dict[str, FnStats] = attrs.field(factory=dict)
    first: int | None = None
    last: int = 0

    def _seen(self, t: int) -> None:
        if self.first is None:
            self.first = t
        self.last = max(self.last, t)

    def call(self, goid: int, fn: str, t: int) -> None:
        self._seen(t)
        self.spans.enter(goid, fn, t, [])

    def ret(self, goid: int, fn: str, t: int) -> None:
        self._seen(t)
        for e in self.spans.leave(goid, fn, t, []):
            self._add(e)

    def _add(self, e: Ended) -> None:
        st = self.by_fn.setdefault(e.call.fn, FnStats())
        if e.unfinished:
            st.unfinished += 1
            return
        st.durations.append(e.duration)
        if e.unwound:
            st.unwound += 1

    def table(self) -> str:
        """The table, one row per function, busiest first; ends the calls still open."""
        for e in self.spans.finish(self.last):
            self._add(e)
        span_s = max((self.last - (self.first or 0)) / 1e9, 1e-9)
        head = ("function", "calls", "rate/s", "p50", "p90", "p99", "max", "note")
        rows: list[tuple[str, ...]] = [head]
        for fn, st in sorted(self.by_fn.items(), key=lambda kv: -len(kv[1].durations)):
            d = sorted(st.durations)
            note = []
            if st.unwound:
                note.append(f"{st.unwound} unwound by panic")
            if st.unfinished:
                note.append(f"{st.unfinished} still running")
            rows.append((fn, str(len(d)), f"{len(d) / span_s:.0f}",
                         *(human_ns(_pct(d, q)) for q in (0.5, 0.9, 0.99)),
                         human_ns(d[-1] if d else 0), ", ".join(note)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        return "\n".join(
            "  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in rows)
