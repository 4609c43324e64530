"""UNIT TESTS of the on-disk memo (dapgo.engine.dwarf.cache.Memo): puts are written behind,
in one write, by a timer or by flush(), and a later Memo of the same build id reads them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dapgo.engine.dwarf import cache


def test_puts_reach_disk_by_flush_and_by_the_timer(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAPGO_CACHE_DIR", str(tmp_path))
    memo = cache.Memo("build-1")
    memo.put("offsets", "a", [8, {"x": 0}])
    memo.put("prologue", "f", 4096)
    assert memo.get("prologue", "f") == 4096  # at once, in memory
    memo.flush()
    again = cache.Memo("build-1")
    assert again.get("offsets", "a") == [8, {"x": 0}] and again.get("prologue", "f") == 4096
    assert cache.Memo("build-2").get("prologue", "f") is None

    again.put("inlined", "g", [1, 2])  # no flush: the timer writes it
    deadline = time.monotonic() + 5
    while cache.Memo("build-1").get("inlined", "g") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.Memo("build-1").get("inlined", "g") == [1, 2]
    assert cache.Memo("build-1").get("prologue", "f") == 4096  # earlier facts kept
    memo.flush()  # nothing pending: no write, no error
