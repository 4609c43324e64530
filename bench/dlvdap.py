"""Delve's DAP server (`dlv dap`) for the benchmarks: the reference they measure against,
never a dependency of dapgo."""

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
    """A client connected to a fresh `dlv dap` on 127.0.0.1 (killed on exit)."""
    proc = subprocess.Popen([dlv, "dap", "--listen", "127.0.0.1:0", "--check-go-version=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proc.stderr = proc.stdout  # dapclient's drainer reads stderr; Delve prints on stdout
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
