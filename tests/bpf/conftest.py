"""Shared helpers for the eBPF tests: the tracee fixture, running `dapgo trace`, leftovers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fixtures
from bpfcheck import bpf_unavailable

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    why = bpf_unavailable()
    if why:
        for it in items:
            if "tests/bpf" in str(it.fspath):
                it.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def tracee() -> Path:
    return fixtures.build("tracee")


def dapgo_progs(wait: float = 3.0) -> list[str]:
    """Loaded BPF programs named like dapgo's. The kernel frees a closed program after an
    RCU grace period, so this waits up to `wait` seconds for the list to become empty."""
    end = time.monotonic() + wait
    while True:
        out = subprocess.run(["bpftool", "prog", "show"], capture_output=True,
                             text=True).stdout
        progs = [ln for ln in out.splitlines() if "dapgo_probe" in ln]
        if not progs or time.monotonic() > end:
            return progs
        time.sleep(0.05)


def uprobe_events() -> str:
    try:
        return Path("/sys/kernel/tracing/uprobe_events").read_text()
    except OSError:
        return ""


def trace_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dapgo.trace", "trace", *args]
