"""pprof labels in Chrome trace files: track names and per-call args (dapgo/trace_chrome.py),
and which labels a call gets once the program's memory is gone (dapgo/trace_labels.py)."""

from __future__ import annotations

import ctypes
import io
import json
import os
import subprocess
from typing import Any

from dapgo.engine.labels import Labels
from dapgo.engine.memcache import MemCache
from dapgo.trace_chrome import ChromeTrace
from dapgo.trace_labels import CallLabels


def _events(buf: io.StringIO) -> list[dict[str, Any]]:
    doc = json.loads(buf.getvalue())
    events: list[dict[str, Any]] = doc["traceEvents"]
    return events


def test_tracks_are_named_with_labels_and_renamed_when_they_change() -> None:
    buf = io.StringIO()
    ct = ChromeTrace(buf, 10, "prog")
    ct.call(7, "main.f", 1000, [("x", "1")], {})  # no labels yet
    ct.ret(7, "main.f", 2000, ["2"])
    ct.call(7, "main.f", 3000, [("x", "1")], {"team": "blue", "route": "/a"})
    ct.ret(7, "main.f", 4000, [])
    ct.call(7, "main.f", 5000, [], None)  # not known: the track keeps its name
    ct.ret(7, "main.f", 6000, [])
    ct.call(7, "main.f", 7000, [], {})  # left pprof.Do
    ct.close(delivered=8, lost=0)
    events = _events(buf)
    names = [e["args"]["name"] for e in events if e["name"] == "thread_name"]
    assert names == ["goroutine 7", "goroutine 7 {route=/a, team=blue}", "goroutine 7"]
    begins = [e["args"] for e in events if e["ph"] == "B"]
    assert begins == [{"x": "1"}, {"x": "1", "pprof labels": {"route": "/a", "team": "blue"}},
                      {}, {}]


class _Decoder:
    """Decodes the one labelMap this test pretends is at `ptr`."""

    def __init__(self, ptr: int, labels: Labels) -> None:
        self.ptr = ptr
        self.answer = labels

    def decode(self, ptr: int, mem: MemCache, strings: dict[int, str]) -> Labels:
        mem.read(ptr, 8)
        return self.answer if ptr == self.ptr else {}


def test_after_the_exit_a_call_keeps_its_goroutines_labels_under_the_same_map() -> None:
    word = ctypes.c_uint64(0)  # readable memory of this (live) process
    ptr = ctypes.addressof(word)
    cl = CallLabels(_Decoder(ptr, {"team": "red"}), os.getpid())  # type: ignore[arg-type]
    assert cl.labels(5, 0) == {}  # no labelMap: no labels
    assert cl.labels(5, ptr) == {"team": "red"}
    cl.close()
    # the program has exited: its memory cannot be read any more
    cl.pid = int(subprocess.run(["sh", "-c", "echo $$"], capture_output=True,
                                text=True).stdout)
    cl.batch()
    assert cl.labels(5, ptr) == {"team": "red"}  # the same goroutine, the same map
    assert cl.labels(6, ptr) is None  # another goroutine: not known
    assert cl.labels(5, ptr + 64) is None  # another map
    assert cl.labels(5, None) is None  # the kernel could not read g.labels
    assert cl.missed == 3
    cl.close()
