"""BinaryInfo on cgo, optimized and plugin builds (Go 1.21 and 1.27), cross-checked with
readelf and the fixtures' markers: C functions and lines, CFA rules, inlined calls, the
images of plugins."""

from __future__ import annotations

import subprocess

import fixtures
import pytest

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.cfi import RSP, CfaRule
from dapgo.engine.dwarf.images import TAG_SHIFT

GO_VERSIONS = [None, "1.21.13"]


def go_id(v: str | None) -> str:
    return v or "1.27.3"


def nm(path: str) -> dict[str, int]:
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    return {p[2]: int(p[0], 16) for p in (line.split() for line in out.splitlines())
            if len(p) == 3}


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_cgo_c_functions_lines_and_cfa(go: str | None) -> None:
    path = str(fixtures.build("cgocall", go=go))
    b = BinaryInfo.open(path)
    syms = nm(path)
    assert b.has_cgo
    # names the external linker stored as another string's tail are found too
    assert b.symbol("goAdd") is not None and b.symbol("goAdd").addr == syms["goAdd"]
    helper = b.any_function_for_pc(syms["c_helper"] + 1)
    assert helper is not None and helper.name == "c_helper" and not helper.go
    assert b.function_for_pc(syms["c_helper"]) is None  # not Go: not in .gopclntab
    # at a C function's entry the CFA is RSP + 8 and the return address is just below it
    assert b.cfa_rule(syms["c_entry"]) == CfaRule(RSP, 8, -8, None)
    file, line = fixtures.line_of("cgocall", "c_helper")
    assert b.any_line_for_pc(syms["c_helper"]) == (file, line)
    assert b.addresses_for_line(file, line).addresses == [syms["c_helper"]]
    assert b.function_breakpoint_addresses("c_entry") == [syms["c_entry"]]
    assert b.g_tls_offset == -8  # runtime.tlsg is the only TLS variable


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_optimized_inlined_calls(go: str | None) -> None:
    b = BinaryInfo.open(str(fixtures.build("optimized", go=go, optimized=True)))
    compute = b.function("main.compute")
    assert compute is not None and b.optimized(compute)
    # square only exists inlined: once in compute, twice in main
    assert b.function("main.square") is None
    copies = b.function_breakpoint_addresses("main.square")
    assert [b.function_for_pc(a).name for a in copies] == ["main.compute", "main.main",
                                                           "main.main"]
    file, line = fixtures.line_of("optimized", "inl_square")
    assert b.addresses_for_line(file, line).addresses == copies
    chain = b.inline_chain(compute, copies[0])
    assert [(c.name, c.call_line) for c in chain] == [
        ("main.square", fixtures.line_of("optimized", "call_square")[1])]
    assert [v.name for v in b.frame_variables(compute, copies[0], chain[0].die_offset)] \
        == ["x", "y"]
    debug = BinaryInfo.open(str(fixtures.build("optimized", go=go)))
    main = debug.function("main.main")
    assert main is not None and not debug.optimized(main)
    assert debug.inline_chain(main, main.entry) == []


@pytest.mark.parametrize("go", GO_VERSIONS, ids=go_id)
def test_plugin_image_at_a_bias(go: str | None) -> None:
    host = BinaryInfo.open(str(fixtures.build("plugins", go=go)))
    plugin_path = str(fixtures.build("plugins", go=go, flags=("-buildmode=plugin",),
                                     package="./plug"))
    plugin = BinaryInfo.open(plugin_path)  # Go 1.21: .gopclntab inside .data.rel.ro
    scale = plugin.function("example.com/plugins/plug.Scale")
    assert scale is not None
    file, line = fixtures.line_of("plugins", "plug_scale")
    assert host.addresses_for_line(file, line).addresses == []
    bias = 0x7F0000000000
    host.add_image(plugin, bias)
    assert host.function_for_pc(scale.entry + bias + 1).name == scale.name
    assert host.line_for_pc(scale.entry + bias) == plugin.line_for_pc(scale.entry)
    assert host.addresses_for_line(file, line).addresses == [
        a + bias for a in plugin.addresses_for_line(file, line).addresses]
    assert host.function_breakpoint_addresses(scale.name) == [
        plugin.first_pc_after_prologue(scale) + bias]
    pc = plugin.addresses_for_line(file, line).addresses[0]
    n = next(v for v in host.frame_variables(host.function_for_pc(pc + bias), pc + bias)
             if v.name == "n")
    assert n.type >> TAG_SHIFT == 1  # the plugin's DWARF, not the host's
    assert host.type_info(n.type).name == "int"
