"""TracedProcess.event_pending: whether wait_event would find something, without taking
it (the runner's lookahead works while it says no). Real process, real ptrace."""

from __future__ import annotations

import os
import time

import fixtures

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.ptrace.process import TracedProcess


def _until_pending(proc: TracedProcess) -> None:
    deadline = time.monotonic() + 30
    while not proc.event_pending():
        assert time.monotonic() < deadline, "no event came"
        time.sleep(0.001)


def test_event_pending_sees_a_stop_and_the_doorbell_and_leaves_them_to_wait_event() -> None:
    binary = fixtures.build("basic")
    info = BinaryInfo.open(str(binary))
    main = info.function("main.main")
    assert main is not None
    with open(os.devnull, "wb") as null:
        proc = TracedProcess.launch([str(binary)], dict(os.environ), None, null.fileno(),
                                    null.fileno())
    try:
        assert not proc.event_pending()  # stopped at its start, every status taken
        proc.insert_breakpoint(main.entry)
        proc.resume()
        _until_pending(proc)
        assert proc.event_pending()  # still there: looking took nothing
        ev = proc.wait_event()
        assert ev.kind == "breakpoint" and proc.pc(ev.tid) == main.entry
        proc.stop_others(ev)
        assert not proc.event_pending()  # every thread stopped, nothing waiting

        proc.wake()  # a request arrived: the doorbell is an event too
        _until_pending(proc)
        assert proc.wait_event().kind == "wake"
        assert not proc.event_pending()
    finally:
        proc.kill()
        info.close()
