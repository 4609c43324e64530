"""Looking at processes from the tests: a dapgo's children, whether a process lives."""

from __future__ import annotations

from pathlib import Path

DOORBELL = "dapgo-doorbell"  # dapgo.engine.ptrace.doorbell.ARGV0: not a debuggee


def children(pid: int) -> list[int]:
    """Child processes of `pid` (every thread's), dapgo's own doorbells left out."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                argv0 = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
            except FileNotFoundError:
                continue
            if argv0.decode(errors="replace") != DOORBELL:
                out.append(int(child))
    return out
