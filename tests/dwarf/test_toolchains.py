"""BinaryInfo on binaries from older Go toolchains: Go 1.21 and 1.24 write DWARF 4
(.debug_loc, .debug_ranges), Go 1.27 writes DWARF 5 (.debug_loclists, .debug_rnglists)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import fixtures
import pytest
from conftest import objdump

from dapgo.engine.dwarf import AddrLoc, BinaryInfo, RegLoc, StackLoc
from dapgo.engine.dwarf.dies import unit_of

TOOLCHAINS = [None, "1.21.13", "1.24.11"]  # None: the project's default (1.27)


def _have(go: str | None) -> bool:
    return go is None or Path(fixtures.go_binary(go)).exists()


@pytest.fixture(scope="module", params=TOOLCHAINS, ids=lambda v: v or "default")
def toolchain(request: pytest.FixtureRequest) -> str | None:
    go: str | None = request.param
    if not _have(go):
        pytest.skip(f"Go {go} toolchain not installed under .cache/go")
    return go


@pytest.fixture
def built(toolchain: str | None) -> Iterator[tuple[BinaryInfo, Path]]:
    path = fixtures.build("basic", go=toolchain)
    b = BinaryInfo.open(str(path))
    yield b, path
    b.close()


def _dwarf_version(b: BinaryInfo) -> int:
    cu = next(b.dwarf.units())
    return int(cu["version"])


def test_identity_and_dwarf_version(built: tuple[BinaryInfo, Path],
                                   toolchain: str | None) -> None:
    b, _ = built
    want = subprocess.run([fixtures.go_binary(toolchain), "env", "GOVERSION"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert b.go_version == want
    assert _dwarf_version(b) == (5 if toolchain is None else 4)


def test_lines_and_prologue(built: tuple[BinaryInfo, Path]) -> None:
    b, path = built
    src, line = fixtures.line_of("basic", "add_body")
    add = b.function("main.add")
    assert add is not None
    rows = objdump(path, "main.add")
    assert b.addresses_for_line(src, line).addresses == [
        next(r[2] for r in rows if r[1] == line)]
    pc = b.first_pc_after_prologue(add)
    i = next(i for i, r in enumerate(rows) if r[2] == pc)
    assert rows[i - 1][3] == "MOVQ SP, BP"
    # The declaration line resolves to the same place as a function breakpoint.
    describe = b.function("main.describe")
    assert describe is not None
    body_src, body = fixtures.line_of("basic", "describe_body")
    assert b.addresses_for_line(body_src, body - 1).addresses == [
        b.first_pc_after_prologue(describe)]
    # The `for` line stops once, at the loop's initialisation.
    loop_src, call = fixtures.line_of("basic", "loop_call")
    main_rows = objdump(path, "main.main")
    assert b.addresses_for_line(loop_src, call - 1).addresses == [
        next(r[2] for r in main_rows if r[1] == call - 1)]


def test_function_rows_match_whole_program(built: tuple[BinaryInfo, Path]) -> None:
    # lines_for_function decodes only the function's own sequence (found by bytes.find);
    # it must agree with decoding the whole unit's line program.
    b, _ = built
    lines = b._linetables
    for name in ("main.main", "main.add", "main.(*Point).Move", "runtime.main",
                 "fmt.Sprintf"):
        fn = b.function(name)
        assert fn is not None, name
        sub = b._subprogram(fn)
        assert sub is not None, name
        cu = unit_of(sub)
        files = lines.files(cu)
        whole = sorted((a, files[fi], ln, st, pe) for a, fi, ln, st, pe, end
                       in lines.rows(cu) if not end and fn.entry <= a < fn.end)
        assert b.lines_for_function(fn) == whole, name


def test_variables_and_types(built: tuple[BinaryInfo, Path]) -> None:
    b, _ = built
    add = b.function("main.add")
    assert add is not None
    by = {v.name: v for v in b.frame_variables(add, add.entry)}
    assert {"a", "b", "sum"} <= set(by)
    assert by["a"].is_arg and by["a"].location == RegLoc(0)
    assert by["b"].location == RegLoc(3)
    assert isinstance(by["sum"].location, StackLoc)
    assert b.type_info(by["a"].type).kind == "int"
    hits = b.global_variable("main.hits")
    sym = b.symbol("main.hits")
    assert hits is not None and sym is not None and hits.location == AddrLoc(sym.addr)
    g = b.struct_layout("runtime.g")
    assert g is not None and g.offset("stack.lo") == 0 and "goid" in g.fields
    allgs = b.global_variable("runtime.allgs")
    assert allgs is not None
    t = b.type_info(allgs.type)
    assert t.kind == "slice" and t.elem is not None
    assert b.type_info(t.elem).name == "*runtime.g"


def test_lexical_block_ranges(toolchain: str | None) -> None:
    b = BinaryInfo.open(str(fixtures.build("gotypes", go=toolchain)))
    try:
        f = b.function("main.use")
        assert f is not None
        src, line = fixtures.line_of("gotypes", "block_body")
        pc = b.addresses_for_line(src, line).addresses[0]
        assert {"total", "i", "inner"} <= {v.name for v in b.frame_variables(f, pc)}
        src, line = fixtures.line_of("gotypes", "use_return")
        pc = b.addresses_for_line(src, line).addresses[0]
        assert "inner" not in {v.name for v in b.frame_variables(f, pc)}
        g = b.global_variable("main.global")
        assert g is not None
        outer = b.type_info(g.type)
        kinds = {f.name: b.type_info(f.type).kind for f in outer.fields}
        assert kinds["Count"] == "map" and kinds["Err"] == "interface" and kinds["P"] == "ptr"
    finally:
        b.close()
