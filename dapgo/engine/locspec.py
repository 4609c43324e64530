"""Delve's location specs, for function breakpoints: where `name` puts a breakpoint.

    f            a function by its name or a unique last part of it (`handle`, `Add`)
    pkg.f        in a package (the package's name or a suffix of its path: `http.Get`)
    T.M, (*T).M  a method (with or without the package: `main.(*Box).Add`)
    file.go:20   a line of a file (a unique suffix of its path)
    f:3          the third line after the line that declares function f
    *0x4a3b20    an address

A function stops after its prologue, as a function breakpoint does, and at the start of each
of its inlined copies (optimized builds); a C function of a cgo program at its entry. A name
that matches several functions is an error that lists them (as Delve answers "ambiguous").
"""

from __future__ import annotations

import re

import attrs

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.model import Function

MAX_CANDIDATES = 10


@attrs.frozen
class Location:
    """Where a spec resolved: addresses (empty when it did not), a source line, why not."""

    addresses: list[int]
    path: str | None = None
    line: int | None = None
    message: str | None = None


@attrs.frozen
class FuncName:
    """A Go function symbol taken apart: `example.com/p.(*T).M` -> (example.com/p, T, M)."""

    package: str
    receiver: str
    base: str


def split_name(name: str) -> FuncName:
    slash = name.rfind("/", 0, name.find("(") if "(" in name else len(name))
    dot = name.find(".", slash + 1)
    if dot < 0:
        return FuncName("", "", name)
    package, rest = name[:dot], name[dot + 1:]
    if rest.startswith("(*"):
        close = rest.find(").")
        if close > 0:
            return FuncName(package, _plain(rest[2:close]), rest[close + 2:])
    head, sep, tail = rest.partition(".")
    if sep:
        return FuncName(package, _plain(head), tail)
    return FuncName(package, "", rest)


def _plain(receiver: str) -> str:
    """A receiver type without its type arguments: `Box[...]` -> `Box`."""
    return receiver.split("[", 1)[0]


def _spec_names(spec: str) -> list[FuncName]:
    """The ways a function spec can be read (an empty field matches anything)."""
    if spec.startswith("(*") or ".(*" in spec:
        pkg, _, rest = spec.rpartition("(*")
        recv, _, base = rest.partition(").")
        return [FuncName(pkg.rstrip("."), _plain(recv), base)]
    parts = spec.rsplit(".", 2) if "/" not in spec else _split_path_spec(spec)
    if len(parts) == 1:
        return [FuncName("", "", parts[0])]
    if len(parts) == 2:  # pkg.f or T.M
        return [FuncName(parts[0], "", parts[1]), FuncName("", _plain(parts[0]), parts[1])]
    return [FuncName(parts[0], _plain(parts[1]), parts[2])]


def _split_path_spec(spec: str) -> list[str]:
    slash = spec.rfind("/")
    pkg_end = spec.find(".", slash + 1)
    if pkg_end < 0:
        return [spec]
    return [spec[:pkg_end], *spec[pkg_end + 1:].split(".", 1)]


def _matches(fn: FuncName, want: FuncName) -> bool:
    if fn.base != want.base and fn.base.split("[", 1)[0] != want.base:
        return False
    if want.receiver and fn.receiver != want.receiver:
        return False
    if not want.receiver and want.package and fn.receiver and "." not in want.base:
        return False  # pkg.f names a function, not a method
    if want.package and fn.package != want.package \
            and not fn.package.endswith("/" + want.package):
        return False
    return True


def functions_for(binary: BinaryInfo, spec: str) -> list[Function]:
    """Every function `spec` names (exactly one unless it is ambiguous or unknown)."""
    exact = binary.function(spec)
    if exact is not None:
        return [exact]
    wants = _spec_names(spec)
    base = re.escape(wants[0].base)
    found = []
    for fn in binary.functions_matching(rf"[.)]{base}(\[.*\])?$"):
        parts = split_name(fn.name)
        if any(_matches(parts, w) for w in wants):
            found.append(fn)
    return found


def resolve(binary: BinaryInfo, spec: str) -> Location:
    spec = spec.strip()
    if not spec:
        return Location([], message="empty location")
    if spec.startswith("*"):
        return _address(binary, spec[1:])
    name, colon, tail = spec.rpartition(":")
    if colon and tail.strip().lstrip("+-").isdigit() and name:
        number = int(tail)
        if name.endswith(".go") or "/" in name:
            found = binary.addresses_for_line(name, number)
            like = binary.files_named_like(name) if not found.file and "/" not in name \
                else []
            if len(like) == 1:  # typed by hand: a base name the binary has once (Delve)
                found = binary.addresses_for_line(like[0], number)
            return Location(found.addresses, found.file, number, found.message)
        return _offset_line(binary, name, number)
    fns = functions_for(binary, spec)
    if len(fns) > 1:
        return Location([], message=_ambiguous(spec, fns))
    # after the prologue, and at each inlined copy (optimized builds); a function only
    # inlined, or a C function of a cgo program, by its exact name
    pcs = binary.function_breakpoint_addresses(fns[0].name if fns else spec)
    if not pcs:
        return Location([], message=f"function not found: {spec}")
    loc = binary.any_line_for_pc(pcs[0])
    return Location(pcs, loc[0] if loc else None, loc[1] if loc else None)


def _ambiguous(spec: str, fns: list[Function]) -> str:
    names = [f.name for f in fns[:MAX_CANDIDATES]]
    more = f" and {len(fns) - MAX_CANDIDATES} more" if len(fns) > MAX_CANDIDATES else ""
    return f"location {spec!r} is ambiguous: {', '.join(names)}{more}"


def _offset_line(binary: BinaryInfo, name: str, offset: int) -> Location:
    """`f:N`: line N after the line of f's declaration, inside f."""
    fns = functions_for(binary, name)
    if not fns:
        return Location([], message=f"function not found: {name}")
    if len(fns) > 1:
        return Location([], message=_ambiguous(name, fns))
    fn = fns[0]
    decl = binary.line_for_pc(fn.entry)
    if decl is None:
        return Location([], message=f"no line information for {fn.name}")
    path, line = decl[0], decl[1] + offset
    found = binary.addresses_for_line(path, line)
    inside = [a for a in found.addresses if fn.entry <= a < fn.end]
    if not inside:
        return Location([], path, line, f"no code of {fn.name} at {path}:{line}")
    return Location(inside, path, line)


def _address(binary: BinaryInfo, text: str) -> Location:
    try:
        addr = int(text, 0)
    except ValueError:
        return Location([], message=f"not an address: {text!r}")
    if binary.any_function_for_pc(addr) is None:
        return Location([], message=f"{addr:#x} is not in the program's code")
    loc = binary.any_line_for_pc(addr)
    return Location([addr], loc[0] if loc else None, loc[1] if loc else None)
