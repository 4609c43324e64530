"""In-kernel logpoints and conditions (BpfLogpoints) on a running tracee."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def _logpoints_on(tracee: Path, mode: str, ready: str
                  ) -> Iterator[tuple[BinaryInfo, BpfLogpoints]]:
    """The tracee running in `mode` (its first line starts with `ready`), with a
    BpfLogpoints on it; afterwards no dapgo BPF program may be left."""
    prog = subprocess.Popen([str(tracee), mode], stdout=subprocess.PIPE, text=True)
    bi = BinaryInfo.open(str(tracee))
    lp: BpfLogpoints | None = None
    try:
        assert prog.stdout is not None
        assert prog.stdout.readline().startswith(ready)
        lp = BpfLogpoints(bi, prog.pid)
        yield bi, lp
    finally:
        if lp is not None:
            lp.close()
        prog.kill()
        prog.wait()
        bi.close()
    assert dapgo_progs() == []


@pytest.fixture
def waiting(tracee: Path) -> Iterator[tuple[BinaryInfo, BpfLogpoints]]:
    with _logpoints_on(tracee, "wait", "tracee: waiting") as both:
        yield both


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


# --- review fixes: stop records, attach errors, exact conditions, values as `variables` ----
@pytest.fixture
def lingering() -> Iterator[tuple[BinaryInfo, BpfLogpoints, subprocess.Popen[str]]]:
    """tests/fixtures/logpoints calling visit(i, items[i%2], "linger") every 5 ms."""
    exe = fixtures.build("logpoints")
    prog = subprocess.Popen([str(exe), "0", "linger"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    bi = BinaryInfo.open(str(exe))
    lp: BpfLogpoints | None = None
    try:
        assert prog.stdout is not None
        assert prog.stdout.readline().startswith("logpoints: lingering")
        lp = BpfLogpoints(bi, prog.pid)
        yield bi, lp, prog
    finally:
        if lp is not None:
            lp.close()
        prog.kill()
        prog.communicate()
        bi.close()
    assert dapgo_progs() == []


def _visit(bi: BinaryInfo) -> list[int]:
    return bi.addresses_for_line(*fixtures.line_of("logpoints", "visit_body")).addresses


def test_logpoint_values_read_as_variables_shows_them(
        lingering: tuple[BinaryInfo, BpfLogpoints, subprocess.Popen[str]]) -> None:
    """The texts ValueReader.format gives (what `variables` and the ptrace logpoints show):
    pointers to structs with their fields, nested to ValueReader's depth, nil as
    `*main.Item nil`, and a nil dereference on the way as the evaluator's error."""
    bi, lp, _prog = lingering
    res = lp.add(9, _visit(bi), message="{i}|{it.ID}|{it.Name}|{label}|{it.Next}|{it}|"
                                        "{it.Next.Name}")
    assert res.fallback is None, res.fallback
    evs = _events(lp, 4)
    texts = {e.message.split("|", 1)[1] for e in evs if e.message}
    one = ('1|"one"|"linger"|*main.Item {ID: 7, Name: "seven", Next: *main.Item nil}|'
           '*main.Item {ID: 1, Name: "one", Next: *main.Item {ID: 7, Name: "seven", '
           'Next: *main.Item nil}}|"seven"')
    two = ('2|"two"|"linger"|*main.Item nil|*main.Item {ID: 2, Name: "two", '
           'Next: *main.Item nil}|<error: nil pointer dereference>')
    assert texts == {one, two}


def test_logpoint_values_match_value_reader_on_live_memory(
        lingering: tuple[BinaryInfo, BpfLogpoints, subprocess.Popen[str]]) -> None:
    """Cross-check with ValueReader itself, reading the process's memory directly."""
    import struct
    from typing import cast

    from dapgo.engine.target import Target
    from dapgo.engine.values import Value, ValueReader

    bi, lp, prog = lingering

    class Live:
        binary = bi

        def read(self, addr: int, size: int) -> bytes:
            with open(f"/proc/{prog.pid}/mem", "rb") as f:
                f.seek(addr)
                return f.read(size)

        def u64(self, addr: int) -> int:
            return int(struct.unpack("<Q", self.read(addr, 8))[0])

    vr = ValueReader(cast(Target, Live()))
    assert lp.add(9, _visit(bi), message="{it}").fallback is None
    fn = bi.function_for_pc(_visit(bi)[0])
    assert fn is not None
    it_type = next(v for v in bi.frame_variables(fn, _visit(bi)[0]) if v.name == "it").type
    t = vr.type_of(it_type)
    from dapgo.engine.bpf.reads import path_read
    assert path_read(bi, fn, _visit(bi)[0], "it").type == it_type
    # the kernel's own copy of `it` (the pointer) renders through ValueReader on live memory
    recs = []
    end = time.monotonic() + 5
    while len(recs) < 2 and time.monotonic() < end:
        recs.extend(lp.s.poll(0.05))
    assert len(recs) >= 2
    lp_state = lp._lps[9]
    for rec in recs[:2]:
        kernel_text = lp.render(lp_state.renders[0], rec)
        live_text = vr.format(Value(t, 0, rec.values[0].raw[:8]))
        assert kernel_text == live_text


def test_values_the_kernel_cannot_render_fall_back(
        lingering: tuple[BinaryInfo, BpfLogpoints, subprocess.Popen[str]]) -> None:
    bi, lp, _prog = lingering
    lp_big = BpfLogpoints(bi, 0, session=lp.s, string_cap=4096)
    res = lp_big.add(9, _visit(bi), message="{label}")
    assert res.fallback is not None and "4096" in res.fallback


def test_stopping_probe_names_itself_before_the_signal(
        lingering: tuple[BinaryInfo, BpfLogpoints, subprocess.Popen[str]]) -> None:
    """stop=True: the probe writes its id under the thread's id in the `signals` map, then
    sends SIGTRAP (no ring-buffer record: a full buffer could lose it). With no debugger
    attached the Go runtime dies of that SIGTRAP; the map still says which probe did it."""
    bi, lp, prog = lingering
    tids = {int(t) for t in os.listdir(f"/proc/{prog.pid}/task")}
    assert lp.add(20, _visit(bi), condition="it.ID == 2", stop=True).fallback is None
    _out, err = prog.communicate(timeout=10)
    assert "SIGTRAP" in err
    signalled = {t: lp.take_signal(t) for t in tids}
    assert [i for i in signalled.values() if i is not None] == [20], signalled
    assert all(lp.take_signal(t) is None for t in tids)  # taken once
    assert _events(lp, 1, timeout=0.3) == []  # nothing to print


def test_attach_errors_become_fallbacks(
        lingering: tuple[BinaryInfo, BpfLogpoints, subprocess.Popen[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    bi, lp, _prog = lingering
    assert lp.add(21, _visit(bi), message="{i}").fallback is None
    res = lp.add(22, _visit(bi), message="{it.ID}")
    assert res.fallback is not None and "already has a probe" in res.fallback
    assert lp.ids() == [21]

    import errno

    from dapgo.engine.bpf import session as session_mod
    from dapgo.engine.bpf.attach import AttachError

    def no_multi(*_a: object, **_k: object) -> None:
        raise AttachError(errno.EINVAL, "BPF_LINK_CREATE: Invalid argument (no uprobe_multi)")

    monkeypatch.setattr(session_mod, "UprobeLink", no_multi)
    lp.remove(21)
    res = lp.add(23, _visit(bi), message="{i}")
    assert res.fallback is not None and "uprobe_multi" in res.fallback
    assert lp.ids() == []


def test_condition_that_cannot_be_read_counts_as_met(
        lingering: tuple[BinaryInfo, BpfLogpoints, subprocess.Popen[str]]) -> None:
    """Like the ptrace path (a condition that fails to evaluate stops): items[1].Next is
    nil, so `it.Next.ID == 99` cannot be evaluated there; it is false for items[0]."""
    bi, lp, _prog = lingering
    assert lp.add(24, _visit(bi), message="{it.ID}", condition="it.Next.ID == 99"
                  ).fallback is None
    evs = _events(lp, 3)
    assert len(evs) >= 3 and {e.message for e in evs} == {"2"}


@pytest.fixture
def extra(tracee: Path) -> Iterator[tuple[BinaryInfo, BpfLogpoints]]:
    with _logpoints_on(tracee, "extrawait", "tracee: extra waiting") as both:
        yield both


def test_unsigned_conditions_compare_unsigned(extra: tuple[BinaryInfo, BpfLogpoints]) -> None:
    bi, lp = extra
    addrs = bi.addresses_for_line(*fixtures.line_of("tracee", "mixed_body")).addresses
    # big = 1<<63 | 2: negative as a signed number
    for cond in ["big > 5", "big >= 9223372036854775810", "u >= 250", "u <= 250",
                 "!(big < 5)"]:
        assert lp.add(30, addrs, message="{big} {u} {f}", condition=cond).fallback is None
        evs = _events(lp, 1)
        assert evs and evs[0].message == "9223372036854775810 250 2.5", cond
        lp.remove(30)
        lp.poll(0.02)
    for cond in ["big < 5", "big <= 9223372036854775809", "u > 250 || u < 250"]:
        assert lp.add(31, addrs, message="{big}", condition=cond).fallback is None
        assert _events(lp, 1, timeout=0.3) == [], cond
        lp.remove(31)


def test_conditions_the_kernel_would_get_wrong_fall_back(
        extra: tuple[BinaryInfo, BpfLogpoints]) -> None:
    bi, lp = extra
    addrs = bi.addresses_for_line(*fixtures.line_of("tracee", "mixed_body")).addresses
    for cond, why in [("f > 1", "floating"), ("f == 2.5", "parse"),
                      ("s1 == s2", "string literal"), ("s1 != s2", "string literal"),
                      ("big > -1", "negative"), ("s1 == 3", "string literal"),
                      ("u", "not a boolean")]:
        res = lp.add(32, addrs, message="{u}", condition=cond)
        assert res.fallback is not None and why in res.fallback, (cond, res.fallback)
    assert lp.ids() == []
    assert lp.add(33, addrs, message="{u}", condition='s1 == "same" && s2 != "x"'
                  ).fallback is None
    assert [e.message for e in _events(lp, 1)][:1] == ["250"]
