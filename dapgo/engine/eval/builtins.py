"""The built-ins `real`, `imag` and `complex` in evaluated expressions, with Go's typing:
real/imag of complex64 are float32, of complex128 float64; complex(float32, float32) is
complex64; on constants they give untyped constants."""

from __future__ import annotations

from dapgo.engine.eval.interp import Const, Result, make
from dapgo.engine.eval.syntax import EvalError
from dapgo.engine.values import ValueReader, scalar


def complex_builtin(reader: ValueReader, name: str, args: list[Result]) -> Result:
    """`name`(args...) for `name` one of real, imag, complex."""
    if name == "complex":
        if len(args) != 2:
            raise EvalError("complex expects exactly two arguments")
        return _complex(reader, args[0], args[1])
    if len(args) != 1:
        raise EvalError(f"{name} expects exactly one argument")
    x = args[0]
    if isinstance(x, Const):
        if x.kind not in ("int", "rune", "float", "complex") or isinstance(x.value, str | bool):
            raise EvalError(f"invalid argument {x.text()} for {name}")
        z = complex(x.value or 0)
        return Const(z.real if name == "real" else z.imag, "float")
    if x.type.kind != "complex":
        raise EvalError(f"invalid argument (type {x.type.name}) for {name}")
    z = scalar(x)
    assert isinstance(z, complex)
    ft = reader.basic("float32" if x.type.size == 8 else "float64")
    return make(ft, z.real if name == "real" else z.imag)


def _complex(reader: ValueReader, re_: Result, im: Result) -> Result:
    if isinstance(re_, Const) and isinstance(im, Const):
        return Const(complex(_float(re_), _float(im)), "complex")
    typed = re_ if not isinstance(re_, Const) else im
    assert not isinstance(typed, Const)
    for x in (re_, im):
        if not isinstance(x, Const) and (x.type.kind != "float" or x.type.name != typed.type.name):
            raise EvalError(f"invalid operation: complex of mismatched types "
                            f"({_tname(re_)} and {_tname(im)})")
    ct = reader.basic("complex64" if typed.type.size == 4 else "complex128")
    return make(ct, complex(_float(re_), _float(im)))


def _float(x: Result) -> float:
    if isinstance(x, Const):
        if x.kind not in ("int", "rune", "float") or isinstance(x.value, str | bool | complex):
            raise EvalError(f"invalid argument {x.text()} for complex")
        return float(x.value or 0)
    v = scalar(x)
    if not isinstance(v, float):
        raise EvalError(f"invalid argument (type {x.type.name}) for complex")
    return v


def _tname(x: Result) -> str:
    return x.type_name if isinstance(x, Const) else x.type.name
