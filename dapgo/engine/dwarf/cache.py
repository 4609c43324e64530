"""On-disk cache of expensive per-binary indexes, keyed by the ELF build id.

Location: $DAPGO_CACHE_DIR, else $XDG_CACHE_HOME/dapgo, else ~/.cache/dapgo. Entries are JSON
files; a corrupt or unreadable entry is treated as missing, and write failures are ignored
(the cache is an optimisation, never a requirement)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

FORMAT = 2  # 2: file index values are compilation-unit offsets


def cache_dir() -> Path:
    env = os.environ.get("DAPGO_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "dapgo"
    return Path.home() / ".cache" / "dapgo"


def _path(build_id: str, kind: str) -> Path:
    key = hashlib.sha256(build_id.encode()).hexdigest()[:32]
    return cache_dir() / f"{key}.{kind}.v{FORMAT}.json"


def load(build_id: str, kind: str) -> Any | None:
    if not build_id:
        return None
    try:
        with open(_path(build_id, kind), encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or obj.get("build_id") != build_id:
        return None
    return obj.get("data")


def store(build_id: str, kind: str, data: Any) -> None:
    if not build_id:
        return
    path = _path(build_id, kind)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"build_id": build_id, "data": data}, f)
        os.replace(tmp, path)
    except OSError:
        pass


MEMO = "memo"
WRITE_DELAY = 0.5  # seconds: the facts a stop learns go to disk in one write, after it


class Memo:
    """Small facts about one binary that DWARF gives slowly (where a function's prologue
    ends, the inlined copies of a function, field offsets of runtime structs), kept on
    disk by build id: what a first stop needs, so that a warm start decodes no DWARF at
    all (decompressing cmd/go's sections alone takes ~60 ms). Tables of key -> value, all
    JSON; a value that is not what the caller expects is treated as missing.

    `put` writes behind: a daemon timer writes what was put within WRITE_DELAY in one go
    (a write costs ~0.4 ms, and a first stop learns several facts), and `flush()` (at
    close) writes what is left. A fact lost to a killed process is learned again."""

    def __init__(self, build_id: str) -> None:
        self.build_id = build_id
        self._data: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def _tables(self) -> dict[str, dict[str, Any]]:
        if self._data is None:
            got = load(self.build_id, MEMO)
            self._data = ({k: v for k, v in got.items() if isinstance(v, dict)}
                          if isinstance(got, dict) else {})
        return self._data

    def get(self, table: str, key: str) -> Any | None:
        return self._tables().get(table, {}).get(key)

    def put(self, table: str, key: str, value: Any) -> None:
        tables = self._tables()
        with self._lock:
            tables.setdefault(table, {})[key] = value
            if self._timer is None and self.build_id:
                self._timer = threading.Timer(WRITE_DELAY, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write what `put` has changed since the last write (from any thread)."""
        with self._lock:
            timer, self._timer = self._timer, None
            if timer is None:
                return
            timer.cancel()
            # a copy of the tables (puts go on meanwhile; a put replaces a value, never
            # changes one in place)
            snapshot = {table: dict(rows) for table, rows in (self._data or {}).items()}
        store(self.build_id, MEMO, snapshot)
