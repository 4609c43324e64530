"""Shared helpers for the goroutine tests: a stopped `labels` fixture per Go version."""

from __future__ import annotations

import queue
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fixtures
from syncengine import SyncDebugger as Debugger

from dapgo.engine.model import (
    EngineEvent,
    Exited,
    LaunchConfig,
    SourceBreakpointSpec,
    Stopped,
)

GO_VERSIONS = ["1.21.13", "1.24.11", None]  # None: the project's default toolchain (1.27)


class Session:
    """A Debugger on the `labels` fixture with its event queue."""

    def __init__(self, go: str | None) -> None:
        self.events: queue.Queue[EngineEvent] = queue.Queue()
        self.binary = str(fixtures.build("labels", go=go))
        self.d = Debugger(self.events.put)

    def start_stopped(self, marker: str = "stop", args: tuple[str, ...] = ()) -> Stopped:
        self.d.launch(LaunchConfig(program=self.binary, mode="exec", args=args),
                      stop_on_entry=False)
        path, line = fixtures.line_of("labels", marker)
        self.d.set_breakpoints(path, [SourceBreakpointSpec(line=line)])
        self.d.configuration_done()
        return self.next_stop()

    def next_stop(self, timeout: float = 30) -> Stopped:
        while True:
            ev = self.events.get(timeout=timeout)
            if isinstance(ev, Stopped):
                return ev
            assert not isinstance(ev, Exited), ev


@pytest.fixture(scope="module", params=GO_VERSIONS, ids=lambda v: f"go{v or 'default'}")
def stopped(request: pytest.FixtureRequest) -> Iterator[tuple[Session, Stopped]]:
    s = Session(request.param)
    ev = s.start_stopped()
    yield s, ev
    s.d.disconnect(True)
