"""Looking at processes from the tests: a dapgo's children, whether a process lives; ending
one the test started."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

DOORBELL = "dapgo-doorbell"  # dapgo.engine.ptrace.doorbell.ARGV0: not a debuggee


def children(pid: int) -> list[int]:
    """Child processes of `pid` (every thread's), dapgo's own doorbells left out. A thread
    that ends between the listing of the tasks and the reading of its children (an
    executor's worker, say) has none left to report."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            listed = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for child in listed:
            try:
                argv0 = argv0_of(int(child))
            except FileNotFoundError:
                continue
            if argv0 != DOORBELL:
                out.append(int(child))
    return out


def argv0_of(pid: int) -> str:
    """The first word of a process's command line (a process just spawned shows an empty
    one for a moment, until its exec is done: that is waited for)."""
    cmdline = b""
    for _ in range(100):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if cmdline:
            break
        time.sleep(0.01)
    return cmdline.split(b"\0")[0].decode(errors="replace")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """End a process the test started: SIGTERM, then SIGKILL if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
