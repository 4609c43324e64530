"""Evaluating a parsed Go expression over the program's values, with Go's semantics:
typed integer arithmetic wraps, integer division truncates toward zero, untyped constants
take the type of the other operand and must be representable in it, mismatched types are
an error, and `&&`/`||` short-circuit."""

from __future__ import annotations

import math
import re
import struct
from typing import Protocol

import attrs

from dapgo.engine.dwarf.model import GoType
from dapgo.engine.eval.calls import CallHost, resolve_callee
from dapgo.engine.eval.syntax import (
    Binary,
    Call,
    EvalError,
    Global,
    Ident,
    Index,
    Lit,
    Node,
    Paren,
    Selector,
    Slice,
    TypeAssert,
    TypeExpr,
    Unary,
)
from dapgo.engine.gofmt import format_complex, format_float, go_quote
from dapgo.engine.values import Value, ValueReader, format_scalar, scalar

MAX_COMPARE_STRING = 1 << 20
# Go's gc represents untyped integer constants in 512 bits ("constant overflow" beyond);
# bounding every constant the evaluator computes keeps `1 << 1e10` from taking gigabytes
MAX_CONST_BITS = 512
MAX_CONST_STRING = 1 << 20  # bytes of a string built here (concatenation)
UNTYPED_DEFAULT = {"int": "int", "rune": "int32", "float": "float64", "complex": "complex128",
                   "string": "string", "bool": "bool", "nil": "nil"}
_NUMERIC = ("int", "uint", "uintptr", "float", "complex")


@attrs.frozen
class Const:
    """A value that lives only in the evaluator: an untyped constant (`type` None), or a
    typed string computed here (concatenation)."""

    value: int | float | complex | bool | str | None
    kind: str  # int rune float complex string bool nil
    type: GoType | None = None

    @property
    def type_name(self) -> str:
        return self.type.name if self.type else f"untyped {self.kind}"

    def text(self) -> str:
        v = self.value
        if self.kind == "nil":
            return "nil"
        if self.kind == "bool":
            return "true" if v else "false"
        if self.kind == "string":
            assert isinstance(v, str)
            return go_quote(v.encode())
        if isinstance(v, complex):
            return format_complex(v.real, v.imag)
        if isinstance(v, float):
            return format_float(v)
        return str(v)


Result = Value | Const


class Scope(Protocol):
    """Where names are looked up: the selected frame's variables, then package globals."""

    def local(self, name: str) -> Value | None: ...
    def global_var(self, name: str) -> Value | None: ...
    def package(self) -> str | None: ...


NO_CALLS = "function calls are not allowed here"


class Interpreter:
    def __init__(self, reader: ValueReader, scope: Scope, calls: CallHost | None = None,
                 no_calls: str = NO_CALLS) -> None:
        """`calls` runs calls into the program; without it, a call is an error saying
        `no_calls`."""
        self.r = reader
        self.scope = scope
        self.calls = calls
        self.no_calls = no_calls

    # ----- entry -----

    def eval(self, node: Node) -> Result:
        try:
            return self._eval(node)
        except OSError as exc:
            raise EvalError(f"could not read memory: {exc}") from exc
        except RecursionError:  # the parser bounds the tree's depth: a backstop
            raise EvalError("expression nested too deeply") from None
        except OverflowError as exc:  # e.g. a float conversion of a huge constant
            raise EvalError(f"numeric overflow: {exc}") from None

    def _eval(self, node: Node) -> Result:
        if isinstance(node, Paren):
            return self._eval(node.x)
        if isinstance(node, Lit):
            return _lit(node)
        if isinstance(node, Ident):
            return self._ident(node.name)
        if isinstance(node, Global):
            v = self.scope.global_var(node.name)
            if v is None:
                raise EvalError(f"could not find symbol value for {node.name}")
            return v
        if isinstance(node, Selector):
            return self._selector(node)
        if isinstance(node, Index):
            return self._index(self._eval(node.x), self._eval(node.index))
        if isinstance(node, Slice):
            return self._slice(node)
        if isinstance(node, TypeAssert):
            return self._assert(self._eval(node.x), node.type.name)
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, Unary):
            return self._unary(node)
        if isinstance(node, Binary):
            return self._binary(node)
        if isinstance(node, TypeExpr):
            raise EvalError(f"{node.name} (type) is not an expression")
        raise EvalError("unsupported expression")

    # ----- names -----

    def _ident(self, name: str) -> Result:
        v = self.scope.local(name)
        if v is not None:
            return v
        if name in ("true", "false"):
            return Const(name == "true", "bool")
        if name == "nil":
            return Const(None, "nil")
        pkg = self.scope.package()
        if pkg:
            g = self.scope.global_var(f"{pkg}.{name}")
            if g is not None:
                return g
        raise EvalError(f"could not find symbol value for {name}")

    def _selector(self, node: Selector) -> Result:
        if isinstance(node.x, Ident) and self.scope.local(node.x.name) is None:
            g = self.scope.global_var(f"{node.x.name}.{node.name}")
            if g is not None:
                return g
            if node.x.name not in ("true", "false", "nil"):
                raise EvalError(f"could not find symbol value for {node.x.name}.{node.name}")
        x = self._eval(node.x)
        if isinstance(x, Const):
            raise EvalError(f"{x.text()}.{node.name} undefined (constant has no fields)")
        return self._field(x, node.name)

    def field(self, x: Value, name: str) -> Value:
        return self._field(x, name)

    def _field(self, x: Value, name: str) -> Value:
        if x.type.kind == "ptr":
            if x.word() == 0:
                raise EvalError("nil pointer dereference")
            x = self.r.deref(x)
        if x.type.kind == "interface":
            raise EvalError(f"{x.type.name} has no field {name} (it is an interface: "
                            f"use a type assertion)")
        if x.type.kind != "struct":
            raise EvalError(f"{x.type.name} has no field or method {name}")
        found = self._promoted(x, name, 0)
        if found is None:
            raise EvalError(f"{x.type.name} has no field or method {name}")
        return found

    def _promoted(self, x: Value, name: str, depth: int) -> Value | None:
        """Field `name` of struct x, or of its embedded fields (breadth-first)."""
        for m in x.type.fields:
            if m.name == name:
                return self.r.field_value(x, name)
        if depth > 8:
            return None
        for m in x.type.fields:
            if not m.embedded:
                continue
            inner = self.r.field_value(x, m.name)
            if inner.type.kind == "ptr":
                if inner.word() == 0:
                    continue
                inner = self.r.deref(inner)
            if inner.type.kind == "struct":
                got = self._promoted(inner, name, depth + 1)
                if got is not None:
                    return got
        return None

    # ----- indexing and slicing -----

    def _int_operand(self, x: Result, what: str) -> int:
        if isinstance(x, Const):
            if x.kind in ("int", "rune") or (x.kind == "float" and float(x.value).is_integer()):  # type: ignore[arg-type]
                return int(x.value)  # type: ignore[arg-type]
            raise EvalError(f"invalid {what} {x.text()} (must be integer)")
        if x.type.kind not in ("int", "uint", "uintptr"):
            raise EvalError(f"invalid {what} (type {x.type.name} is not an integer)")
        return _as_int(scalar(x))

    def _index(self, x: Result, i: Result) -> Result:
        if isinstance(x, Const):
            if x.kind == "string" and isinstance(x.value, str):
                data = x.value.encode()
                n = self._int_operand(i, "index")
                if not 0 <= n < len(data):
                    raise EvalError(f"index out of range [{n}] with length {len(data)}")
                return Value(self.r.basic("uint8"), 0, bytes([data[n]]))
            raise EvalError(f"cannot index {x.text()}")
        t = x.type
        if t.kind == "ptr" and t.elem is not None and self.r.type_of(t.elem).kind == "array":
            x = self._deref(x)
            t = x.type
        if t.kind == "map":
            return self._map_index(x, i)
        if t.kind in ("array", "slice", "string"):
            n = self._int_operand(i, "index")
            length = self._len(x)
            if not 0 <= n < length:
                raise EvalError(f"index out of range [{n}] with length {length}")
            if t.kind == "string":
                ptr = x.word()
                return Value(self.r.basic("uint8"), ptr + n, self.r.target.read(ptr + n, 1))
            return self.r.element(x, n)
        raise EvalError(f"cannot index {t.name}")

    def _map_index(self, m: Value, key: Result) -> Value:
        t = m.type
        assert t.key is not None and t.elem is not None
        kt = self.r.type_of(t.key)
        want = self._convert(key, kt) if isinstance(key, Const) else key
        if isinstance(want, Value) and want.type.name != kt.name:
            raise EvalError(f"cannot use {want.type.name} as {kt.name} map key")
        wanted = self._key_of(want)
        for k, e in self.r.map_pairs(m, 0, None):
            if self._key_of(k) == wanted:
                return e
        # Go yields the zero value for a missing key
        raise EvalError(f"key {self._text(want)} not found in map")

    def _key_of(self, x: Result) -> object:
        if isinstance(x, Const):
            return x.value.encode() if isinstance(x.value, str) else x.value
        k = x.type.kind
        if k == "string":
            return self.r.string_bytes(x, MAX_COMPARE_STRING)
        if k in ("int", "uint", "uintptr", "float", "complex", "bool"):
            return scalar(x)
        if k == "struct":
            return tuple(self._key_of(self.r.field_value(x, f.name)) for f in x.type.fields)
        if k == "array":
            return tuple(self._key_of(self.r.element(x, j)) for j in range(x.type.length or 0))
        if k == "interface":
            dyn = self.r.dynamic(x)
            return None if dyn is None else (dyn[0], dyn[1] and self._key_of(dyn[1]))
        return x.data

    def _slice(self, node: Slice) -> Result:
        x = self._eval(node.x)
        lo = 0 if node.lo is None else self._int_operand(self._eval(node.lo), "slice index")
        hi_v = None if node.hi is None else self._int_operand(self._eval(node.hi), "slice index")
        mx_v = None if node.max is None else self._int_operand(self._eval(node.max),
                                                              "slice index")
        if isinstance(x, Const):
            if x.kind != "string" or not isinstance(x.value, str):
                raise EvalError(f"cannot slice {x.text()}")
            data = x.value.encode()
            hi = len(data) if hi_v is None else hi_v
            if not 0 <= lo <= hi <= len(data):
                raise EvalError(f"slice bounds out of range [{lo}:{hi}] with length {len(data)}")
            return Const(data[lo:hi].decode("utf-8", "replace"), "string", x.type)
        t = x.type
        if t.kind == "ptr" and t.elem is not None and self.r.type_of(t.elem).kind == "array":
            x = self._deref(x)
            t = x.type
        if t.kind == "string":
            if mx_v is not None:
                raise EvalError("3-index slice of string")
            length = self._len(x)
            hi = length if hi_v is None else hi_v
            if not 0 <= lo <= hi <= length:
                raise EvalError(f"slice bounds out of range [{lo}:{hi}] with length {length}")
            return Value(t, 0, struct.pack("<Qq", x.word() + lo, hi - lo))
        if t.kind not in ("slice", "array"):
            raise EvalError(f"cannot slice {t.name}")
        if t.kind == "array":
            if not x.addr:
                raise EvalError("cannot slice an array that is not in memory")
            base, cap = x.addr, t.length or 0
            st = self._slice_type(t)
        else:
            base, cap = x.word(), struct.unpack_from("<q", x.data, 16)[0]
            st = t
        hi = self._len(x) if hi_v is None else hi_v
        mx = cap if mx_v is None else mx_v
        if not 0 <= lo <= hi <= mx <= cap:
            raise EvalError(f"slice bounds out of range [{lo}:{hi}:{mx}] with capacity {cap}")
        assert t.elem is not None
        esize = self.r.type_of(t.elem).size
        return Value(st, 0, struct.pack("<Qqq", base + lo * esize, hi - lo, mx - lo))

    def _slice_type(self, arr: GoType) -> GoType:
        assert arr.elem is not None
        ename = self.r.type_of(arr.elem).name
        ref = self.r.binary.find_type("[]" + ename)
        if ref is not None:
            return self.r.type_of(ref)
        return GoType(name="[]" + ename, kind="slice", size=24, elem=arr.elem)

    # ----- calls: builtins and conversions -----

    def _call(self, node: Call) -> Result:
        fun = node.fun
        while isinstance(fun, Paren):
            fun = fun.x
        if isinstance(fun, Ident) and fun.name in ("len", "cap") and \
                self.scope.local(fun.name) is None:
            if len(node.args) != 1:
                raise EvalError(f"{fun.name} expects exactly one argument")
            x = self._eval(node.args[0])
            n = self._len(x) if fun.name == "len" else self._cap(x)
            return Value(self.r.basic("int"), 0, struct.pack("<q", n))
        if isinstance(fun, Ident) and fun.name in ("real", "imag", "complex") and \
                self.scope.local(fun.name) is None:
            from dapgo.engine.eval.builtins import complex_builtin  # it builds on this module
            return complex_builtin(self.r, fun.name, [self._eval(a) for a in node.args])
        tname = _type_name(fun)
        if tname is not None:
            t = self._lookup_type(tname)
            if t is not None:
                if len(node.args) != 1:
                    raise EvalError(f"conversion to {tname} expects exactly one argument")
                return self._convert(self._eval(node.args[0]), t, explicit=True)
        if self.calls is None:
            raise EvalError(self.no_calls)
        callee = resolve_callee(self, fun)
        args = [self._eval(a) for a in node.args]
        return self.calls.invoke(self, callee, args)

    def _lookup_type(self, name: str) -> GoType | None:
        try:
            return self.r.basic(name)
        except LookupError:
            pass
        ref = self.r.binary.find_type(name)
        if ref is None and "." not in name.lstrip("*[]") and self.scope.package():
            stars = len(name) - len(name.lstrip("*"))
            ref = self.r.binary.find_type(
                name[:stars] + f"{self.scope.package()}." + name[stars:])
        return self.r.type_of(ref) if ref is not None else None

    def _len(self, x: Result) -> int:
        if isinstance(x, Const):
            if x.kind == "string" and isinstance(x.value, str):
                return len(x.value.encode())
            raise EvalError(f"invalid argument {x.text()} for len")
        k = x.type.kind
        if k == "ptr" and x.type.elem is not None and \
                self.r.type_of(x.type.elem).kind == "array":
            return self.r.type_of(x.type.elem).length or 0
        if k in ("string", "slice"):
            return int(struct.unpack_from("<q", x.data, 8)[0])
        if k == "array":
            return x.type.length or 0
        if k == "map":
            return self.r.maps.count(x.type, x.word()) if x.word() else 0
        if k == "chan":
            return self.r.target.u64(x.word()) if x.word() else 0
        raise EvalError(f"invalid argument (type {x.type.name}) for len")

    def _cap(self, x: Result) -> int:
        if isinstance(x, Value):
            k = x.type.kind
            if k == "slice":
                return int(struct.unpack_from("<q", x.data, 16)[0])
            if k == "array":
                return x.type.length or 0
            if k == "chan":
                return self.r.target.u64(x.word() + 8) if x.word() else 0
        name = x.text() if isinstance(x, Const) else f"type {x.type.name}"
        raise EvalError(f"invalid argument ({name}) for cap")

    def convert(self, x: Result, t: GoType) -> Result:
        """x assigned to a variable of type t (Go's assignability for constants)."""
        return self._convert(x, t)

    def _convert(self, x: Result, t: GoType, explicit: bool = False) -> Result:
        """x converted to type t (an assignment when not `explicit`)."""
        k = t.kind
        if isinstance(x, Const):
            if x.kind == "nil":
                if k in ("ptr", "slice", "map", "chan", "func", "interface", "unsafe.Pointer"):
                    return Value(t, 0, bytes(t.size))
                raise EvalError(f"cannot convert nil to type {t.name}")
            if k == "string" and x.kind == "string":
                return Const(x.value, "string", t)
            if k == "bool" and x.kind == "bool":
                return make(t, bool(x.value))
            if k in _NUMERIC and x.kind in ("int", "rune", "float", "complex"):
                return make(t, _represent(x.value, t, explicit))  # type: ignore[arg-type]
            if k == "ptr" and explicit and x.kind in ("int", "rune"):
                return make(t, int(x.value))  # type: ignore[arg-type]
            raise EvalError(f"cannot use {x.text()} (untyped {x.kind} constant) as {t.name}")
        if x.type.name == t.name:
            return x
        sk = x.type.kind
        if not explicit:
            raise EvalError(f"cannot use {self._text(x)} (type {x.type.name}) as {t.name}")
        if sk in _NUMERIC and k in _NUMERIC:
            return make(t, _represent(scalar(x), t, True))
        if k in ("ptr", "unsafe.Pointer", "uintptr") and sk in ("ptr", "unsafe.Pointer",
                                                               "uintptr", "int", "uint"):
            return make(t, _as_int(scalar(x)))
        if sk == k and x.type.size == t.size and k not in ("interface",):
            return Value(t, x.addr, x.data)  # same underlying type
        if k == "string" and sk in ("int", "uint"):
            return Const(chr(_as_int(scalar(x))), "string", t)
        raise EvalError(f"cannot convert {self._text(x)} (type {x.type.name}) to {t.name}")

    # ----- type assertions -----

    def _assert(self, x: Result, tname: str) -> Result:
        if isinstance(x, Const) or x.type.kind != "interface":
            what = x.text() if isinstance(x, Const) else f"type {x.type.name}"
            raise EvalError(f"invalid operation: {tname} assertion on non-interface ({what})")
        dyn = self.r.dynamic(x)
        if dyn is None:
            raise EvalError(f"interface conversion: interface is nil, not {tname}")
        name, inner = dyn
        full = inner.type.name if inner is not None else name
        want = self._lookup_type(tname)
        want_name = want.name if want is not None else tname
        if want is not None and want.kind == "interface":
            raise EvalError("type assertions to interface types are not supported")
        if want_name not in (full, name) and tname not in (full, name, short_packages(full)):
            raise EvalError(f"interface conversion: {x.type.name} is {name}, not {tname}")
        if inner is None:
            raise EvalError(f"no debug information for type {name}")
        return inner

    # ----- operators -----

    def _deref(self, x: Value) -> Value:
        if x.type.kind != "ptr":
            raise EvalError(f"invalid indirect of {self._text(x)} (type {x.type.name})")
        if x.word() == 0:
            raise EvalError("nil pointer dereference")
        return self.r.deref(x)

    def _unary(self, node: Unary) -> Result:
        op = node.op
        if op == "&":
            inner = node.x.x if isinstance(node.x, Paren) else node.x
            x = self._eval(inner)
            if isinstance(x, Const) or not x.addr:
                raise EvalError("cannot take the address of a value not in memory")
            return Value(self.r.pointer_to(x.type), 0, struct.pack("<Q", x.addr))
        x = self._eval(node.x)
        if op == "*":
            if isinstance(x, Const):
                raise EvalError(f"invalid indirect of {x.text()}")
            return self._deref(x)
        if isinstance(x, Const):
            v = x.value
            if op == "!":
                if x.kind != "bool":
                    raise EvalError(f"invalid operation: operator ! not defined on {x.text()}")
                return Const(not v, "bool")
            if x.kind not in ("int", "rune", "float", "complex"):
                raise EvalError(f"invalid operation: operator {op} not defined on {x.text()}")
            if op == "-":
                return bounded(Const(-v, x.kind))  # type: ignore[operator]
            if op == "+":
                return x
            if x.kind not in ("int", "rune"):
                raise EvalError(f"invalid operation: operator ^ not defined on {x.text()}")
            return bounded(Const(~v, x.kind))  # type: ignore[operator]
        k = x.type.kind
        if op == "!":
            if k != "bool":
                raise EvalError(f"invalid operation: operator ! not defined on {x.type.name}")
            return make(x.type, not scalar(x))
        if k not in _NUMERIC or (op == "^" and k not in ("int", "uint", "uintptr")):
            raise EvalError(f"invalid operation: operator {op} not defined on "
                            f"{self._text(x)} (type {x.type.name})")
        s = scalar(x)
        if op == "-":
            return make(x.type, -s)
        if op == "+":
            return x
        return make(x.type, ~_as_int(s))

    def _binary(self, node: Binary) -> Result:
        op = node.op
        if op in ("&&", "||"):
            first = self._bool(self._eval(node.x), op)
            if (op == "&&" and not first) or (op == "||" and first):
                return Const(first, "bool")
            return Const(self._bool(self._eval(node.y), op), "bool")
        x, y = self._eval(node.x), self._eval(node.y)
        if op in ("<<", ">>"):
            return self._shift(op, x, y)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self._compare(op, x, y)
        return self._arith(op, x, y)

    def _bool(self, x: Result, op: str) -> bool:
        if isinstance(x, Const) and x.kind == "bool":
            return bool(x.value)
        if isinstance(x, Value) and x.type.kind == "bool":
            return bool(x.data[0])
        raise EvalError(f"invalid operation: operator {op} not defined on {self._text(x)} "
                        "(not a boolean)")

    def _unify(self, op: str, x: Result, y: Result) -> tuple[Result, Result]:
        if isinstance(x, Value) and isinstance(y, Const):
            return x, self._convert(y, x.type)
        if isinstance(x, Const) and isinstance(y, Value):
            return self._convert(x, y.type), y
        if isinstance(x, Value) and isinstance(y, Value) and x.type.name != y.type.name:
            raise EvalError(f"invalid operation: {self._text(x)} {op} {self._text(y)} "
                            f"(mismatched types {x.type.name} and {y.type.name})")
        if isinstance(x, Const) and isinstance(y, Const) and x.type and y.type and \
                x.type.name != y.type.name:
            raise EvalError(f"invalid operation: mismatched types {x.type.name} and "
                            f"{y.type.name}")
        return x, y

    def _py(self, x: Result) -> object:
        if isinstance(x, Const):
            return x.value
        k = x.type.kind
        if k == "string":
            return self.r.string_bytes(x, MAX_COMPARE_STRING).decode("utf-8", "replace")
        if k in _NUMERIC or k == "bool":
            return scalar(x)
        if k in ("ptr", "unsafe.Pointer", "chan", "map", "func", "slice"):
            return x.word()
        if k == "interface":
            return self._key_of(x)
        return self._key_of(x)

    def _compare(self, op: str, x: Result, y: Result) -> Const:
        if isinstance(x, Const) and x.kind == "nil":
            x, y = y, x
        if isinstance(y, Const) and y.kind == "nil":
            if isinstance(x, Const):
                raise EvalError("invalid operation: nil == nil (operator not defined on nil)")
            if x.type.kind not in ("ptr", "slice", "map", "chan", "func", "interface",
                                   "unsafe.Pointer"):
                raise EvalError(f"invalid operation: mismatched types {x.type.name} and nil")
            if op not in ("==", "!="):
                raise EvalError(f"invalid operation: operator {op} not defined on nil")
            is_nil = x.word() == 0
            return Const(is_nil if op == "==" else not is_nil, "bool")
        x, y = self._unify(op, x, y)
        a, b = self._py(x), self._py(y)
        ordered = isinstance(a, (int, float, str)) and not isinstance(a, bool)
        if op not in ("==", "!=") and not ordered:
            raise EvalError(f"invalid operation: operator {op} not defined on "
                            f"{self._text(x)}")
        if isinstance(x, Value) and x.type.kind in ("slice", "map", "func"):
            raise EvalError(f"invalid operation: {x.type.name} can only be compared to nil")
        result = {
            "==": lambda: a == b, "!=": lambda: a != b,
            "<": lambda: a < b, "<=": lambda: a <= b,  # type: ignore[operator]
            ">": lambda: a > b, ">=": lambda: a >= b,  # type: ignore[operator]
        }[op]()
        return Const(bool(result), "bool")

    def _shift(self, op: str, x: Result, y: Result) -> Result:
        n = self._int_operand(y, "shift count")
        if n < 0:
            raise EvalError(f"invalid shift count {n} (must be non-negative)")
        if isinstance(x, Const):
            if x.kind not in ("int", "rune"):
                raise EvalError(f"invalid operation: shifted operand {x.text()} must be integer")
            v = int(x.value)  # type: ignore[arg-type]
            if op == "<<" and v and n > MAX_CONST_BITS:
                raise EvalError(f"constant shift overflow: {x.text()} << {n}")
            return bounded(Const(v << n if op == "<<" else v >> min(n, MAX_CONST_BITS + 1),
                                 x.kind))
        if x.type.kind not in ("int", "uint", "uintptr"):
            raise EvalError(f"invalid operation: shifted operand {self._text(x)} "
                            f"(type {x.type.name}) must be integer")
        v = _as_int(scalar(x))
        n = min(n, 8 * x.type.size + 1)  # a wider shift gives the same bits (make() wraps)
        return make(x.type, v << n if op == "<<" else v >> n)

    def _arith(self, op: str, x: Result, y: Result) -> Result:
        x, y = self._unify(op, x, y)
        if isinstance(x, Const) and isinstance(y, Const) and x.type is None \
                and y.type is None:
            return _const_arith(op, x, y)
        t = x.type if isinstance(x, Value) else (y.type if isinstance(y, Value)
                                                  else x.type or y.type)
        assert t is not None
        k = t.kind
        if k == "string":
            if op != "+":
                raise EvalError(f"invalid operation: operator {op} not defined on strings")
            return bounded(Const(str(self._py(x)) + str(self._py(y)), "string", t))
        if k not in _NUMERIC:
            raise EvalError(f"invalid operation: operator {op} not defined on "
                            f"{self._text(x)} (type {t.name})")
        a, b = self._py(x), self._py(y)
        return make(t, _apply(op, a, b, k, t.name))  # type: ignore[arg-type]

    def _text(self, x: Result) -> str:
        if isinstance(x, Const):
            return x.text()
        try:
            return self.r.format(x, 1, False)
        except (OSError, LookupError):
            return "?"


def _as_int(v: object) -> int:
    if isinstance(v, complex):
        v = v.real
    if not isinstance(v, (int, float, bool)):
        raise EvalError(f"{v!r} is not an integer")
    return int(v)


def _lit(node: Lit) -> Const:
    kinds = {"int": "int", "float": "float", "imag": "complex", "char": "rune",
             "string": "string"}
    return bounded(Const(node.value, kinds[node.kind]))  # type: ignore[arg-type]


def bounded(c: Const) -> Const:
    """`c`, if the evaluator may hold it: integers within MAX_CONST_BITS, strings within
    MAX_CONST_STRING characters."""
    v = c.value
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > MAX_CONST_BITS:
        raise EvalError(f"constant overflow: the result needs {v.bit_length()} bits, more "
                        f"than the {MAX_CONST_BITS} of an untyped constant")
    if isinstance(v, str) and len(v) > MAX_CONST_STRING:
        raise EvalError(f"string too long: {len(v)} characters, the limit is "
                        f"{MAX_CONST_STRING}")
    return c


def _type_name(node: Node) -> str | None:
    """The type a call's function part names syntactically (`int`, `main.T`, `*main.T`)."""
    if isinstance(node, TypeExpr):
        return node.name
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Selector) and isinstance(node.x, Ident):
        return f"{node.x.name}.{node.name}"
    if isinstance(node, Global):
        return node.name
    if isinstance(node, Paren):
        return _type_name(node.x)
    if isinstance(node, Unary) and node.op == "*":
        inner = _type_name(node.x)
        return None if inner is None else "*" + inner
    return None


def _const_arith(op: str, x: Const, y: Const) -> Const:
    order = ["int", "rune", "float", "complex"]
    if x.kind == "string" and y.kind == "string":
        if op != "+":
            raise EvalError(f"invalid operation: operator {op} not defined on strings")
        return bounded(Const(str(x.value) + str(y.value), "string"))
    if x.kind not in order or y.kind not in order:
        raise EvalError(f"invalid operation: {x.text()} {op} {y.text()} (mismatched kinds)")
    kind = order[max(order.index(x.kind), order.index(y.kind))]
    return bounded(Const(_apply(op, x.value, y.value, kind, f"untyped {kind}"), kind))  # type: ignore[arg-type]


def _apply(op: str, a: int | float | complex, b: int | float | complex, kind: str,
           tname: str) -> int | float | complex:
    integer = kind in ("int", "uint", "uintptr", "rune")
    if op in ("%", "&", "|", "^", "&^") and not integer:
        raise EvalError(f"invalid operation: operator {op} not defined on {tname}")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op in ("/", "%"):
        if b == 0 and integer:
            raise EvalError("integer divide by zero")
        if integer:
            ia, ib = int(a), int(b)  # type: ignore[arg-type]
            q = abs(ia) // abs(ib) * (1 if (ia < 0) == (ib < 0) else -1)
            return q if op == "/" else ia - q * ib
        if b == 0:
            if isinstance(a, complex) or isinstance(b, complex):
                raise EvalError("complex division by zero")
            return math.copysign(math.inf, a.real) if a else math.nan
        return a / b
    ia, ib = int(a), int(b)  # type: ignore[arg-type]
    return {"&": ia & ib, "|": ia | ib, "^": ia ^ ib, "&^": ia & ~ib}[op]


def _represent(v: int | float | complex, t: GoType, explicit: bool) -> int | float | complex:
    """A constant (or an explicitly converted value) as a value of numeric type t."""
    k = t.kind
    if k in ("int", "uint", "uintptr"):
        if isinstance(v, complex):
            if v.imag:
                raise EvalError(f"cannot convert {v} to {t.name} (truncated)")
            v = v.real
        if isinstance(v, float):
            if not v.is_integer() and not explicit:
                raise EvalError(f"constant {format_float(v)} truncated to integer ({t.name})")
            if math.isinf(v) or math.isnan(v):
                raise EvalError(f"cannot convert {format_float(v)} to {t.name}")
            v = int(v)
        bits = 8 * t.size
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if k == "int" else (0, (1 << bits) - 1)
        if not explicit and not lo <= v <= hi:
            raise EvalError(f"cannot use {v} (untyped int constant) as {t.name} value "
                            f"(overflows)")
        return v
    if k == "float":
        if isinstance(v, complex):
            if v.imag:
                raise EvalError(f"constant {v} truncated to real ({t.name})")
            return v.real
        return float(v)
    return complex(v)


def make(t: GoType, v: int | float | complex | bool) -> Value:
    """A value of type t computed here: integers wrap to the type's width."""
    k = t.kind
    if k == "bool":
        data = bytes([1 if v else 0])
    elif k in ("int", "uint", "uintptr", "ptr", "unsafe.Pointer", "chan", "map", "func"):
        bits = 8 * t.size
        iv = int(v) & ((1 << bits) - 1)  # type: ignore[arg-type]
        data = iv.to_bytes(t.size, "little")
    elif k == "float":
        data = struct.pack("<f" if t.size == 4 else "<d", float(v))  # type: ignore[arg-type]
    elif k == "complex":
        c = complex(v)
        data = struct.pack("<ff" if t.size == 8 else "<dd", c.real, c.imag)
    else:
        raise EvalError(f"cannot make a value of type {t.name}")
    return Value(t, 0, data)


_PACKAGE_PATH = re.compile(r"(?:[\w.\-]+/)+(?=[\w\-]+\.)")


def short_packages(type_name: str) -> str:
    """A type name as source code writes it: each package path cut to its last element
    (`*io/fs.PathError` -> `*fs.PathError`)."""
    return _PACKAGE_PATH.sub("", type_name)


def result_text(reader: ValueReader, x: Result) -> tuple[str, str]:
    """(value text, type name) of an evaluation result."""
    if isinstance(x, Const):
        return x.text(), x.type.name if x.type else UNTYPED_DEFAULT.get(x.kind, x.kind)
    return reader.format(x), x.type.name


__all__ = ["Const", "Interpreter", "Result", "Scope", "format_scalar", "make", "result_text"]
