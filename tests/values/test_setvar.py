"""setVariable through the facade, on a program of its own for each Go toolchain."""

from __future__ import annotations

import pytest

from dapgo.engine.errors import DebuggerError
from dapgo.engine.model import ScopeInfo

from .conftest import Stop


def _locals(stop: Stop) -> ScopeInfo:
    return next(s for s in stop.debugger.scopes(stop.thread_id, 0) if s.name == "Locals")


def test_set_variables(fresh: Stop) -> None:
    d, scope = fresh.debugger, _locals(fresh).handle
    assert d.set_variable(scope, "n", "n * 2 + 1").value == "85"
    assert fresh.eval("n").value == "85"
    assert d.set_variable(scope, "b", "false").value == "false"
    assert d.set_variable(scope, "f64", "-0.5").value == "-0.5"
    assert d.set_variable(scope, "u8", "255").value == "255"
    assert d.set_variable(scope, "s", '"hi"').value == '"hi"'
    assert fresh.eval("len(s)").value == "2"
    assert d.set_variable(scope, "nilPtr", "pp").value == "*main.Point {X: 1, Y: 2}"
    assert d.set_variable(scope, "nilPtr", "nil").value == "*main.Point nil"
    assert d.set_variable(scope, "err", "nil").value == "error nil"
    # children of compound values
    pt = fresh.var("pt") if "pt" in fresh.variables() else fresh.var("&pt")
    assert pt.handle is not None
    assert d.set_variable(pt.handle, "X", "10").value == "10"
    assert fresh.eval("pp.X").value == "10"
    sl = fresh.var("sl")
    assert d.set_variable(sl.handle, "[2]", "-3").value == "-3"
    assert fresh.eval("sl").value == "[]int len: 3, cap: 3, [1,2,-3]"
    m = fresh.var("m")
    assert d.set_variable(m.handle, '["a"]', "5").value == "5"
    assert fresh.eval('m["a"]').value == "5"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("n", '"x"', "cannot use"),
    ("u8", "256", "overflows"),
    ("s", '"much longer than hello"', "same or shorter length"),
    ("pp", "3", "only nil"),
    ("nope", "1", "no variable nope"),
    ("b", "1", "cannot use 1"),
])
def test_set_variable_errors(fresh: Stop, name: str, value: str, message: str) -> None:
    with pytest.raises(DebuggerError, match=message):
        fresh.debugger.set_variable(_locals(fresh).handle, name, value)


def test_program_sees_new_values(fresh: Stop) -> None:
    """After setting, the program itself computes with the new values."""
    import fixtures

    from dapgo.engine.model import Output, SourceBreakpointSpec, Stopped

    d, scope = fresh.debugger, _locals(fresh).handle
    d.set_variable(scope, "n", "100")
    d.set_variable(scope, "s", '"bye"')
    path, line = fixtures.line_of("values", "after")
    d.set_breakpoints(path, [SourceBreakpointSpec(line=line)])
    d.resume()
    while True:
        ev = fresh.events.get(timeout=30)
        if isinstance(ev, Stopped):
            break
    assert fresh.eval("n").value == "100"
    d.resume()
    out = ""
    for _ in range(50):
        ev = fresh.events.get(timeout=30)
        if isinstance(ev, Output):
            out += ev.text
            if "bye" in out:
                break
    assert "107 bye" in out
