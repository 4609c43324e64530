"""Metric points in the kernel: the descriptors that count hits or time calls, and reading
their counters back (see dapgo.engine.metrics for what a metric means).

A count is one descriptor per address. A latency is a descriptor at the start of each
function the addresses are in (its frame's PUSH RBP, which the kernel emulates: about
0.5 us, where a single-stepped instruction costs about 16 us) that notes the time per
goroutine, and one at each of its RET
instructions that adds the elapsed time to the key's histogram. Nothing is read but the
goroutine (R14) and, when asked, one pprof label: no record goes through the ring buffer.
"""

from __future__ import annotations

import ctypes as C
import time

from dapgo.engine.dwarf import BinaryInfo, Function
from dapgo.engine.metrics import MetricSpec, Series, table

from . import layout as L
from .reads import NotReadable
from .session import BpfSession
from .tracer import call_site, ret_addresses


def _desc(spec: MetricSpec, mflags: int) -> L.Desc:
    d = L.Desc()
    d.mflags = mflags | (L.MF_BY_GOID if spec.by_goroutine else 0) | (
        L.MF_BY_LABEL if spec.label else 0)
    if spec.label:
        key = spec.label.encode()
        d.mkeylen = len(key)
        C.memmove(d.mkey, key, len(key))
    return d


def latency_descs(bi: BinaryInfo, fn: Function, spec: MetricSpec) -> dict[int, L.Desc]:
    """Timing `fn`'s calls: its entry notes the time, each RET adds the elapsed time."""
    rets = ret_addresses(bi, fn)
    if not rets:
        raise NotReadable(f"{fn.name} has no RET instruction to time its calls to")
    descs = {r: _desc(spec, L.MF_LAT_END) for r in rets}
    begin = call_site(bi, fn)
    descs[fn.entry if begin is None else begin] = _desc(spec, L.MF_LAT_BEGIN)
    return descs


def metric_descs(session: BpfSession, spec: MetricSpec, addresses: list[int]
                 ) -> dict[int, L.Desc]:
    """The probes of a metric point at `addresses` (a line's). NotReadable says why the
    kernel cannot do it."""
    bi = session.bi
    if spec.label and not session.labels_readable:
        raise NotReadable("this program's pprof labels cannot be read in the kernel (it "
                          "uses none, or an unknown layout)")
    if spec.kind == "count":
        return {a: _desc(spec, L.MF_COUNT) for a in addresses}
    descs: dict[int, L.Desc] = {}
    for fn in {f.entry: f for a in addresses if (f := bi.function_for_pc(a))}.values():
        descs.update(latency_descs(bi, fn, spec))
    if not descs:
        raise NotReadable("no function at this line")
    return descs


def read_series(session: BpfSession, probe_id: int, spec: MetricSpec) -> list[Series]:
    """Every key of a metric with its counters now, busiest first."""
    return series(session.metrics(probe_id), spec)


def series(pairs: list[tuple[L.MKey, L.MVal]], spec: MetricSpec) -> list[Series]:
    out = []
    for k, v in pairs:
        if spec.by_goroutine:
            key = f"goroutine {k.goid}"
        elif spec.label:
            text = bytes(k.label[:min(k.label_len, L.MLABEL_LEN)]).decode("utf-8", "replace")
            key = (f"{spec.label}={text}" + ("..." if k.label_len > L.MLABEL_LEN else "")
                   if k.label_len else f"{spec.label}=(none)")
        else:
            key = "(all)"
        out.append(Series(key, int(v.count), int(v.sum), int(v.max), tuple(v.hist)))
    return sorted(out, key=lambda s: (-s.count, s.key))


class FunctionStats:
    """`dapgo trace --stats`: every matching function's calls timed in the kernel (one
    metric id per function, all in one probe group), read back as one table."""

    GROUP = 2  # the uprobe group; metric ids are FIRST_ID and up, one per function
    FIRST_ID = 16

    def __init__(self, session: BpfSession, label: str | None = None) -> None:
        self.s = session
        self.spec = MetricSpec("latency", label=label)
        self.names: dict[int, str] = {}
        self.functions: list[Function] = []
        self.skipped: list[str] = []
        self.since = time.monotonic()

    def attach(self, functions: list[Function]) -> int:
        if self.spec.label and not self.s.labels_readable:
            raise NotReadable("this program's pprof labels cannot be read in the kernel (it "
                              "uses none, or an unknown layout)")
        descs: dict[int, L.Desc] = {}
        for i, fn in enumerate(functions):
            try:
                got = latency_descs(self.s.bi, fn, self.spec)
            except NotReadable as e:
                self.skipped.append(f"{fn.name}: {e}")
                continue
            mid = self.FIRST_ID + i
            for d in got.values():
                d.id = mid
            descs.update(got)
            self.names[mid] = fn.name
            self.functions.append(fn)
        if descs:
            self.s.add_group(self.GROUP, descs, keep_ids=True)
        self.since = time.monotonic()
        return len(descs)

    def table(self) -> str:
        by_id: dict[int, list[tuple[L.MKey, L.MVal]]] = {}
        for k, v in self.s.program.all_metrics():
            by_id.setdefault(k.id, []).append((k, v))
        rows = []
        took = max(time.monotonic() - self.since, 1e-9)
        for mid, name in self.names.items():
            for ser in series(by_id.get(mid, []), self.spec):
                rows.append((name, self.spec.kind, ser, ser.count / took))
        rows.sort(key=lambda r: (-r[2].count, r[0], r[2].key))
        return table(rows) if rows else "no calls of the traced functions returned"
