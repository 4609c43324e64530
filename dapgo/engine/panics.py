"""What a panic or a fatal error says, read the way the Go runtime would print it.

The runtime calls methods (Error, String) to print a panic value; a debugger cannot, so the
messages of the common error types are rebuilt from their fields (errors.errorString,
fmt.wrapError, runtime.plainError, runtime.errorString, runtime.boundsError); any other
value is shown as dapgo renders it.
"""

from __future__ import annotations

from dapgo.engine.limits import MAX_STRING_LEN
from dapgo.engine.values import Value, ValueReader

# runtime/error.go: boundsErrorFmt, indexed by boundsErrorCode
_BOUNDS_FORMATS = [
    "index out of range [%x] with length %y",
    "slice bounds out of range [:%x] with length %y",
    "slice bounds out of range [:%x] with capacity %y",
    "slice bounds out of range [%x:%y]",
    "slice bounds out of range [::%x] with length %y",
    "slice bounds out of range [::%x] with capacity %y",
    "slice bounds out of range [:%x:%y]",
    "slice bounds out of range [%x:%y:]",
    "cannot convert slice with length %x to array or pointer to array with length %y",
]


def panic_value_text(values: ValueReader, arg: Value) -> tuple[str, str]:
    """(dynamic type name, message) of a panic's `any` argument."""
    dyn = values.dynamic(arg)
    if dyn is None:
        return "nil", "panic called with a nil argument"
    type_name, v = dyn
    if v is None:
        return type_name, f"a {type_name} (its type has no DWARF description)"
    return type_name, error_text(values, v)


def error_text(values: ValueReader, v: Value, depth: int = 0) -> str:
    """The text Go's Error()/String() would give for common types, else the rendering."""
    t = v.type
    if t.kind == "string":
        text = values.string_bytes(v, MAX_STRING_LEN).decode("utf-8", errors="replace")
        return ("runtime error: " + text) if t.name == "runtime.errorString" else text
    if t.kind == "ptr" and v.word() and depth < 4:
        return error_text(values, values.deref(v), depth + 1)
    if t.kind == "struct":
        names = {m.name for m in t.fields}
        if t.name == "runtime.boundsError":
            return "runtime error: " + _bounds(values, v)
        for field in ("s", "msg"):  # errors.errorString, fmt.wrapError(s)
            if field in names:
                f = values.field_value(v, field)
                if f.type.kind == "string":
                    return values.string_bytes(f, MAX_STRING_LEN).decode("utf-8", errors="replace")
    return values.format(v)


def _bounds(values: ValueReader, v: Value) -> str:
    def num(name: str) -> int:
        f = values.field_value(v, name)
        return int.from_bytes(f.data[: f.type.size], "little", signed=f.type.kind == "int")

    code = num("code")
    x, y = num("x"), num("y")
    if not num("signed") and x < 0:
        x &= (1 << 64) - 1
    fmt = _BOUNDS_FORMATS[code] if 0 <= code < len(_BOUNDS_FORMATS) else "bounds error %x %y"
    return fmt.replace("%x", str(x)).replace("%y", str(y))
