"""setVariable: finding a value's child by its displayed name and writing a new value.

What can be assigned: numbers and bools (converted with Go's assignment rules), strings
no longer than the current one (their bytes are rewritten in place, then the length), nil
to pointers, slices, maps, channels, funcs and interfaces, and any value of the same type.
"""

from __future__ import annotations

import struct

from dapgo.engine.eval.interp import Const, Interpreter, Result
from dapgo.engine.eval.scope import FrameScope
from dapgo.engine.eval.syntax import EvalError
from dapgo.engine.values import Value, ValueReader

NILABLE = frozenset({"ptr", "slice", "map", "chan", "func", "interface", "unsafe.Pointer"})


def find_child(reader: ValueReader, parent: Value, name: str) -> Value:
    """The child of `parent` that `variables` lists as `name`."""
    t = parent.type
    if t.kind in ("slice", "array") and name.startswith("[") and name.endswith("]"):
        try:
            i = int(name[1:-1])
        except ValueError as exc:
            raise EvalError(f"no element {name} in {t.name}") from exc
        length = (t.length or 0) if t.kind == "array" else parent.word(8)
        if not 0 <= i < length:
            raise EvalError(f"index out of range {name} with length {length}")
        return reader.element(parent, i)
    total = None
    if t.kind == "map" and parent.word():
        total = reader.maps.count(t, parent.word())
    elif t.kind == "chan" and parent.word():
        total = reader.target.u64(parent.word())
    for n, v in reader.child_values(parent, 0, total):
        if n == name:
            return v
    raise EvalError(f"{t.name} has no child {name}")


def assign(reader: ValueReader, target: Value, new: Result) -> None:
    """Write `new` into `target` (which must be in memory)."""
    t = target.type
    if not target.addr:
        raise EvalError("cannot set a value that is not in memory (it lives in registers)")
    k = t.kind
    if k == "string":
        if isinstance(new, Const) and new.kind == "string" and isinstance(new.value, str):
            data = new.value.encode()
        elif isinstance(new, Value) and new.type.kind == "string":
            data = reader.string_bytes(new)
        else:
            raise EvalError(f"cannot assign {_describe(new)} to a string")
        ptr, length = struct.unpack_from("<Qq", target.data)
        if len(data) > length:
            raise EvalError(f"a string can only be set to one of the same or shorter length "
                            f"(at most {length} bytes here; setting {len(data)})")
        if data:
            reader.target.write(ptr, data)
        reader.target.write(target.addr + 8, struct.pack("<q", len(data)))
        return
    if isinstance(new, Const) and new.kind == "nil":
        if k not in NILABLE:
            raise EvalError(f"cannot assign nil to {t.name}")
        reader.target.write(target.addr, bytes(t.size))
        return
    if isinstance(new, Value) and new.type.name == t.name:
        reader.target.write(target.addr, new.data)
        return
    if k in ("bool", "int", "uint", "uintptr", "float", "complex"):
        conv = Interpreter(reader, FrameScope(reader, [], None)).convert(new, t)
        if not isinstance(conv, Value):
            raise EvalError(f"cannot assign {_describe(new)} to {t.name}")
        reader.target.write(target.addr, conv.data)
        return
    if k in NILABLE:
        raise EvalError(f"only nil (or a value of type {t.name}) can be assigned to {t.name}")
    raise EvalError(f"cannot assign {_describe(new)} to {t.name}")


def _describe(x: Result) -> str:
    return x.text() if isinstance(x, Const) else f"a value of type {x.type.name}"
