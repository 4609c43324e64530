"""Logpoints and conditional breakpoints evaluated in the kernel, for the engine facade.

    lp = BpfLogpoints(binary_info, pid)
    res = lp.add(7, addresses, message="x={x} s={p.Name}", condition="x > 3 && ok",
                 hit_condition=">= 2", stop=False)
    if res.fallback: ...use the ptrace implementation; res.fallback says why...
    for ev in lp.poll(0.05): ev.id, ev.goroutine, ev.tid, ev.message, ev.hits
    lp.take_signal(tid)  # which stopping condition signalled thread tid
    lp.remove(7); lp.close()

`stop=True` makes a matching hit call bpf_send_signal_thread(SIGTRAP): the ptrace side sees
a signal-delivery stop of exactly that thread, rip just after the probed instruction (which
has run); resume it with signal 0. Before the signal, the probe writes its id into the
`signals` map under the thread's id: `take_signal(tid)` says which probe stopped which
thread (a map, not the ring buffer: a full buffer cannot lose it). A message with
stop=False never stops the program.

Messages use Delve's syntax: `{expr}` is evaluated, `{{` and `}}` are literal braces. Each
value reads exactly as dapgo's `variables` shows it (dapgo.engine.values.ValueReader.format):
the kernel reads every piece of memory that rendering needs (a pointer's target, a string's
bytes, a few slice elements, to the same depth), and user space renders from those bytes.
Values whose rendering needs more (maps, channels, interfaces, funcs, time.Time, slices of
non-scalars, structs larger than 64 bytes) make the logpoint fall back to ptrace.

Conditions: ==, !=, <, <=, >, >= over signed and unsigned integers, bools; pointers, maps,
channels, funcs and interfaces only == / != (nil or each other); strings only == / != a
literal; with &&, ||, ! and parentheses; operands are variables and field paths. Floats and
string-to-string comparisons fall back. A condition whose value cannot be read (a nil
pointer on the way) counts as met, as on the ptrace path, and does not count as a hit.
Anything that cannot be attached (AttachError) falls back too: `add` never raises for it.
"""

from __future__ import annotations

import collections
import re
import struct
from collections.abc import Callable
from typing import cast

import attrs

from dapgo.engine.dwarf import BinaryInfo, Function, GoType, TypeRef
from dapgo.engine.errors import DebuggerError
from dapgo.engine.hitcount import parse_hit_condition as parse_hit_count
from dapgo.engine.logmessage import parse_log_message
from dapgo.engine.target import Target
from dapgo.engine.values import MAX_DEPTH, MAX_STRING_LEN, SUMMARY_ELEMS, Value, ValueReader

from . import layout as L
from .attach import AttachError
from .program import ProbeProgram
from .reads import NotReadable, ValueRead, path_read, tsize
from .ringbuf import Record
from .session import BpfSession

RETIRED_KEPT = 1024  # removed logpoints whose late records can still be rendered


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


# what a condition operand is: a literal ("int", "bool", "nil", "str"), a boolean
# subexpression ("expr"), or a value read in the kernel, by how it compares ("signed",
# "unsigned", "boolval", "ptr" (pointer-shaped), "iface", "strval", "float", "other")
_Operand = tuple[str, int, bytes, int]  # (class, value index, string literal, int literal)
_ORDERED = {"<", "<=", ">", ">="}


class _CondCompiler:
    """Recursive descent over a condition; emits the postfix program for probe.bpf.c.
    Anything the kernel would evaluate differently from Go raises NotReadable."""

    def __init__(self, text: str, value_index: dict[str, int],
                 reads: list[ValueRead], resolve: Callable[[str], int] | None,
                 bi: BinaryInfo | None = None) -> None:
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
        self.bi = bi

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
            if left[0] not in ("bool", "boolval", "expr"):
                raise NotReadable(f"condition: a {_describe(left)} is not a boolean")
            return
        self.take()
        right = self.operand()
        sym = t[1]
        kinds = {left[0], right[0]}
        if "float" in kinds:
            raise NotReadable("floating-point values are not compared in the kernel")
        if "str" in kinds or "strval" in kinds:
            lit = left if left[0] == "str" else right
            other = right if lit is left else left
            if lit[0] != "str" or other[0] != "strval" or sym not in ("==", "!="):
                raise NotReadable("strings are compared in the kernel only with == or != "
                                  "against a string literal")
            del self.ops[start:]  # STREQ itself pushes the comparison's result
            self.ops.append((L.OP_STREQ, other[1], len(self.strs)))
            self.strs.append(lit[2])
            if sym == "!=":
                self.ops.append((L.OP_NOT, 0, 0))
            return
        if "other" in kinds:
            raise NotReadable("only integers, bools and pointer-shaped values are compared "
                              "in the kernel")
        if kinds & {"ptr", "iface", "nil"}:
            if sym in _ORDERED or not kinds <= {"ptr", "iface", "nil"} or \
                    ("iface" in kinds and kinds != {"iface", "nil"}):
                raise NotReadable(f"condition: {_describe(left)} {sym} {_describe(right)} "
                                  "is not evaluated in the kernel")
            self.ops.append((L.OP_EQ if sym == "==" else L.OP_NE, 0, 0))
            return
        if kinds & {"bool", "boolval", "expr"}:
            if not kinds <= {"bool", "boolval", "expr"} or sym in _ORDERED:
                raise NotReadable(f"condition: {_describe(left)} {sym} {_describe(right)} "
                                  "is not evaluated in the kernel")
            self.ops.append((L.OP_EQ if sym == "==" else L.OP_NE, 0, 0))
            return
        # integers
        if kinds == {"signed", "unsigned"}:
            raise NotReadable("condition compares a signed with an unsigned integer")
        if "unsigned" in kinds:
            if any(x[0] == "int" and x[3] < 0 for x in (left, right)):
                raise NotReadable("condition compares an unsigned integer with a negative "
                                  "constant")
            uops = {"==": [L.OP_EQ], "!=": [L.OP_NE], "<": [L.OP_ULT], ">": [L.OP_UGT],
                    "<=": [L.OP_UGT, L.OP_NOT], ">=": [L.OP_ULT, L.OP_NOT]}
            self.ops.extend((op, 0, 0) for op in uops[sym])
            return
        self.ops.append((cmp_ops[sym], 0, 0))

    def push(self, op: tuple[int, int, int]) -> None:
        self.ops.append(op)

    def operand(self) -> _Operand:
        kind, text = self.take()
        if kind == "op" and text == "(":
            self.or_()
            if self.take() != ("op", ")"):
                raise NotReadable("condition: missing ')'")
            return ("expr", 0, b"", 0)
        if kind == "num":
            n = int(text)
            if not -(1 << 63) <= n < (1 << 64):
                raise NotReadable(f"condition: constant {text} overflows 64 bits")
            self.push((L.OP_CONST, 0, n if n < (1 << 63) else n - (1 << 64)))
            return ("int", 0, b"", n)
        if kind == "str":
            lit = bytes(text[1:-1], "utf-8").decode("unicode_escape").encode("utf-8")
            if len(lit) > L.CSTR_LEN or len(self.strs) >= L.MAX_CSTR:
                raise NotReadable(f"string literal too long (max {L.CSTR_LEN} bytes) or too "
                                  "many literals")
            self.push((L.OP_CONST, 0, 0))
            return ("str", 0, lit, 0)
        if kind == "name":
            if text in ("true", "false", "nil"):
                self.push((L.OP_CONST, 0, 1 if text == "true" else 0))
                return ("nil" if text == "nil" else "bool", 0, b"", 0)
            assert self.resolve is not None
            idx = self.resolve(text)
            self.push((L.OP_VAL, idx, 0))
            return (self._class(self.reads[idx]), idx, b"", 0)
        raise NotReadable(f"condition: unexpected {text!r}")

    def _class(self, r: ValueRead) -> str:
        if r.kind == L.VK_STRING:
            return "strval"
        if self.bi is None:
            return "signed"
        k = self.bi.type_info(r.type).kind
        return {"int": "signed", "uint": "unsigned", "uintptr": "unsigned", "bool": "boolval",
                "ptr": "ptr", "unsafe.Pointer": "ptr", "map": "ptr", "chan": "ptr",
                "func": "ptr", "interface": "iface", "float": "float",
                "complex": "float"}.get(k, "other")


def _describe(x: _Operand) -> str:
    return {"int": "integer constant", "bool": "boolean constant", "nil": "nil",
            "str": "string constant", "expr": "boolean expression", "signed": "signed integer",
            "unsigned": "unsigned integer", "boolval": "bool", "ptr": "pointer",
            "iface": "interface", "strval": "string", "float": "floating-point value",
            "other": "composite value"}[x[0]]


@attrs.frozen
class _Node:
    """One piece of memory a rendering needs: what the kernel read as value `read`, found
    at the pointer stored at `offset` in node `parent`'s bytes (parent None: the value's
    own storage, or only its string/slice contents matter, found from its own header)."""

    read: int
    parent: int | None = None
    offset: int = 0


@attrs.frozen
class _Render:
    """How to print one message expression: its type and the memory read for it."""

    expr: str
    type: TypeRef
    nodes: tuple[_Node, ...]


class _Captured:
    """The memory the kernel captured at one hit, as a read-only Target for ValueReader
    (any read outside it raises OSError, as an unreadable address would)."""

    def __init__(self, bi: BinaryInfo) -> None:
        self.binary = bi
        self.regions: list[tuple[int, bytes]] = []

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        for base, data in self.regions:
            if base <= addr and addr + size <= base + len(data):
                return data[addr - base:addr - base + size]
        raise OSError(f"{addr:#x}: not captured")

    def u64(self, addr: int) -> int:
        return int(struct.unpack("<Q", self.read(addr, 8))[0])

    def uint(self, addr: int, size: int) -> int:
        return int.from_bytes(self.read(addr, size), "little")


_INLINE = frozenset({"bool", "int", "uint", "float", "complex", "uintptr", "unsafe.Pointer"})
_ROOT_ERRS = {L.VE_NIL: "<error: nil pointer dereference>", L.VE_READ: "<unreadable memory>",
              L.VE_UNAVAILABLE: "<error: optimized out>"}


def _field_path(base: str, name: str) -> str:
    b = base.strip()
    if b.startswith("**"):
        raise NotReadable(f"{base}: fields behind two dereferences are not read in the kernel")
    return f"{b.lstrip('*').strip()}.{name}"


class _Planner:
    """The kernel reads a message expression needs so that ValueReader.format, run in user
    space over the captured bytes, prints exactly what `variables` would: it mirrors
    ValueReader.format's walk (depths, which memory each kind reads)."""

    def __init__(self, bi: BinaryInfo, resolve: Callable[[str], int],
                 reads: list[ValueRead]) -> None:
        self.bi = bi
        self.resolve = resolve
        self.reads = reads
        self.nodes: list[_Node] = []

    def type_of(self, tref: TypeRef) -> GoType:
        t = self.bi.type_info(tref)
        return attrs.evolve(t, size=8) if t.size == 0 and t.kind in (
            "ptr", "map", "chan", "func", "unsafe.Pointer") else t

    def node(self, path: str, parent: int | None = None, offset: int = 0) -> int:
        idx = self.resolve(path)
        for i, n in enumerate(self.nodes):
            if n.read == idx and (parent is None or n.parent == parent):
                return i
        self.nodes.append(_Node(idx, parent, offset))
        return len(self.nodes) - 1

    def root(self, expr: str) -> _Render:
        r = self.reads[self.resolve(expr)]
        self.node(expr)
        self.walk(r.type, expr, 0, 0, 0)
        return _Render(expr, r.type, tuple(self.nodes))

    def walk(self, tref: TypeRef, path: str, depth: int, node: int, off: int) -> None:
        """Value of type tref at `path`, whose bytes are at `off` in node `node`."""
        t = self.type_of(tref)
        k = t.kind
        if t.name == "time.Duration" and k == "int":
            return
        if t.name == "time.Time" and k == "struct":
            raise NotReadable(f"{path}: a time.Time is printed from memory the kernel does "
                              "not read")
        if k in _INLINE:
            return
        if k == "string":
            i = self.node(path)
            if self.reads[self.nodes[i].read].kind != L.VK_STRING:
                raise NotReadable(f"{path}: its string contents cannot be read in the kernel")
            return
        if k == "ptr":
            if t.elem is None or depth >= MAX_DEPTH:
                return
            et = self.type_of(t.elem)
            target = "*" + path.strip()
            n = self.node(target, node, off)
            if et.kind == "struct":  # its fields take the next level, like ValueReader
                self.walk(t.elem, target, depth, n, 0)
            else:
                self.walk(t.elem, target, depth + 1, n, 0)
            return
        if k == "struct":
            if depth >= MAX_DEPTH:
                return
            for m in t.fields[:SUMMARY_ELEMS]:
                ft = self.type_of(m.type)
                if ft.kind in _INLINE or (ft.kind == "ptr" and depth + 1 >= MAX_DEPTH):
                    continue
                self.walk(m.type, _field_path(path, m.name), depth + 1, node, off + m.offset)
            return
        if k == "slice":
            if depth >= MAX_DEPTH or t.elem is None:
                return
            et = self.type_of(t.elem)
            if et.kind not in _INLINE - {"unsafe.Pointer"} or et.size <= 0:
                raise NotReadable(f"{path}: elements of {t.name} are not read in the kernel")
            i = self.node(path)
            r = self.reads[self.nodes[i].read]
            if r.kind != L.VK_SLICE or r.data_cap < SUMMARY_ELEMS * et.size:
                raise NotReadable(f"{path}: elements of {t.name} are not read in the kernel")
            return
        if k == "array":
            if depth >= MAX_DEPTH or not t.length or t.elem is None:
                return
            if self.type_of(t.elem).kind not in _INLINE:
                raise NotReadable(f"{path}: elements of {t.name} are not read in the kernel")
            return
        raise NotReadable(f"{path}: a {t.name or k} value is printed from memory the kernel "
                          "does not read")


@attrs.define
class _Logpoint:
    id: int
    addresses: list[int]
    parts: list[str | tuple[str]] | None
    reads: list[ValueRead]
    renders: list[_Render]  # per message expression
    per_addr: dict[int, _Logpoint] = attrs.field(factory=dict)  # each address's own reads


class BpfLogpoints:
    """In-kernel logpoints and conditions for one process; one BPF program for all of them."""

    def __init__(self, bi: BinaryInfo, pid: int, *, session: BpfSession | None = None,
                 string_cap: int = MAX_STRING_LEN, ringbuf_pages: int | None = None,
                 stop_signal: int = 5, program: ProbeProgram | None = None) -> None:
        """`program`: one compiled beforehand (dapgo.engine.bpf.ahead) for these
        `ringbuf_pages` and `stop_signal`."""
        self.bi = bi
        if session is None:
            session = BpfSession(bi, pid, ringbuf_pages=ringbuf_pages or L.DEFAULT_RINGBUF_PAGES,
                                 program=program, stop_signal=stop_signal)
            self._own_session = True
        else:
            self._own_session = False
        self.s = session
        self.string_cap = string_cap
        self._lps: dict[int, _Logpoint] = {}
        # removed ones, for their records still in the ring buffer (read after the removal);
        # an id must not be attached again with another message: records carry only the id
        self._retired: collections.OrderedDict[int, _Logpoint] = collections.OrderedDict()
        self._mem = _Captured(bi)
        self._values = ValueReader(cast(Target, self._mem), max_string_len=string_cap)

    def add(self, lp_id: int, addresses: list[int], *, message: str | None = None,
            condition: str | None = None, hit_condition: str | None = None,
            stop: bool = False) -> AddResult:
        """Attach (or replace) logpoint/conditional breakpoint `lp_id` at `addresses`.

        Returns fallback != None, attaching nothing, when something cannot be done in the
        kernel (an expression it cannot read or print as `variables` would, a condition it
        cannot evaluate exactly) or the probes cannot be attached; never raises for those."""
        self.remove(lp_id)
        if lp_id <= 1:
            return AddResult(lp_id, addresses, "ids 0 and 1 are reserved (function tracing)")
        descs: dict[int, L.Desc] = {}
        lps: dict[int, _Logpoint] = {}
        try:
            parts = parse_message(message) if message is not None else None
            if parts is not None and self.string_cap > L.DATA_MAX:
                raise NotReadable(f"strings are shown up to {self.string_cap} bytes; the "
                                  f"kernel reads at most {L.DATA_MAX}")
            for addr in addresses:
                fn = self.bi.function_for_pc(addr)
                if fn is None:
                    raise NotReadable(f"no function at {addr:#x}")
                d, lp = self._desc(lp_id, fn, addr, parts, condition, hit_condition, stop)
                descs[addr] = d
                lps[addr] = lp
        except NotReadable as e:
            return AddResult(lp_id, addresses, str(e))
        if not descs:
            return AddResult(lp_id, addresses, "no addresses")
        try:
            self.s.add_group(lp_id, descs)
        except OSError as e:  # AttachError: no uprobe_multi links, address taken, ...
            return AddResult(lp_id, addresses, f"the probes cannot be attached: {e}")
        first = next(iter(lps.values()))
        first.addresses = list(addresses)
        first.per_addr = lps
        self._lps[lp_id] = first
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
                    raise NotReadable(f"more than {L.MAX_VALS} values to read")
                reads.append(path_read(self.bi, fn, addr, expr, string_cap=self.string_cap,
                                       variables=variables))
                by_expr[expr] = len(reads) - 1
            return by_expr[expr]

        renders = [_Planner(self.bi, resolve, reads).root(p[0])
                   for p in parts or [] if isinstance(p, tuple)]
        d = L.Desc()
        d.id = lp_id
        d.flags = (L.DF_EMIT if parts is not None else 0) | (L.DF_SIGNAL if stop else 0)
        if condition and condition.strip():
            cc = _CondCompiler(condition, by_expr, reads, resolve, self.bi)
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
        return d, _Logpoint(lp_id, [addr], parts, reads, renders)

    def remove(self, lp_id: int) -> None:
        lp = self._lps.pop(lp_id, None)
        if lp is not None:
            self._retired[lp_id] = lp
            while len(self._retired) > RETIRED_KEPT:
                self._retired.popitem(last=False)
            self.s.remove_group(lp_id)

    def ids(self) -> list[int]:
        return sorted(self._lps)

    def hits(self, lp_id: int) -> int:
        return self.s.hits(lp_id)

    def lost(self) -> int:
        return self.s.lost()

    def render(self, r: _Render, rec: Record) -> str:
        """One message expression's text from the bytes of one hit."""
        vals = rec.values
        root = vals[r.nodes[0].read] if r.nodes[0].read < len(vals) else None
        if root is None:
            return "<unreadable memory>"
        if root.err:
            return _ROOT_ERRS.get(root.err, "<unreadable memory>")
        regions: list[tuple[int, bytes]] = []
        raws: list[bytes | None] = []
        for n in r.nodes:
            v = vals[n.read] if n.read < len(vals) else None
            raw: bytes | None = None
            if v is not None and not v.err:
                raw = v.raw
                if n.parent is not None:
                    praw = raws[n.parent]
                    if praw is None or len(praw) < n.offset + 8:
                        raw = None
                    else:
                        regions.append((int.from_bytes(praw[n.offset:n.offset + 8],
                                                       "little"), raw))
                if raw is not None and v.data and len(raw) >= 8:
                    regions.append((int.from_bytes(raw[:8], "little"), v.data))
            raws.append(raw)
        t = self._values.type_of(r.type)
        self._mem.regions = regions
        try:
            return self._values.format(Value(t, 0, root.raw[:t.size].ljust(t.size, b"\0")))
        except OSError:
            return "<unreadable memory>"
        finally:
            self._mem.regions = []

    def poll(self, timeout: float = 0.05) -> list[LogEvent]:
        """Hits since the last poll (waiting up to `timeout` s for the first), in order."""
        return self.decode(self.s.poll(timeout))

    def take_signal_ip(self, tid: int) -> int | None:
        """The probed address where thread `tid` last stopped, once."""
        return self.s.take_signal_ip(tid)

    def open_watch(self, tid: int, addr: int, size: int, read_too: bool) -> int:
        """A hardware breakpoint perf event stopping thread `tid` as a probe does (its
        `signals` entry is WATCH_SIGNAL_ID, with the watched address)."""
        return self.s.open_watch(tid, addr, size, read_too)

    def take_signal(self, tid: int) -> int | None:
        """The id of the condition whose probe is stopping thread `tid`, once."""
        return self.s.take_signal(tid)

    def decode(self, records: list[Record]) -> list[LogEvent]:
        """The messages of raw ring-buffer records (read by any thread: `s.poll`)."""
        out: list[LogEvent] = []
        for rec in records:
            lp = self._lps.get(rec.id) or self._retired.get(rec.id)
            if lp is None:
                continue
            lp = lp.per_addr.get(rec.ip, lp)
            msg: str | None = None
            if lp.parts is not None:
                texts = []
                k = 0
                for p in lp.parts:
                    if isinstance(p, str):
                        texts.append(p)
                        continue
                    texts.append(self.render(lp.renders[k], rec))
                    k += 1
                msg = "".join(texts)
            out.append(LogEvent(rec.id, rec.goid, rec.tid, rec.ip, rec.hits, msg))
        return out

    def close(self) -> None:
        self._lps.clear()
        if self._own_session:
            self.s.close()


__all__ = ["AddResult", "AttachError", "BpfLogpoints", "LogEvent", "parse_hit_condition",
           "parse_message", "tsize"]
