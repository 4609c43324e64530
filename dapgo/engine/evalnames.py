"""Go expressions for the values the Variables view lists (DAP `evaluateName`).

What VS Code's "Add to Watch" and "Copy as Expression" put in the editor, and what
`evaluate` turns back into the same value: a local is its name, a package variable its full
name; a field is `x.f` (also through a pointer, as Go selects), an element `x[3]`, a map
entry `m["k"]` (keys of predeclared types only: other keys have no literal), a pointer's
target `*p`, an interface's dynamic value `w.(*http.response)` and its fields beyond it,
a complex number's parts `real(z)` and `imag(z)`. None where Go has no expression: a
shadowed variable, a channel's buffered element, a blank field.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dapgo.engine.eval.interp import short_packages
from dapgo.engine.values import Value, ValueReader

ChildNamer = Callable[[str], "str | None"]

_IDENT = re.compile(r"[^\W\d]\w*")
# a primary expression as the ones composed here: a (qualified) name, then selectors,
# indexes and type assertions; anything else is parenthesised before a selector or index
_PRIMARY = re.compile(r"[\w./]+(?:\[[^\]]*\]|\.\w+|\.\([^()]*\))*")
_LITERAL_KEYS = frozenset({"string", "int", "uint", "bool", "float"})
# a type an assertion can name: a named or predeclared one, maybe under pointers, slices,
# arrays and maps of such (not a generic instance, a func or a struct literal type)
_ASSERTABLE = re.compile(r"(?:\*|\[\d*\]|map\[[\w.*]+\])*\w+(?:\.\w+)?")


def _none(_name: str) -> str | None:
    return None


def operand(expr: str) -> str:
    """`expr` as the operand of a selector, an index or a `*`."""
    return expr if _PRIMARY.fullmatch(expr) else f"({expr})"


def variable(name: str) -> str | None:
    """A variable's own expression: its name, when Go can write it (not `~r0`, the
    compiler's name for an unnamed result, nor `_`)."""
    return name if name != "_" and _IDENT.fullmatch(name) else None


def _selector(base: str, name: str) -> str | None:
    return f"{base}.{name}" if variable(name) else None


def child_namer(reader: ValueReader, v: Value, expr: str) -> ChildNamer:
    """For the children of `v` (itself `expr`) as ValueReader.children names them: each
    child's expression, or None."""
    t = v.type
    base = operand(expr)
    if t.kind == "interface":
        dyn = reader.dynamic(v)
        if dyn is None or dyn[1] is None:
            return _none
        inner = dyn[1]
        # as Go source writes the type: `*http.response` for *net/http.response
        written = short_packages(inner.type.name)
        if not _ASSERTABLE.fullmatch(written):  # no expression for a generic or func type
            return _none
        asserted = f"{base}.({written})"
        named, indexed = reader.child_counts(inner)
        if not (named or indexed):  # one child, "data": the dynamic value itself
            return lambda name: asserted if name == "data" else None
        return child_namer(reader, inner, asserted)
    if t.kind == "struct":
        return lambda name: _selector(base, name)
    if t.kind == "ptr":  # the struct's fields, or one child "*T" for any other target
        return lambda name: f"*{base}" if name.startswith("*") else _selector(base, name)
    if t.kind in ("slice", "array"):
        return lambda name: base + name if name.startswith("[") else None
    if t.kind == "map" and t.key is not None:
        key = reader.type_of(t.key)
        if key.kind in _LITERAL_KEYS and "." not in key.name:
            return lambda name: base + name if name.startswith("[") else None
        return _none
    if t.kind == "complex":
        parts = {"real": f"real({expr})", "imaginary": f"imag({expr})"}
        return parts.get
    return _none
