"""The lookahead (dapgo.engine.lookahead): from the moment breakpoints are set, while the
program runs to one, and in the owner thread's idle time once it stopped there, what
showing the stopped frame's locals decodes is decoded ahead. Checked on a real stop: once
the lookahead is done, loading every local of the `values` fixture at @stop decodes only
what the program's memory decides (interfaces' dynamic types) and what those lead to; not
even the runtime's layouts of its maps (Go 1.21's buckets, Swiss tables from 1.24). Real
process, real ptrace, the Go toolchains of the values tests."""

from __future__ import annotations

import time

import fixtures

from dapgo.engine.dwarf.model import TypeRef

from .conftest import Stop, launch_and_stop


def _idle(stop: Stop) -> None:
    """Wait until the owner thread has no idle work left (it lends itself again)."""
    owner = stop.debugger.engine._owner
    deadline = time.monotonic() + 30
    while owner.borrow(lambda: None) is None:
        assert time.monotonic() < deadline, "the lookahead never ended"
        time.sleep(0.005)


def _decoded_at_the_stop(stop: Stop) -> tuple[list[str], set[TypeRef], set[TypeRef]]:
    """Once the lookahead is done, load every local: (the names of the types that this
    decoded and no lookahead could have known, the types whose constants were read ahead,
    those read when loading)."""
    _idle(stop)
    program = stop.debugger.engine._engine.program
    assert program is not None
    binary = program.binary
    decoded = binary._typereader._types
    ahead = set(decoded)
    constants_ahead = set(binary._constants)
    assert len(ahead) > 10  # the frame's types, decoded before anybody asked

    stop.variables()
    new = set(decoded) - ahead
    # what only memory tells: the dynamic types of interfaces, with what they reach
    roots = {info.tref for info in program.values.rtypes._cache.values()
             if info.tref is not None}
    explained: set[TypeRef] = set()
    todo = list(roots)
    while todo:
        r = todo.pop()
        if r in explained:
            continue
        explained.add(r)
        t = binary.type_info(r)
        todo.extend(x for x in (t.elem, t.key, *(f.type for f in t.fields)) if x is not None)
    unexplained = sorted(decoded[r].name for r in new - explained)
    return unexplained, constants_ahead, set(binary._constants) - constants_ahead


def test_a_stops_locals_decode_nothing_the_lookahead_could_know(fresh: Stop) -> None:
    unexplained, _, _ = _decoded_at_the_stop(fresh)
    assert not unexplained, f"decoded at the stop, not ahead: {unexplained}"


def test_constants_naming_a_stops_values_are_read_ahead() -> None:
    stop = launch_and_stop(fixtures.build("semantics"), "semantics", "constants")
    try:
        unexplained, ahead, late = _decoded_at_the_stop(stop)
        assert not unexplained, f"decoded at the stop, not ahead: {unexplained}"
        assert not late
        program = stop.debugger.engine._engine.program
        assert program is not None
        names = {program.binary.type_info(r).name for r in ahead}
        assert {"main.Flags"} <= names, names
        assert stop.var("fl").value == "bitZero|bitOne (3)"
    finally:
        stop.debugger.disconnect(True)
