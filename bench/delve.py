"""Delve as the benchmarks' reference: a `dlv dap` server on 127.0.0.1 and a DAP client
connected to it (Delve prints its address on stdout)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from dapclient import DAPClient, _drain


@contextmanager
def dlv_dap(dlv: str) -> Iterator[DAPClient]:
    """`dlv dap` started (its Go version check off: Delve 1.20.2 reads Go 1.21 builds), a
    client connected to it; the server is killed afterwards."""
    proc = subprocess.Popen([dlv, "dap", "--listen", "127.0.0.1:0", "--check-go-version=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proc.stderr = proc.stdout  # dapclient's drainer reads stderr
    lines = _drain(proc)
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            for line in list(lines):
                m = re.search(r"listening at: \[?[^\]]*\]?:(\d+)", line)
                if m:
                    port = int(m.group(1))
            if time.monotonic() > deadline:
                raise RuntimeError(f"dlv dap did not start: {lines}")
            time.sleep(0.005)
        with DAPClient.connect("127.0.0.1", port) as c:
            yield c
    finally:
        proc.kill()
        proc.wait()
