"""Which function a call expression names, for calls into the stopped program.

`resolve_callee` turns the function part of `f(x)` into a `Callee`: a package function
(`add`, `strings.ToUpper`, `net/url.QueryEscape`), a method on a value or pointer (`p.Sum`,
`pp.Scale`, with Go's automatic `&`/`*` on the receiver), a method through an interface
(found from its dynamic type) or promoted from an embedded field, or a function value
(a closure or a func variable: its code pointer and closure context). Running the call is
the engine's business (`CallHost`), reached from the interpreter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

from dapgo.engine.dwarf.model import Function, GoType
from dapgo.engine.eval.syntax import EvalError, Global, Ident, Node, Paren, Selector
from dapgo.engine.values import Value

if TYPE_CHECKING:
    from dapgo.engine.eval.interp import Interpreter, Result

MAX_EMBED_DEPTH = 8
NO_VALUE = GoType(name="", kind="void", size=0)  # what a call without results gives


def is_tuple(t: GoType) -> bool:
    """The type of a call's several results, shown as one value (`(int, error)`)."""
    return t.kind == "struct" and t.name.startswith("(")


@attrs.frozen
class Callee:
    """A function to call: its code, its closure context (RDX; 0 for none), the receiver
    of a method (passed as the first argument), and how the user wrote it."""

    fn: Function
    name: str
    closure: int = 0
    receiver: Value | None = None


class CallHost(Protocol):
    """Runs calls in the program for the interpreter (the engine's side)."""

    def invoke(self, interp: Interpreter, callee: Callee, args: list[Result]) -> Result: ...


def _split_type(name: str) -> tuple[str, str] | None:
    """"example.com/x/pkg.T" -> ("example.com/x/pkg", "T"); None for unnamed types."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot <= 0 or any(c in name[:dot] for c in "[]*() "):
        return None
    return name[:dot], name[dot + 1:]


def _written(node: Node) -> str:
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Global):
        return node.name
    if isinstance(node, Selector):
        return f"{_written(node.x)}.{node.name}"
    if isinstance(node, Paren):
        return f"({_written(node.x)})"
    return "function"


def resolve_callee(interp: Interpreter, fun: Node) -> Callee:
    """The function that `fun` (the part before the parentheses) names."""
    while isinstance(fun, Paren):
        fun = fun.x
    binary = interp.r.binary
    name = _written(fun)
    if isinstance(fun, Ident) and interp.scope.local(fun.name) is None:
        pkg = interp.scope.package()
        for cand in ([f"{pkg}.{fun.name}"] if pkg else []) + [fun.name]:
            fn = binary.function(cand)
            if fn is not None:
                return Callee(fn, name)
        full = f"{pkg}.{fun.name}" if pkg else fun.name
        if not pkg or interp.scope.global_var(full) is None:
            raise EvalError(_missing(full))
    if isinstance(fun, Global):
        fn = binary.function(fun.name)
        if fn is not None:
            return Callee(fn, name)
    if isinstance(fun, Selector):
        if isinstance(fun.x, Ident) and interp.scope.local(fun.x.name) is None \
                and interp.scope.global_var(f"{fun.x.name}.{fun.name}") is None:
            full = f"{fun.x.name}.{fun.name}"
            fn = binary.function(full)
            if fn is not None:
                return Callee(fn, name)
            if interp.scope.global_var(fun.x.name) is None and \
                    (interp.scope.package() is None or interp.scope.global_var(
                        f"{interp.scope.package()}.{fun.x.name}") is None):
                raise EvalError(_missing(full))
        recv = interp.eval(fun.x)
        if not isinstance(recv, Value):
            raise EvalError(f"{name} is not a function")
        found = method(interp, recv, fun.name, 0)
        if found is not None:
            fn, receiver = found
            return Callee(fn, name, receiver=receiver)
        try:
            fv = interp.field(recv, fun.name)
        except EvalError:
            raise EvalError(f"{recv.type.name} has no method {fun.name} in the program "
                            "(no such method, or the linker dropped it: nothing uses it)"
                            ) from None
        return func_value(interp, fv, name)
    v = interp.eval(fun)
    if not isinstance(v, Value):
        raise EvalError(f"{name} is not a function")
    return func_value(interp, v, name)


def _missing(full: str) -> str:
    return (f"could not find function {full}: not in the program (the linker drops "
            "functions nothing uses, and the compiler may have inlined it everywhere)")


def func_value(interp: Interpreter, v: Value, name: str) -> Callee:
    """A call through a func value: its funcval holds the code pointer, and is itself the
    closure context."""
    if v.type.kind != "func":
        raise EvalError(f"{name} is not a function (it is {v.type.name})")
    closure = v.word()
    if closure == 0:
        raise EvalError(f"{name} is a nil func: calling it would panic")
    pc = interp.r.target.u64(closure)
    fn = interp.r.binary.function_for_pc(pc)
    if fn is None or fn.entry != pc:
        raise EvalError(f"{name} does not point at a known function ({pc:#x})")
    return Callee(fn, name, closure=closure)


def method(interp: Interpreter, v: Value, name: str, depth: int
           ) -> tuple[Function, Value] | None:
    """Method `name` of v's type (automatic & and *), through an interface's dynamic
    value, or promoted from an embedded field: the function and the receiver to pass."""
    r = interp.r
    t = v.type
    if t.kind == "interface":
        dyn = r.dynamic(v)
        if dyn is None:
            raise EvalError(f"calling method {name} on a nil interface ({t.name})")
        if dyn[1] is None:
            raise EvalError(f"no debug information for the dynamic type {dyn[0]}")
        return method(interp, dyn[1], name, depth)
    if t.kind == "ptr":
        if t.elem is None:
            return None
        et = r.type_of(t.elem)
        split = _split_type(et.name)
        if split is not None:
            pkg, tname = split
            fn = r.binary.function(f"{pkg}.(*{tname}).{name}")
            if fn is not None:
                return fn, v
            fn = r.binary.function(f"{pkg}.{tname}.{name}")
            if fn is not None:
                if v.word() == 0:
                    raise EvalError(f"calling method {name} on a nil {t.name}")
                return fn, r.deref(v)
        if v.word() == 0 or et.kind != "struct":
            return None
        return _promoted(interp, r.deref(v), name, depth)
    split = _split_type(t.name)
    if split is not None:
        pkg, tname = split
        fn = r.binary.function(f"{pkg}.{tname}.{name}")
        if fn is not None:
            return fn, v
        fn = r.binary.function(f"{pkg}.(*{tname}).{name}")
        if fn is not None:
            if not v.addr:
                raise EvalError(f"cannot call pointer method {name} on {t.name}: the value "
                                "is not addressable")
            return fn, Value(r.pointer_to(t), 0, v.addr.to_bytes(8, "little"))
    if t.kind == "struct":
        return _promoted(interp, v, name, depth)
    return None


def _promoted(interp: Interpreter, v: Value, name: str, depth: int
              ) -> tuple[Function, Value] | None:
    if depth >= MAX_EMBED_DEPTH:
        return None
    for m in v.type.fields:
        if m.embedded:
            found = method(interp, interp.r.field_value(v, m.name), name, depth + 1)
            if found is not None:
                return found
    return None
