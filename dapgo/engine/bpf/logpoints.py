"""Logpoints and conditional breakpoints evaluated in the kernel, for the engine facade.

    lp = BpfLogpoints(binary_info, pid)
    res = lp.add(7, addresses, message="x={x} s={p.Name}", condition="x > 3 && ok",
                 hit_condition=">= 2", stop=False)
    if res.fallback: ...use the ptrace implementation; res.fallback says why...
    for ev in lp.poll(0.05): ev.id, ev.goroutine, ev.tid, ev.message, ev.hits
    lp.remove(7); lp.close()

`stop=True` makes a matching hit call bpf_send_signal_thread(SIGTRAP): the ptrace side sees
a signal-delivery stop of exactly that thread, rip just after the probed instruction (which
has run); resume it with signal 0. A message with stop=False never stops the program.
Messages use Delve's syntax: `{expr}` is evaluated, `{{` and `}}` are literal braces.
Conditions: ==, !=, <, <=, >, >= over ints, bools, pointers (vs nil), strings (== / != a
literal), with &&, ||, ! and parentheses; operands are variables and field paths.
"""

from __future__ import annotations

import re

import attrs

from dapgo.engine.dwarf import BinaryInfo, Function
from dapgo.engine.errors import DebuggerError
from dapgo.engine.hitcount import parse_hit_condition as parse_hit_count
from dapgo.engine.logmessage import parse_log_message

from . import layout as L
from .reads import DEFAULT_STRING_CAP, NotReadable, ValueRead, format_value, path_read, tsize
from .session import BpfSession


@attrs.frozen
class AddResult:
    id: int
    addresses: list[int]
    fallback: str | None = None  # why this one must be done with ptrace instead


@attrs.frozen
class LogEvent:
    id: int
    goroutine: int
    tid: int
    addr: int
    hits: int
    message: str | None


def parse_message(msg: str) -> list[str | tuple[str]]:
    """Literal text (str) and expressions ((expr,)) of a Delve-style log message, parsed by
    the same rules as the ptrace logpoints (dapgo.engine.logmessage)."""
    try:
        return [p if isinstance(p, str) else (p.text,) for p in parse_log_message(msg)]
    except DebuggerError as exc:
        raise NotReadable(str(exc)) from exc


# hitcount's operators -> the kernel program's
_HIT_OPS = {"==": L.HIT_EQ, ">=": L.HIT_GE, ">": L.HIT_GT, "<=": L.HIT_LE, "<": L.HIT_LT,
            "%": L.HIT_MOD}


def parse_hit_condition(text: str) -> tuple[int, int]:
    """(HIT_* op, N), with the meaning dapgo.engine.hitcount gives (a bare N is `== N`, as
    in Delve); `!= N` has no kernel form."""
    try:
        hc = parse_hit_count(text)
    except DebuggerError as exc:
        raise NotReadable(str(exc)) from exc
    if hc.op not in _HIT_OPS:
        raise NotReadable(f"hit condition {text!r} cannot be evaluated in the kernel")
    return _HIT_OPS[hc.op], hc.count


# --- conditions -----------------------------------------------------------------------------
_TOK = re.compile(r'\s*(?:(-?\d+)|("(?:[^"\\]|\\.)*")|(&&|\|\||==|!=|<=|>=|<|>|!|\(|\))|'
                  r'(\*?[A-Za-z_][\w.]*))')


class _CondCompiler:
    """Recursive descent over a condition; emits the postfix program for probe.bpf.c."""

    def __init__(self, text: str, value_index: dict[str, int],
                 reads: list[ValueRead], resolve: object) -> None:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOK.match(text, pos)
            if m is None or m.end() == pos:
                raise NotReadable(f"condition {text!r}: cannot parse at {text[pos:]!r}")
            pos = m.end()
            kind = ["num", "str", "op", "name"][m.lastindex - 1 if m.lastindex else 0]
            self.toks.append((kind, m.group(m.lastindex or 0)))
        self.i = 0
        self.ops: list[tuple[int, int, int]] = []
        self.strs: list[bytes] = []
        self.vi = value_index
        self.reads = reads
        self.resolve = resolve

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        t = self.peek()
        if t is None:
            raise NotReadable("condition ends too early")
        self.i += 1
        return t

    def compile(self) -> list[tuple[int, int, int]]:
        self.or_()
        if self.peek() is not None:
            raise NotReadable(f"condition: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        if len(self.ops) > L.MAX_COND:
            raise NotReadable(f"condition too long for the kernel ({len(self.ops)} operations,"
                              f" at most {L.MAX_COND})")
        return self.ops

    def or_(self) -> None:
        self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            self.and_()
            self.ops.append((L.OP_OR, 0, 0))

    def and_(self) -> None:
        self.not_()
        while self.peek() == ("op", "&&"):
            self.take()
            self.not_()
            self.ops.append((L.OP_AND, 0, 0))

    def not_(self) -> None:
        if self.peek() == ("op", "!"):
            self.take()
            self.not_()
            self.ops.append((L.OP_NOT, 0, 0))
            return
        self.cmp()

    def cmp(self) -> None:
        start = len(self.ops)
        left = self.operand()
        t = self.peek()
        cmp_ops = {"==": L.OP_EQ, "!=": L.OP_NE, "<": L.OP_LT, "<=": L.OP_LE,
                   ">": L.OP_GT, ">=": L.OP_GE}
        if t is None or t[0] != "op" or t[1] not in cmp_ops:
            if left[0] == "str":
                raise NotReadable("a string literal is not a condition")
            return
        self.take()
        right = self.operand()
        op = cmp_ops[t[1]]
        strcmp = [x for x in (left, right) if x[0] == "str"]
        if strcmp:
            other = right if left[0] == "str" else left
            if other[0] != "strval" or op not in (L.OP_EQ, L.OP_NE):
                raise NotReadable("strings can only be compared (== or !=) with a string value")
            del self.ops[start:]  # STREQ itself pushes the comparison's result
            self.ops.append((L.OP_STREQ, other[1], len(self.strs)))
            self.strs.append(strcmp[0][2])
            if op == L.OP_NE:
                self.ops.append((L.OP_NOT, 0, 0))
            return
        self.ops.append((op, 0, 0))

    def push(self, op: tuple[int, int, int]) -> None:
        self.ops.append(op)

    def operand(self) -> tuple[str, int, bytes]:
        kind, text = self.take()
        if kind == "op" and text == "(":
            self.or_()
            if self.take() != ("op", ")"):
                raise NotReadable("condition: missing ')'")
            return ("expr", 0, b"")
        if kind == "num":
            self.push((L.OP_CONST, 0, int(text)))
            return ("int", 0, b"")
        if kind == "str":
            lit = bytes(text[1:-1], "utf-8").decode("unicode_escape").encode("utf-8")
            if len(lit) > L.CSTR_LEN or len(self.strs) >= L.MAX_CSTR:
                raise NotReadable(f"string literal too long (max {L.CSTR_LEN} bytes) or too "
                                  "many literals")
            self.push((L.OP_CONST, 0, 0))
            return ("str", 0, lit)
        if kind == "name":
            if text in ("true", "false", "nil"):
                self.push((L.OP_CONST, 0, 1 if text == "true" else 0))
                return ("int", 0, b"")
            idx = self.resolve(text)  # type: ignore[operator]
            self.push((L.OP_VAL, idx, 0))
            r = self.reads[idx]
            return ("strval" if r.kind == L.VK_STRING else "val", idx, b"")
        raise NotReadable(f"condition: unexpected {text!r}")


@attrs.define
class _Logpoint:
    id: int
    addresses: list[int]
    parts: list[str | tuple[str]] | None
    reads: list[ValueRead]
    part_index: list[int]  # per message expression: index into reads


class BpfLogpoints:
    """In-kernel logpoints and conditions for one process; one BPF program for all of them."""

    def __init__(self, bi: BinaryInfo, pid: int, *, session: BpfSession | None = None,
                 string_cap: int = DEFAULT_STRING_CAP) -> None:
        self.bi = bi
        self.s = session if session is not None else BpfSession(bi, pid)
        self._own_session = session is None
        self.string_cap = string_cap
        self._lps: dict[int, _Logpoint] = {}

    def add(self, lp_id: int, addresses: list[int], *, message: str | None = None,
            condition: str | None = None, hit_condition: str | None = None,
            stop: bool = False) -> AddResult:
        """Attach (or replace) logpoint/conditional breakpoint `lp_id` at `addresses`.

        Returns fallback != None, attaching nothing, when something cannot be done in the
        kernel (an expression it cannot read, a condition it cannot evaluate)."""
        self.remove(lp_id)
        if lp_id <= 1:
            return AddResult(lp_id, addresses, "ids 0 and 1 are reserved (function tracing)")
        descs: dict[int, L.Desc] = {}
        first: _Logpoint | None = None
        try:
            parts = parse_message(message) if message is not None else None
            for addr in addresses:
                fn = self.bi.function_for_pc(addr)
                if fn is None:
                    raise NotReadable(f"no function at {addr:#x}")
                d, lp = self._desc(lp_id, fn, addr, parts, condition, hit_condition, stop)
                descs[addr] = d
                first = first or lp
        except NotReadable as e:
            return AddResult(lp_id, addresses, str(e))
        if first is None:
            return AddResult(lp_id, addresses, "no addresses")
        self.s.add_group(lp_id, descs)
        self._lps[lp_id] = first
        self._lps[lp_id].addresses = list(addresses)
        return AddResult(lp_id, addresses, None)

    def _desc(self, lp_id: int, fn: Function, addr: int,
              parts: list[str | tuple[str]] | None, condition: str | None,
              hit_condition: str | None, stop: bool) -> tuple[L.Desc, _Logpoint]:
        variables = self.bi.frame_variables(fn, addr)
        reads: list[ValueRead] = []
        by_expr: dict[str, int] = {}

        def resolve(expr: str) -> int:
            if expr not in by_expr:
                if len(reads) >= L.MAX_VALS:
                    raise NotReadable(f"more than {L.MAX_VALS} values")
                reads.append(path_read(self.bi, fn, addr, expr, string_cap=self.string_cap,
                                       variables=variables))
                by_expr[expr] = len(reads) - 1
            return by_expr[expr]

        part_index = [resolve(p[0]) for p in parts or [] if isinstance(p, tuple)]
        d = L.Desc()
        d.id = lp_id
        d.flags = (L.DF_EMIT if parts is not None else 0) | (L.DF_SIGNAL if stop else 0)
        if condition and condition.strip():
            cc = _CondCompiler(condition, by_expr, reads, resolve)
            ops = cc.compile()
            d.flags |= L.DF_COND
            d.ncond = len(ops)
            for i, (op, arg, imm) in enumerate(ops):
                d.cond[i].op = op
                d.cond[i].arg = arg
                d.cond[i].imm = imm
            for i, lit in enumerate(cc.strs):
                for j, b in enumerate(lit):
                    d.strs[i][j] = b
                d.strlen[i] = len(lit)
                reads[:] = [attrs.evolve(r, data_cap=max(r.data_cap, len(lit)))
                            if r.kind == L.VK_STRING else r for r in reads]
        if hit_condition and hit_condition.strip():
            d.hit_op, d.hit_n = parse_hit_condition(hit_condition)
        d.nvals = len(reads)
        for i, r in enumerate(reads):
            d.vals[i] = r.valspec()
        return d, _Logpoint(lp_id, [addr], parts, reads, part_index)

    def remove(self, lp_id: int) -> None:
        if self._lps.pop(lp_id, None) is not None:
            self.s.remove_group(lp_id)

    def ids(self) -> list[int]:
        return sorted(self._lps)

    def hits(self, lp_id: int) -> int:
        return self.s.hits(lp_id)

    def lost(self) -> int:
        return self.s.lost()

    def poll(self, timeout: float = 0.05) -> list[LogEvent]:
        """Hits since the last poll (waiting up to `timeout` s for the first), in order."""
        out: list[LogEvent] = []
        for rec in self.s.poll(timeout):
            lp = self._lps.get(rec.id)
            if lp is None:
                continue
            msg: str | None = None
            if lp.parts is not None:
                texts = []
                k = 0
                for p in lp.parts:
                    if isinstance(p, str):
                        texts.append(p)
                        continue
                    idx = lp.part_index[k]
                    k += 1
                    r = lp.reads[idx]
                    v = rec.values[idx] if idx < len(rec.values) else None
                    texts.append("?" if v is None else format_value(
                        self.bi, r.type, v.err, v.raw, v.data, v.full_len))
                msg = "".join(texts)
            out.append(LogEvent(rec.id, rec.goid, rec.tid, rec.ip, rec.hits, msg))
        return out

    def close(self) -> None:
        self._lps.clear()
        if self._own_session:
            self.s.close()


__all__ = ["AddResult", "BpfLogpoints", "LogEvent", "parse_hit_condition", "parse_message",
           "tsize"]
