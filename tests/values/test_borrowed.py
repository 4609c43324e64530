"""Reading a stopped program from a thread that borrows the engine (Owner.borrow): what
ptrace alone can do (a thread's registers) is refused on any thread but the tracing one,
with TracerThreadOnly, and done once per stop on the owner thread; a request that needs it
is then answered all the same. Real process, real ptrace."""

from __future__ import annotations

import threading
from pathlib import Path

import fixtures
import pytest

from dapgo.engine.backend import TracerThreadOnly
from dapgo.engine.model import SourceBreakpointSpec, Stopped

from .conftest import launch_and_stop


def test_registers_are_read_on_the_tracing_thread_once_per_stop(
        values_binaries: dict[str | None, Path]) -> None:
    binary = values_binaries.get(None) or fixtures.build("values")
    values_binaries[None] = binary
    stop = launch_and_stop(binary, "values", "stop")
    facade = stop.debugger.engine
    owner = facade._owner
    try:
        program = facade._engine.program
        assert program is not None
        proc = program.process
        tids = proc.thread_ids()
        assert len(tids) > 1
        other = next(t for t in tids if proc.threads[t].regs is None)
        with pytest.raises(TracerThreadOnly):
            proc.registers(other)  # this thread does not trace the program

        def look() -> tuple[int, int]:
            return threading.get_ident(), proc.registers(other).pc

        # a look that needs them runs again on the owner thread, which reads and keeps them
        ran_on, pc = facade._look(look).result(30)
        assert ran_on == owner._thread.ident != threading.get_ident()
        regs = proc.registers(other)  # kept for this stop: readable from here now
        assert regs.pc == pc
        # the next look is served on this thread
        assert facade._look(look).result(30) == (threading.get_ident(), pc)

        # the next stop forgets them
        path, line = fixtures.line_of("values", "after")
        assert stop.debugger.set_breakpoints(path, [SourceBreakpointSpec(line=line)])[0].verified
        stop.debugger.resume()
        while not isinstance(stop.events.get(timeout=60), Stopped):
            pass
        assert proc.threads[other].regs is None or proc.threads[other].regs is not regs
        with pytest.raises(TracerThreadOnly):
            fresh = [t for t in proc.thread_ids() if proc.threads[t].regs is None]
            assert fresh
            proc.registers(fresh[0])
    finally:
        stop.debugger.disconnect(True)
