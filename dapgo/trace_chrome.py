"""Chrome trace-event JSON for `dapgo trace --output FILE.json` (Perfetto, chrome://tracing).

One process (the program), one track per goroutine (`tid` = goroutine id, named by a
`thread_name` metadata event), a `B` event when a call begins (its arguments as `args`) and
an `E` event when it ends (its results as `args`). pprof labels are metadata: a call made
with labels has them under `args["pprof labels"]` (a key no Go identifier can be), and its
goroutine's track is named with them ("goroutine 7 {team=blue}"; named again when they
change: viewers show the last name). Events are written as they come, so a
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
        self.named: dict[int, str] = {}  # goroutine -> its track's name
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

    def _track(self, goid: int, labels: dict[str, str] | None) -> None:
        """Name the goroutine's track, with its labels; `labels` None: not known (the
        track keeps its name)."""
        name = f"goroutine {goid}"
        if labels:
            name += " {" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
        elif labels is None and goid in self.named:
            return
        if self.named.get(goid) != name:
            self.named[goid] = name
            self._event({"ph": "M", "name": "thread_name", "pid": self.pid, "tid": goid,
                         "args": {"name": name}})

    def call(self, goid: int, fn: str, t: int, args: list[tuple[str, str]],
             labels: dict[str, str] | None = None) -> None:
        """A call begins; `labels`: its goroutine's pprof labels ({}: none; None: not
        known)."""
        self._track(goid, labels)
        ts = self._ts(t)
        self.spans.enter(goid, fn, t, args)
        ev_args: dict[str, Any] = dict(args)
        if labels:
            ev_args["pprof labels"] = dict(sorted(labels.items()))
        self._event({"ph": "B", "name": fn, "cat": "call", "pid": self.pid, "tid": goid,
                     "ts": ts, "args": ev_args})

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
