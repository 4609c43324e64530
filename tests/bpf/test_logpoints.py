"""In-kernel logpoints and conditions (BpfLogpoints) on a running tracee."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dapgo.engine.bpf.logpoints import BpfLogpoints, parse_hit_condition, parse_message
from dapgo.engine.dwarf import BinaryInfo

from .conftest import dapgo_progs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fixtures


def test_parse_message_braces() -> None:
    assert parse_message("a={a} {{b}} {p.X}!") == ["a=", ("a",), " {b} ", ("p.X",), "!"]


def test_parse_hit_condition() -> None:
    from dapgo.engine.bpf import layout as L
    assert parse_hit_condition("5") == (L.HIT_EQ, 5)  # Delve: a bare N means == N
    assert parse_hit_condition("% 3") == (L.HIT_MOD, 3)
    assert parse_hit_condition("==2") == (L.HIT_EQ, 2)


@pytest.fixture
def waiting(tracee: Path) -> Iterator[tuple[BinaryInfo, BpfLogpoints]]:
    prog = subprocess.Popen([str(tracee), "wait"], stdout=subprocess.PIPE, text=True)
    bi = BinaryInfo.open(str(tracee))
    lp: BpfLogpoints | None = None
    try:
        assert prog.stdout is not None
        prog.stdout.readline()
        lp = BpfLogpoints(bi, prog.pid)
        yield bi, lp
    finally:
        if lp is not None:
            lp.close()
        prog.kill()
        prog.wait()
        bi.close()
    assert dapgo_progs() == []


def _events(lp: BpfLogpoints, n: int, timeout: float = 5) -> list:
    out: list = []
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        out.extend(lp.poll(0.05))
    return out


def test_logpoint_condition_and_hit_condition(
        waiting: tuple[BinaryInfo, BpfLogpoints]) -> None:
    bi, lp = waiting
    addrs = bi.addresses_for_line(*fixtures.line_of("tracee", "add_body")).addresses
    res = lp.add(5, addrs, message="a={a} b={b} {{lit}}", condition="a > 5 && !(b != 1)")
    assert res.fallback is None
    evs = _events(lp, 3)
    assert len(evs) >= 3
    a0 = int(evs[0].message.split()[0][2:])
    assert [e.message for e in evs[:3]] == [f"a={a0 + i} b=1 {{lit}}" for i in range(3)]
    assert evs[0].goroutine == 1 and evs[0].hits == 1
    lp.remove(5)
    time.sleep(0.05)
    lp.poll(0.01)
    assert _events(lp, 1, timeout=0.2) == []
    res = lp.add(6, addrs, message="{a}", condition="b == 2 || a >= 0", hit_condition="% 3")
    assert res.fallback is None
    evs = _events(lp, 2)
    assert [e.hits for e in evs[:2]] == [3, 6]
    assert int(evs[1].message) - int(evs[0].message) == 3


def test_never_true_condition_emits_nothing(waiting: tuple[BinaryInfo, BpfLogpoints]) -> None:
    bi, lp = waiting
    addrs = bi.addresses_for_line(*fixtures.line_of("tracee", "add_body")).addresses
    assert lp.add(7, addrs, message="{a}", condition="b == 5").fallback is None
    assert _events(lp, 1, timeout=0.3) == []
    assert lp.hits(7) == 0


def test_unreadable_expression_falls_back_with_reason(
        waiting: tuple[BinaryInfo, BpfLogpoints]) -> None:
    bi, lp = waiting
    addrs = bi.addresses_for_line(*fixtures.line_of("tracee", "add_body")).addresses
    res = lp.add(8, addrs, message="{nosuch}")
    assert res.fallback is not None and "nosuch" in res.fallback
    res = lp.add(8, addrs, message="{a}", condition="a % 2 == 0")
    assert res.fallback is not None and "parse" in res.fallback
    assert lp.ids() == []


def test_string_and_field_conditions(tracee: Path) -> None:
    bi = BinaryInfo.open(str(tracee))
    g = bi.addresses_for_line(*fixtures.line_of("tracee", "greet_body")).addresses
    f = bi.addresses_for_line(*fixtures.line_of("tracee", "flag_body")).addresses
    # `basic` runs each call once: hold the child before exec until the probes are set
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(str(tracee), [str(tracee), "basic"])
    os.close(r)
    lp = BpfLogpoints(bi, pid)
    try:
        assert lp.add(10, g, message="{name}/{times}", condition='name == "gopher"'
                      ).fallback is None
        assert lp.add(11, f, message="{p.Name} {p.X}", condition="p != nil && ok"
                      ).fallback is None
        os.write(w, b"x")
        os.close(w)
        os.waitpid(pid, 0)
        evs = lp.poll(0.1)
        assert [(e.id, e.message) for e in evs] == [(10, '"gopher"/3'), (11, '"pt" 1')]
    finally:
        lp.close()
        bi.close()
    assert dapgo_progs() == []


def test_condition_with_a_negative_literal_tokenizes() -> None:
    from dapgo.engine.bpf import layout as L
    from dapgo.engine.bpf.logpoints import _CondCompiler
    from dapgo.engine.bpf.reads import ValueRead

    reads: list[ValueRead] = []
    ops = _CondCompiler("-1 == 3", {}, reads, None).compile()
    assert ops == [(L.OP_CONST, 0, -1), (L.OP_CONST, 0, 3), (L.OP_EQ, 0, 0)]
