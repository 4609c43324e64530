"""Chrome trace-event JSON for `dapgo trace --output FILE.json` (Perfetto, chrome://tracing).

One process (the program), one track per goroutine (`tid` = goroutine id, named by a
`thread_name` metadata event), a `B` event when a call begins (its arguments as `args`) and
an `E` event when it ends (its results as `args`). Events are written as they come, so a
trace of millions of calls never sits in memory; every `B` gets its `E` (calls still open
at the end are closed at the last timestamp and marked `unfinished`). Timestamps are
microseconds from the first record.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from .trace_spans import Ended, Spans


class ChromeTrace:
    """Writes one trace file; `call`/`ret` per record, `close` at the end."""

    def __init__(self, out: TextIO, pid: int, program: str) -> None:
        self.out = out
        self.pid = pid
        self.spans = Spans()
        self.t0: int | None = None
        self.last = 0
        self.named: set[int] = set()
        self.count = 0
        out.write('{"displayTimeUnit":"ns","traceEvents":[\n')
        self._event({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                     "args": {"name": program}})

    def _ts(self, t: int) -> float:
        if self.t0 is None:
            self.t0 = t
        self.last = max(self.last, t)
        return (t - self.t0) / 1000.0

    def _event(self, ev: dict[str, Any]) -> None:
        self.out.write((",\n" if self.count else "") + json.dumps(ev, separators=(",", ":")))
        self.count += 1

    def _track(self, goid: int) -> None:
        if goid not in self.named:
            self.named.add(goid)
            self._event({"ph": "M", "name": "thread_name", "pid": self.pid, "tid": goid,
                         "args": {"name": f"goroutine {goid}"}})

    def call(self, goid: int, fn: str, t: int, args: list[tuple[str, str]]) -> None:
        self._track(goid)
        ts = self._ts(t)
        self.spans.enter(goid, fn, t, args)
        self._event({"ph": "B", "name": fn, "cat": "call", "pid": self.pid, "tid": goid,
                     "ts": ts, "args": dict(args)})

    def ret(self, goid: int, fn: str, t: int, results: list[str]) -> None:
        ts = self._ts(t)
        for e in self.spans.leave(goid, fn, t, results):
            self._end(e, ts)

    def _end(self, e: Ended, ts: float) -> None:
        args: dict[str, Any] = {f"r{i}": r for i, r in enumerate(e.results)}
        if e.unwound:
            args["unwound"] = True
        if e.unfinished:
            args["unfinished"] = True
        self._event({"ph": "E", "name": e.call.fn, "cat": "call", "pid": self.pid,
                     "tid": e.goid, "ts": ts, "args": args})

    def close(self, *, delivered: int, lost: int) -> None:
        end = self.last
        ts = self._ts(end) if self.t0 is not None else 0.0
        for e in self.spans.finish(end):
            self._end(e, ts)
        self.out.write("\n],\n")
        self.out.write('"otherData":' + json.dumps({
            "tool": "dapgo trace", "records_delivered": delivered, "records_lost": lost,
            "returns_without_entry": self.spans.orphan_returns}) + "}\n")
        self.out.flush()
