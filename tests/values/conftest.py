"""Fixtures for the values/expressions tests: the `values` fixture program, launched under
the engine facade and stopped at a marker, once per Go toolchain per test session."""

from __future__ import annotations

import queue
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fixtures
from syncengine import SyncDebugger as Debugger

from dapgo.engine.model import (
    EngineEvent,
    Exited,
    LaunchConfig,
    SourceBreakpointSpec,
    Stopped,
    VariableInfo,
)

GO_VERSIONS = [None, "1.21.13", "1.24.11"]  # None: the project's default toolchain (1.27)
VERSION_IDS = ["go-default", "go1.21", "go1.24"]


@attrs.define
class Stop:
    """A program stopped at a marker: the facade, the goroutine, and its variables."""

    debugger: Debugger
    thread_id: int
    events: queue.Queue[EngineEvent]

    def variables(self) -> dict[str, VariableInfo]:
        out: dict[str, VariableInfo] = {}
        for scope in self.debugger.scopes(self.thread_id, 0):
            for v in self.debugger.variables(scope.handle):
                out[v.name] = v
        return out

    def var(self, name: str) -> VariableInfo:
        return self.variables()[name]

    def children(self, v: VariableInfo, start: int | None = None,
                 count: int | None = None) -> list[VariableInfo]:
        assert v.handle is not None, f"{v.name} has no children"
        return self.debugger.variables(v.handle, start, count)

    def eval(self, expr: str) -> VariableInfo:
        return self.debugger.evaluate(expr, self.thread_id, 0, "repl")


def launch_and_stop(binary: Path, fixture: str, marker: str) -> Stop:
    events: queue.Queue[EngineEvent] = queue.Queue()
    d = Debugger(events.put)
    d.launch(LaunchConfig(program=str(binary), mode="exec"), stop_on_entry=False)
    path, line = fixtures.line_of(fixture, marker)
    status = d.set_breakpoints(path, [SourceBreakpointSpec(line=line)])
    assert status[0].verified, status
    d.configuration_done()
    while True:
        ev = events.get(timeout=60)
        if isinstance(ev, Stopped):
            return Stop(d, ev.thread_id, events)
        if isinstance(ev, Exited):
            raise AssertionError(f"{fixture} exited before reaching @{marker}")


@pytest.fixture(scope="session", params=GO_VERSIONS, ids=VERSION_IDS)
def go_version(request: pytest.FixtureRequest) -> str | None:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def values_binaries() -> dict[str | None, Path]:
    return {}


@pytest.fixture(scope="session")
def stopped(go_version: str | None, values_binaries: dict[str | None, Path]) -> Iterator[Stop]:
    """The `values` fixture stopped at @stop (shared: tests must not modify it)."""
    binary = values_binaries.get(go_version) or fixtures.build("values", go=go_version)
    values_binaries[go_version] = binary
    stop = launch_and_stop(binary, "values", "stop")
    yield stop
    stop.debugger.disconnect(True)


@pytest.fixture(scope="session")
def stopped_default(values_binaries: dict[str | None, Path]) -> Iterator[Stop]:
    """The default toolchain's `values` program at @stop, for expression tests."""
    binary = values_binaries.get(None) or fixtures.build("values")
    values_binaries[None] = binary
    stop = launch_and_stop(binary, "values", "stop")
    yield stop
    stop.debugger.disconnect(True)


@pytest.fixture
def fresh(go_version: str | None, values_binaries: dict[str | None, Path]) -> Iterator[Stop]:
    """A program of its own at @stop, for tests that change values."""
    binary = values_binaries.get(go_version) or fixtures.build("values", go=go_version)
    values_binaries[go_version] = binary
    stop = launch_and_stop(binary, "values", "stop")
    yield stop
    stop.debugger.disconnect(True)
