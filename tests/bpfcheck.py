"""Whether this machine can run dapgo's eBPF code: one answer for every test that needs it."""

from __future__ import annotations

import os


def bpf_unavailable() -> str | None:
    """Why eBPF tests cannot run here (a skip reason), or None when they can."""
    if os.geteuid() != 0:
        return "eBPF tests need root"
    try:
        import bcc  # noqa: F401
    except ImportError:
        return "bcc is not importable"
    if not os.path.exists(f"/lib/modules/{os.uname().release}/build"):
        return "no kernel headers"
    return None
