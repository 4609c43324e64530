"""fastdie.GoDIE against pyelftools' own decoding, DIE by DIE, on real Go binaries: every
attribute (name, form, value, raw value, offset), the tag, the size and whether it has
children must be the same. Go 1.21 and 1.24 write DWARF 4, Go 1.27 DWARF 5; a cgo binary
adds C units written by gcc (forms GoDIE leaves to pyelftools)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fixtures
import pytest
from elftools.dwarf.die import DIE

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.fastdie import GoDIE
from dapgo.engine.dwarf.locations import decode_expr, parse_expr
from dapgo.engine.dwarf.types import TYPE_TAGS

AT_GO_RUNTIME_TYPE = 0x2904  # Go's DW_AT_go_runtime_type

CASES = [("gotypes", None, ()), ("gotypes", "1.21.13", ()), ("gotypes", "1.24.11", ()),
         ("cgocall", None, ()), ("basic", None, ("-buildmode=pie",))]


@pytest.mark.parametrize(("fixture", "go", "flags"), CASES,
                         ids=[f"{f}-{g or 'default'}{'-' + '-'.join(x) if x else ''}"
                              for f, g, x in CASES])
def test_every_die_decodes_as_pyelftools_does(fixture: str, go: str | None,
                                              flags: tuple[str, ...]) -> None:
    if go is not None and not Path(fixtures.go_binary(go)).exists():
        pytest.skip(f"Go {go} toolchain not installed under .cache/go")
    b = BinaryInfo.open(str(fixtures.build(fixture, go=go, flags=flags)))
    try:
        compared = fast_plans = 0
        for cu in b.dwarf.units():
            for die in cu.iter_DIEs():
                assert type(die) is GoDIE
                ref = DIE(cu, die.stream, die.offset)  # pyelftools' own decoding
                assert (die.tag, die.size, die.has_children, die.abbrev_code) == (
                    ref.tag, ref.size, ref.has_children, ref.abbrev_code), die.offset
                assert dict(die.attributes) == dict(ref.attributes), die.offset
                compared += 1
            fast_plans += sum(p is not None for p in cu.__dict__.get("_dapgo_plans", {}).values())
        assert compared > 10_000
        assert fast_plans > 20  # Go's abbreviations are decoded by GoDIE's plans
    finally:
        b.close()


@pytest.mark.parametrize(("fixture", "go", "flags"), [*CASES[:3], ("optimized", None, ())],
                         ids=["gotypes-default", "gotypes-1.21", "gotypes-1.24", "optimized"])
def test_one_operation_locations_read_as_the_parser_reads_them(
        fixture: str, go: str | None, flags: tuple[str, ...]) -> None:
    if go is not None and not Path(fixtures.go_binary(go)).exists():
        pytest.skip(f"Go {go} toolchain not installed under .cache/go")
    b = BinaryInfo.open(str(fixtures.build(fixture, go=go, flags=flags,
                                           optimized=fixture == "optimized")))
    try:
        kinds: set[str] = set()
        for cu in b.dwarf.units():
            for die in cu.iter_DIEs():
                loc = die.attributes.get("DW_AT_location")
                if loc is None or loc.form not in ("DW_FORM_exprloc", "DW_FORM_block1"):
                    continue
                got = decode_expr(loc.value, cu.structs)
                assert got == parse_expr(loc.value, cu.structs), (die.offset, loc.value)
                kinds.add(type(got).__name__)
        assert {"StackLoc", "AddrLoc"} <= kinds
    finally:
        b.close()


@pytest.mark.parametrize("go", [None, "1.21.13"], ids=["default", "1.21"])
def test_constants_read_from_bytes_are_every_constant_die(go: str | None) -> None:
    """DebugInfo.constants_of_type (bytes.find, no DIE made) against a walk of every DIE:
    the same constants, names and values for every type that has any (gofmt: go/token's
    90 Token constants among them; the semantics fixture: main's typed constants)."""
    if go is not None and not Path(fixtures.go_binary(go)).exists():
        pytest.skip(f"Go {go} toolchain not installed under .cache/go")
    for path in (fixtures.gofmt(go), fixtures.build("semantics", go=go)):
        b = BinaryInfo.open(str(path))
        try:
            walked: dict[int, list[tuple[str, int]]] = {}
            for cu in b.dwarf.units():
                for die in cu.iter_DIEs():
                    if die.tag != "DW_TAG_constant":
                        continue
                    t = die.attributes.get("DW_AT_type")
                    v = die.attributes.get("DW_AT_const_value")
                    if t is None or v is None or t.form != "DW_FORM_ref_addr":
                        continue
                    walked.setdefault(t.value, []).append(
                        (die.attributes["DW_AT_name"].value.decode(), v.value))
            assert sum(len(v) for v in walked.values()) > 50
            for ref, consts in walked.items():
                assert sorted(b.dwarf.constants_of_type(ref)) == sorted(consts), ref
            mode = b.find_type("go/printer.Mode")
            if mode is not None:  # gofmt: go/printer's own, and main's by their package
                named = dict(b.constants_of(mode))
                assert named["UseSpaces"] == 4 and "main.printerMode" in named
        finally:
            b.close()


@pytest.mark.parametrize(("fixture", "go", "flags"), CASES[:3],
                         ids=["gotypes-default", "gotypes-1.21", "gotypes-1.24"])
def test_lookups_by_bytes_find_only_real_dies(fixture: str, go: str | None,
                                              flags: tuple[str, ...]) -> None:
    """find_named, find_by_address_attr and constants_of_type locate DIEs with bytes.find.
    One name can end another (`bool` ends `func(unsafe.Pointer, unsafe.Pointer) bool`),
    names hold UTF-8 (`span·1`, a function's local type) and run past 512 bytes (an
    anonymous struct's fields and tags), a reference's bytes can look like a DIE with a
    one-character name: each once gave a DIE that is none (`x.(bool)` failed on
    encoding/json's test binary) or missed a real one (an interface holding a local type
    had no dynamic type). Every DIE they give for every name, runtime type and constant
    type of the binary must be one a walk of the units meets, the first the right one
    (checked the same way on net/http's and encoding/json's test binaries and cmd/go)."""
    if go is not None and not Path(fixtures.go_binary(go)).exists():
        pytest.skip(f"Go {go} toolchain not installed under .cache/go")
    b = BinaryInfo.open(str(fixtures.build(fixture, go=go, flags=flags)))
    d = b.dwarf
    try:
        real: set[int] = set()
        names: set[str] = set()
        runtime_types: dict[int, set[int]] = {}
        constants: dict[int, list[tuple[str, int]]] = {}
        for cu in d.units():
            for die in cu.iter_DIEs():
                real.add(die.offset)
                a: dict[Any, Any] = die.attributes  # vendor attributes are keyed by number
                if die.tag in TYPE_TAGS and "DW_AT_name" in a \
                        and a["DW_AT_name"].form == "DW_FORM_string":
                    names.add(a["DW_AT_name"].value.decode())
                    rt = a.get(AT_GO_RUNTIME_TYPE)
                    if rt is not None and rt.form == "DW_FORM_addr" and rt.value:
                        runtime_types.setdefault(rt.value, set()).add(die.offset)
                if die.tag == "DW_TAG_constant" and a["DW_AT_type"].form == "DW_FORM_ref_addr":
                    constants.setdefault(a["DW_AT_type"].value, []).append(
                        (a["DW_AT_name"].value.decode(), a["DW_AT_const_value"].value))
        assert len(names) > 1000 and len(runtime_types) > 300 and constants
        for name in names:
            found = [x.offset for x in d.find_named(name, TYPE_TAGS)]
            assert found, name
            assert set(found) <= real, (name, [hex(o) for o in set(found) - real])
        for value, offsets in runtime_types.items():
            found = [x.offset for x in d.find_by_address_attr(value, AT_GO_RUNTIME_TYPE,
                                                               TYPE_TAGS)]
            assert found and found[0] in offsets and set(found) <= real, hex(value)
        for ref, want in constants.items():
            assert sorted(d.constants_of_type(ref)) == sorted(want), hex(ref)
    finally:
        b.close()
