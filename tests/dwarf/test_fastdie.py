"""fastdie.GoDIE against pyelftools' own decoding, DIE by DIE, on real Go binaries: every
attribute (name, form, value, raw value, offset), the tag, the size and whether it has
children must be the same. Go 1.21 and 1.24 write DWARF 4, Go 1.27 DWARF 5; a cgo binary
adds C units written by gcc (forms GoDIE leaves to pyelftools)."""

from __future__ import annotations

from pathlib import Path

import fixtures
import pytest
from elftools.dwarf.die import DIE

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.fastdie import GoDIE
from dapgo.engine.dwarf.locations import decode_expr, parse_expr
from dapgo.engine.dwarf.types import TYPE_TAGS

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
def test_lookups_by_name_find_only_real_dies(fixture: str, go: str | None,
                                             flags: tuple[str, ...]) -> None:
    """find_named locates names with bytes.find: one name can end another (`bool` ends
    `func(unsafe.Pointer, unsafe.Pointer) bool`), and decoded from the byte before it the
    longer one's tail once passed for a `bool` type whose DW_AT_type pointed anywhere
    (found on net/http's and encoding/json's test binaries: `x.(bool)` failed). Every DIE
    it yields for every type name of the binary must be one a walk of the units meets
    (net/http's, encoding/json's and cmd/go's 7,400-10,600 type names: none false)."""
    if go is not None and not Path(fixtures.go_binary(go)).exists():
        pytest.skip(f"Go {go} toolchain not installed under .cache/go")
    b = BinaryInfo.open(str(fixtures.build(fixture, go=go, flags=flags)))
    try:
        real: set[int] = set()
        names: set[str] = set()
        for cu in b.dwarf.units():
            for die in cu.iter_DIEs():
                real.add(die.offset)
                name = die.attributes.get("DW_AT_name")
                if die.tag in TYPE_TAGS and name is not None and name.form == "DW_FORM_string":
                    names.add(name.value.decode())
        assert len(names) > 1000
        for name in names:
            found = [d.offset for d in b.dwarf.find_named(name, TYPE_TAGS)]
            assert found, name
            assert set(found) <= real, (name, [hex(o) for o in set(found) - real])
    finally:
        b.close()
