"""Name resolution for the evaluator: a stopped frame's variables, then globals."""

from __future__ import annotations

from dapgo.engine.dwarf.model import AddrLoc
from dapgo.engine.eval.syntax import EvalError
from dapgo.engine.values import ConstantValue, Value, ValueReader


class FrameScope:
    """Variables of one frame (name -> value, or why it cannot be read) plus globals.

    Variables that escaped to the heap appear in DWARF as `&name`; `name` finds them
    through the pointer. When a name is declared twice (shadowing), the innermost wins."""

    def __init__(self, reader: ValueReader, variables: list[tuple[str, Value | str]],
                 function: str | None) -> None:
        self.reader = reader
        self.vars: dict[str, Value | str] = {}
        for name, v in variables:
            self.vars[name] = v
        self.function = function
        self._globals: dict[str, Value | None] = {}

    def local(self, name: str) -> Value | None:
        v = self.vars.get(name)
        if v is None:
            p = self.vars.get("&" + name)
            if isinstance(p, Value):
                if p.word() == 0:
                    raise EvalError(f"{name} is not available (nil address)")
                return self.reader.deref(p)
            v = p
        if isinstance(v, str):
            raise EvalError(f"{name} is not available: {v}")
        return v

    def global_var(self, name: str) -> Value | None:
        if name in self._globals:
            return self._globals[name]
        got: Value | None = None
        info = self.reader.binary.global_variable(name)
        if info is not None and isinstance(info.location, AddrLoc):
            got = self.reader.value_at(info.type, info.location.addr)
        else:
            got = self._constant(name)
        self._globals[name] = got
        return got

    def _constant(self, name: str) -> Value | None:
        """A Go constant DWARF describes (DW_TAG_constant), as a value of its type."""
        found = self.reader.binary.constant(name)
        if found is None:
            return None
        tref, n = found
        t = self.reader.type_of(tref)
        if t.kind not in ("int", "uint", "uintptr", "bool") or not 0 < t.size <= 8:
            return None
        data = (n & ((1 << (8 * t.size)) - 1)).to_bytes(t.size, "little")
        return ConstantValue(t, 0, data)

    def is_global(self, name: str) -> bool:
        """A package-qualified variable, or function (`net/url.QueryEscape`)."""
        try:
            return self.global_var(name) is not None or \
                self.reader.binary.function(name) is not None
        except OSError:
            return False

    def package(self) -> str | None:
        """The package path of the frame's function ("main", "example.com/x/pkg")."""
        fn = self.function
        if not fn:
            return None
        slash = fn.rfind("/")
        dot = fn.find(".", slash + 1)
        return fn[:dot] if dot > 0 else None
