"""A thread killed under the tracer (another thread ended the program between a thread's
event and the engine's look at it): the process backend says so with ProcessLookupError,
which the runner takes as "its end comes by wait", never as a failed run."""

from __future__ import annotations

import os
import signal

import fixtures
import pytest

from dapgo.engine.ptrace.process import TracedProcess


def test_the_pc_of_a_thread_killed_under_the_tracer_is_a_process_lookup_error() -> None:
    binary = fixtures.build("basic")
    with open(os.devnull, "wb") as null:
        proc = TracedProcess.launch([str(binary)], dict(os.environ), None, null.fileno(),
                                    null.fileno())
    try:
        assert proc.pc(proc.pid) > 0  # stopped before its first instruction
        proc.threads[proc.pid].pc = None  # forget the pc read once per stop
        os.kill(proc.pid, signal.SIGKILL)
        with pytest.raises(ProcessLookupError):
            proc.pc(proc.pid)
    finally:
        assert proc.kill() == 128 + signal.SIGKILL  # reaped
