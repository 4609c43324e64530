"""Calls from expressions into the stopped program: arguments in, results out.

`CallRunner` is the interpreter's `CallHost` for one evaluation on one goroutine. For a
resolved callee it reads the function's parameters from DWARF, converts each argument to
its formal type as Go assignment would (untyped constants, strings it allocates in the
program with runtime.mallocgc, concrete values into interfaces: the runtime type from
DWARF, the itab from runtime.getitab, the value copied to the heap as Go does), lays them
out by the register ABI and runs the call (dapgo.engine.fncall). One result is a value,
several are a tuple value (`is_tuple`), none is `NO_VALUE`; a panic becomes an error
with the panic's message and stack.
"""

from __future__ import annotations

import os
import struct

from dapgo.engine.abi import AbiError, assign
from dapgo.engine.dwarf.model import GoType, Param, StructMember
from dapgo.engine.eval import Callee, Const, EvalError, Result
from dapgo.engine.eval.calls import NO_VALUE
from dapgo.engine.eval.interp import Interpreter
from dapgo.engine.fncall import CallError, CallPlan, Injector, Outcome
from dapgo.engine.panics import panic_value_text
from dapgo.engine.program import Program
from dapgo.engine.values import Value

_UNTYPED = {"int": "int", "rune": "int32", "float": "float64", "complex": "complex128",
            "bool": "bool", "string": "string"}


class CallPanicked(CallError):
    """The called function panicked (the program is back where it stopped)."""


class CallRunner:
    def __init__(self, program: Program, injector: Injector, tid: int, goroutine: int,
                 timeout: float) -> None:
        self.program = program
        self.injector = injector
        self.tid = tid
        self.goroutine = goroutine
        self.timeout = timeout
        self.made = 0  # calls run (the program's state may have changed)
        self.notes: list[str] = []  # for the console: what the user should know
        self._checked = False

    # ----- the interpreter's CallHost -----

    def invoke(self, interp: Interpreter, callee: Callee, args: list[Result]) -> Result:
        params = self.program.binary.function_params(callee.fn)
        if params is None:
            raise EvalError(f"no debug information for the signature of {callee.fn.name}: "
                            "it cannot be called (an optimized build may describe inlined "
                            "functions only partly: build with -gcflags='all=-N -l')")
        if "[" in callee.fn.name:
            raise EvalError(f"calling generic functions is not supported ({callee.fn.name})")
        formals = [p for p in params if not p.is_result]
        results = [p for p in params if p.is_result]
        actuals: list[Result] = list(args)
        if callee.receiver is not None:
            actuals.insert(0, callee.receiver)
            if len(formals) == len(args):  # an unused receiver has no DWARF entry
                formals.insert(0, Param("", callee.receiver.type.offset, False))
        if len(actuals) != len(formals):
            few = "not enough" if len(actuals) < len(formals) else "too many"
            last = self.program.values.type_of(formals[-1].type) if formals else None
            hint = (" (a variadic function takes its last arguments as one slice here)"
                    if last is not None and last.kind == "slice" else "")
            raise EvalError(f"{few} arguments in call to {callee.name}: want "
                            f"{len(formals) - (callee.receiver is not None)}, have "
                            f"{len(args)}{hint}")
        r = self.program.values
        ftypes = [r.type_of(p.type) for p in formals]
        data = [self._argument(interp, a, t, p.name, callee)
                for a, t, p in zip(actuals, ftypes, formals, strict=True)]
        rtypes = [r.type_of(p.type) for p in results]
        out = self.run(callee, list(zip(ftypes, data, strict=True)),
                       [(p.name, t) for p, t in zip(results, rtypes, strict=True)])
        return self._result(out)

    # ----- running one call -----

    def run(self, callee: Callee, args: list[tuple[GoType, bytes]],
            results: list[tuple[str, GoType]]) -> Outcome:
        if not self._checked:
            self.injector.entry()
            self.injector.check_goroutine(self.tid, self.goroutine)
            self._checked = True
        try:
            layout = assign([t for t, _ in args], [t for _, t in results],
                            self.program.values.type_of)
        except AbiError as exc:
            raise EvalError(str(exc)) from exc
        plan = CallPlan(callee.fn, callee.closure, tuple(args), tuple(results), layout)
        try:
            out = self.injector.call(self.tid, self.goroutine, plan, self.timeout)
        finally:
            # the program ran: pages read for this stop (dapgo.engine.stopmemory) are stale
            self.program.memory.forget()
        self.made += 1
        if out.everyone:
            self.notes.append(f"the call of {callee.fn.name} waited for other goroutines "
                              "(a lock, a channel, the garbage collector...), so every "
                              "goroutine ran while it did\n")
        if out.panic is not None:
            raise CallPanicked(panic_message(self.program, callee.fn.name, out))
        return out

    def _runtime_call(self, name: str, args: list[int]) -> int:
        """Call a runtime function taking and returning machine words (mallocgc,
        getitab); its first result."""
        fn = self.program.binary.function(name)
        params = self.program.binary.function_params(fn) if fn is not None else None
        if fn is None or params is None:
            raise EvalError(f"{name} is not in the program: this value cannot be made here")
        r = self.program.values
        formals = [r.type_of(p.type) for p in params if not p.is_result]
        results = [(p.name, r.type_of(p.type)) for p in params if p.is_result]
        if len(formals) != len(args) or not results:
            raise EvalError(f"{name} has an unexpected signature in this Go version")
        data = [(t, (v & ((1 << (8 * t.size)) - 1)).to_bytes(t.size, "little"))
                for t, v in zip(formals, args, strict=True)]
        out = self.run(Callee(fn, name), data, results)
        return out.results[0][1].word() if out.results[0][1].type.size >= 8 else \
            int.from_bytes(out.results[0][1].data, "little")

    def _alloc(self, data: bytes, rtype: int = 0) -> int:
        """A new heap object holding `data` (typed by runtime type `rtype`, so the
        collector sees its pointers; 0: no pointers)."""
        if not data:
            return 0
        addr = self._runtime_call("runtime.mallocgc", [len(data), rtype, 1])
        if addr == 0:
            raise EvalError("runtime.mallocgc returned nil")
        self.program.target.write(addr, data)
        return addr

    # ----- arguments -----

    def _argument(self, interp: Interpreter, a: Result, t: GoType, name: str,
                  callee: Callee) -> bytes:
        """Argument `a` as the bytes of a value of formal type `t`."""
        what = f"argument {name or '?'} of {callee.name}"
        if isinstance(a, Const) and t.kind == "interface" and a.kind != "nil":
            return self._to_interface(self._typed_const(interp, a), t, what)
        if isinstance(a, Const):
            if t.kind == "string" and a.kind == "string":
                return self._go_string(str(a.value))
            else:
                try:
                    v = interp.convert(a, t)
                except EvalError as exc:
                    raise EvalError(f"cannot use {a.text()} as {what}: {exc}") from None
                if isinstance(v, Const):
                    return self._go_string(str(v.value))
                return v.data.ljust(t.size, b"\0")[:t.size]
        if t.kind == "interface":
            return self._to_interface(a, t, what)
        if not _assignable(a.type, t):
            raise EvalError(f"cannot use a value of type {a.type.name} as {what} "
                            f"(type {t.name})")
        return a.data.ljust(t.size, b"\0")[:t.size]

    def _go_string(self, text: str) -> bytes:
        """A string header (data, len) of `text`, its bytes allocated in the program."""
        raw = text.encode()
        return struct.pack("<Qq", self._alloc(raw), len(raw))

    def _typed_const(self, interp: Interpreter, c: Const) -> Value:
        """An untyped constant in its default type (what `any(1)` holds)."""
        tname = c.type.name if c.type is not None else _UNTYPED.get(c.kind)
        if tname is None:
            raise EvalError(f"cannot use {c.text()} here")
        t = self.program.values.basic(tname)
        if t.kind == "string":
            return Value(t, 0, self._go_string(str(c.value)))
        v = interp.convert(c, t)
        if isinstance(v, Const):
            raise EvalError(f"cannot use {c.text()} here")
        return v

    def _to_interface(self, v: Value, t: GoType, what: str) -> bytes:
        r = self.program.values
        empty = bool(t.fields) and t.fields[0].name == "_type"
        if v.type.kind == "interface":
            if v.type.name == t.name:
                return v.data[:16]
            rtype, data = r.rtype_of(v), v.word(8)
            if rtype == 0:
                return bytes(16)
            if empty:
                return struct.pack("<QQ", rtype, data)
            return struct.pack("<QQ", self._itab(t, rtype, what), data)
        rtype = self._rtype(v.type)
        if r.is_direct(v.type):
            word = int.from_bytes(v.data[:8].ljust(8, b"\0"), "little")
        else:
            word = self._alloc(v.data, rtype)
        first = rtype if empty else self._itab(t, rtype, what)
        return struct.pack("<QQ", first, word)

    def _rtype(self, t: GoType) -> int:
        binary = self.program.binary
        off = binary.runtime_type_offset(t.offset) if t.offset else None
        if off is None and t.name:  # a second DIE of the type may carry it
            ref = binary.find_type(t.name)
            off = binary.runtime_type_offset(ref) if ref is not None else None
        if off is None:
            raise EvalError(f"the runtime type of {t.name} is not known: it cannot be put "
                            "in an interface here")
        return self.program.values.rtypes.module_types() + off

    def _itab(self, iface: GoType, rtype: int, what: str) -> int:
        tab = self._runtime_call("runtime.getitab", [self._rtype(iface), rtype, 1])
        if tab == 0:
            name = self.program.values.rtypes.name_of(rtype)
            raise EvalError(f"cannot use {name} as {what}: it does not implement {iface.name}")
        return tab

    # ----- results -----

    def _result(self, out: Outcome) -> Result:
        if not out.results:
            return Value(NO_VALUE, 0, b"")
        if len(out.results) == 1:
            return out.results[0][1]
        fields, data = [], b""
        for name, v in out.results:
            fields.append(StructMember(name, len(data), v.type.offset, False))
            data += v.data
        names = ", ".join(v.type.name for _, v in out.results)
        return Value(GoType(name=f"({names})", kind="struct", size=len(data), fields=fields),
                     0, data)


def _assignable(a: GoType, t: GoType) -> bool:
    if a.name == t.name:
        return True
    named = ("." in a.name.lstrip("*[]")) and ("." in t.name.lstrip("*[]"))
    return not named and a.kind == t.kind and a.size == t.size


def panic_message(program: Program, fn: str, out: Outcome) -> str:
    assert out.panic is not None
    type_name, text = panic_value_text(program.values, out.panic)
    stack = "\n".join(out.panic_stack)
    value = text if type_name in ("string", "error") else f"{text} ({type_name})"
    return f"panic in {fn}: {value}" + (f"\n{stack}" if stack else "")


CALL_PREFIX = "call "
DEFAULT_TIMEOUT = 5.0
# DAP contexts where a plain expression may call functions (Delve's rules: the console and
# watches; never a hover, nor a copy of a value)
CALLING_CONTEXTS = ("repl", "watch")


def call_policy(expression: str, context: str) -> tuple[str, bool, str]:
    """(expression to evaluate, whether it may call functions, the error when it calls
    but may not) for an evaluate request: Delve's console form `call f(x)` always may;
    a plain expression may in the console and in watches."""
    text = expression.strip()
    if text.startswith(CALL_PREFIX) and len(text) > len(CALL_PREFIX):
        return text[len(CALL_PREFIX):].strip(), True, ""
    if context in CALLING_CONTEXTS:
        return expression, True, ""
    where = {"hover": "on hover", "clipboard": "when copying a value",
             "variables": "when copying a value"}.get(context, f"in the {context} context")
    return expression, False, (f"function calls are not run {where}: evaluate it in the "
                               "Debug Console or a watch")


def call_timeout() -> float:
    """Seconds a call may run before the user is told (DAPGO_CALL_TIMEOUT)."""
    try:
        value = float(os.environ.get("DAPGO_CALL_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def finished_call_text(program: Program, plan: CallPlan, out: Outcome) -> str:
    """Console text for a call that finished in the background."""
    if out.panic is not None:
        return panic_message(program, plan.fn.name, out) + "\n"
    values = ", ".join(f"{name} = {program.values.format(v)}" for name, v in out.results)
    return f"call of {plan.fn.name} returned" + (f": {values}" if values else "") + "\n"
