"""BinaryInfo against real Go binaries, cross-checked with Go's own tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import fixtures
import pytest
from conftest import objdump

from dapgo.engine.dwarf import AddrLoc, BinaryInfo, RegLoc, StackLoc
from dapgo.engine.errors import BinaryFormatError, NoDebugInfoError


def go(*args: str) -> str:
    return subprocess.run([fixtures.go_binary(), *args], capture_output=True, text=True,
                          check=True).stdout


# --- open ---------------------------------------------------------------------------------
def test_open_rejects_non_elf(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("hello")
    with pytest.raises(BinaryFormatError, match="is not an ELF file"):
        BinaryInfo.open(str(p))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(BinaryFormatError, match="is not an ELF file"):
        BinaryInfo.open(str(empty))


def test_open_rejects_non_go() -> None:
    ls = shutil.which("ls")
    assert ls
    with pytest.raises(BinaryFormatError, match="not a Go program"):
        BinaryInfo.open(os.path.realpath(ls))


def test_open_rejects_stripped_dwarf(basic_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "nodwarf"
    subprocess.run(["objcopy", "--strip-debug", str(basic_path), str(out)], check=True)
    with pytest.raises(NoDebugInfoError, match="has no DWARF debug information"):
        BinaryInfo.open(str(out))


def test_identity(basic: BinaryInfo) -> None:
    assert basic.go_version == go("env", "GOVERSION").strip()
    assert basic.build_id and "/" in basic.build_id  # Go build id
    assert basic.path == os.path.abspath(basic.path)


# --- symbols and functions ----------------------------------------------------------------
def test_symbols_match_go_tool_nm(basic: BinaryInfo, basic_path: Path) -> None:
    nm = {}
    for ln in go("tool", "nm", "-size", str(basic_path)).splitlines():
        parts = ln.split()
        if len(parts) >= 4:
            nm[" ".join(parts[3:])] = (int(parts[0], 16), int(parts[1]))
    for name in ("main.main", "main.add", "main.(*Point).Move", "main.hits", "runtime.allgs",
                 "fmt.Sprintf"):
        sym = basic.symbol(name)
        assert sym is not None, name
        assert (sym.addr, sym.size) == nm[name], name
    assert basic.symbol("main.nosuch") is None


def test_function_lookup(basic: BinaryInfo) -> None:
    f = basic.function("main.(*Point).Move")
    assert f is not None and f.name == "main.(*Point).Move"
    sym = basic.symbol("main.(*Point).Move")
    assert sym is not None and f.entry == sym.addr and f.end >= sym.addr + sym.size
    assert basic.function_for_pc(f.entry + 3) == f
    assert basic.function_for_pc(f.end) != f
    assert basic.function_for_pc(0x10) is None
    assert basic.function("main.nosuch") is None
    names = [fn.name for fn in basic.functions_matching(r"^main\.")]
    assert {"main.main", "main.add", "main.describe", "main.recurse"} <= set(names)
    # qualified package paths work too
    assert basic.function("internal/poll.(*FD).Write") is not None


def test_line_for_pc_matches_objdump(basic: BinaryInfo, basic_path: Path) -> None:
    rows = objdump(basic_path, "main.main")
    assert rows
    main_go = fixtures.line_of("basic", "main_start")[0]
    for _file, line, addr, _text in rows:
        assert basic.line_for_pc(addr) == (main_go, line), hex(addr)


def test_line_for_pc_runtime_file(basic: BinaryInfo) -> None:
    f = basic.function("runtime.main")
    assert f is not None
    loc = basic.line_for_pc(f.entry)
    assert loc is not None and loc[0].endswith("/src/runtime/proc.go")


def test_sp_offset_follows_frame(basic: BinaryInfo, basic_path: Path) -> None:
    rows = objdump(basic_path, "main.main")
    f = basic.function("main.main")
    assert f is not None
    assert basic.sp_offset(f.entry) == 0
    sub = next(i for i, r in enumerate(rows) if r[3].startswith("SUBQ $") and r[3].endswith("SP"))
    frame = int(rows[sub][3].split("$")[1].split(",")[0], 16)
    assert rows[sub - 2][3] == "PUSHQ BP"
    assert basic.sp_offset(rows[sub][2]) == 8  # after PUSHQ BP
    assert basic.sp_offset(rows[sub + 1][2]) == 8 + frame
    ret = next(r for r in rows if r[3] == "RET")
    assert basic.sp_offset(ret[2]) == 0


def test_first_pc_after_prologue(basic: BinaryInfo, basic_path: Path) -> None:
    # Go marks prologue_end on the instruction after PUSHQ BP; MOVQ SP, BP.
    for name in ("main.main", "main.add", "main.describe"):
        rows = objdump(basic_path, name)
        f = basic.function(name)
        assert f is not None
        pc = basic.first_pc_after_prologue(f)
        i = next(i for i, r in enumerate(rows) if r[2] == pc)
        assert rows[i - 2][3] == "PUSHQ BP" and rows[i - 1][3] == "MOVQ SP, BP", name
        assert rows[i][3].startswith("SUBQ $"), name
        assert all("R14" not in r[3] for r in rows[i:i + 1])
    # No frame: nothing to skip.
    move = basic.function("main.(*Point).Move")
    assert move is not None and basic.first_pc_after_prologue(move) == move.entry


def test_skip_prologue_disassembly() -> None:
    from dapgo.engine.dwarf.prologue import skip_prologue

    # CMPQ SP, 0x10(R14); JBE +0x20; PUSHQ BP
    small = bytes.fromhex("493b6610" "7620" "55")
    assert skip_prologue(small, 0x1000) == 0x1006
    # LEAQ -0x160(SP), R12; CMPQ R12, 0x10(R14); JBE rel32; PUSHQ BP
    big = bytes.fromhex("4c8da424a0feffff" "4d3b6610" "0f86f4040000" "55")
    assert skip_prologue(big, 0x2000) == 0x2000 + 18
    # PUSHQ BP; MOVQ SP, BP (no stack check)
    assert skip_prologue(bytes.fromhex("554889e5"), 0x3000) == 0x3000


# --- lines -------------------------------------------------------------------------------
def _first_addr_of_line(basic_path: Path, func: str, line: int) -> int:
    return next(r[2] for r in objdump(basic_path, func) if r[1] == line)


def test_addresses_for_line(basic: BinaryInfo, basic_path: Path) -> None:
    path, line = fixtures.line_of("basic", "add_body")
    lk = basic.addresses_for_line(path, line)
    assert lk.message is None and lk.file == path
    assert lk.addresses == [_first_addr_of_line(basic_path, "main.add", line)]
    path, line = fixtures.line_of("basic", "move_body")
    lk = basic.addresses_for_line(path, line)
    assert lk.addresses == [_first_addr_of_line(basic_path, "main.(*Point).Move", line)]


def test_addresses_for_line_for_loop_stops_once(basic: BinaryInfo, basic_path: Path) -> None:
    # Like Delve: one address per function, the line's lowest is_stmt address there. The
    # `for` line's code is in several ranges (init, condition, increment); it stops at init.
    path, line = fixtures.line_of("basic", "loop_call")
    loop = line - 1
    rows = objdump(basic_path, "main.main")
    starts = [r[2] for i, r in enumerate(rows)
              if r[1] == loop and (i == 0 or rows[i - 1][1] != loop)]
    assert len(starts) >= 2
    lk = basic.addresses_for_line(path, loop)
    assert lk.addresses == [starts[0]]
    main = basic.function("main.main")
    assert main is not None
    stmts = [a for a, f, ln, stmt, _ in basic.lines_for_function(main)
             if f == path and ln == loop and stmt]
    assert lk.addresses == [min(stmts)]


def test_addresses_for_line_path_matching(basic: BinaryInfo, tmp_path: Path) -> None:
    path, line = fixtures.line_of("basic", "add_body")
    want = basic.addresses_for_line(path, line).addresses
    assert basic.addresses_for_line("basic/main.go", line).addresses == want
    link = tmp_path / "elsewhere"
    link.symlink_to(Path(path).parent.parent)
    lk = basic.addresses_for_line(str(link / "basic" / "main.go"), line)
    assert lk.addresses == want and lk.file == path
    lk = basic.addresses_for_line("/nowhere/nosuch.go", line)
    assert lk.addresses == [] and lk.file is None
    assert lk.message == "file not found in the binary: /nowhere/nosuch.go"
    lk = basic.addresses_for_line(path, 1)
    assert lk.addresses == [] and lk.message == f"no code at {path}:1"


def test_source_files(basic: BinaryInfo) -> None:
    files = basic.source_files()
    assert fixtures.line_of("basic", "add_body")[0] in files
    assert any(f.endswith("/src/runtime/proc.go") for f in files)
    assert all(f.startswith("/") for f in files)


def test_file_index_is_cached_on_disk(basic_path: Path) -> None:
    cache = Path(os.environ["DAPGO_CACHE_DIR"])
    path, line = fixtures.line_of("basic", "add_body")
    b1 = BinaryInfo.open(str(basic_path))
    want = b1.addresses_for_line(path, line)
    assert not list(cache.glob("*.files.*.json"))  # a line breakpoint needs no full index
    files = b1.source_files()
    assert list(cache.glob("*.files.*.json"))
    b2 = BinaryInfo.open(str(basic_path))
    assert b2.addresses_for_line(path, line) == want
    assert b2.source_files() == files


def _first_stop_facts(b: BinaryInfo, rtype: int) -> tuple[object, ...]:
    add = b.function("main.add")
    assert add is not None
    return (b.first_pc_after_prologue(add), b.function_breakpoint_addresses("main.main"),
            b.field_offsets("runtime.g", ("goid", "sched.pc", "no_such_field")),
            b.field_offsets("runtime.no_such_type", ("x",)),
            # an interface's dynamic type, by its runtime descriptor's offset; none at 1
            b.type_for_runtime_offset(rtype), b.type_for_runtime_offset(1))


def test_first_stop_facts_are_remembered_on_disk(basic_path: Path, tmp_path: Path) -> None:
    """What a first stop asks of DWARF (where prologues end, inlined copies, offsets of
    runtime struct fields) is kept on disk by build id: a second open of the binary gives
    the same answers without decoding any DWARF. A changed binary at the same path has
    another build id: its answers come from its own DWARF, not from the first's."""
    copy = tmp_path / "prog"
    shutil.copy(basic_path, copy)
    b1 = BinaryInfo.open(str(copy))
    string = b1.find_type("string")
    assert string is not None
    rtype = b1.runtime_type_offset(string)
    assert rtype
    want = _first_stop_facts(b1, rtype)
    assert want[4] == string and want[5] is None
    g = b1.struct_layout("runtime.g")
    assert g is not None
    assert want[2] == (g.size, {"goid": g.offset("goid"), "sched.pc": g.offset("sched.pc")})
    assert want[3] is None
    b1.close()  # the memo is written behind: at the latest when the binary is closed
    b2 = BinaryInfo.open(str(copy))
    assert _first_stop_facts(b2, rtype) == want
    assert b2._dwarf is None  # nothing decoded: all from the memo
    # the same path, another build of the program (another build id)
    shutil.copy(fixtures.build("basic", flags=("-buildmode=pie",)), copy)
    b3 = BinaryInfo.open(str(copy))
    assert b3.build_id != b1.build_id
    fresh = _first_stop_facts(b3, rtype)
    assert b3._dwarf is not None  # decoded: nothing of the first build's was reused
    add = b3.function("main.add")
    assert add is not None and fresh[0] == b3.first_pc_after_prologue(add)


# --- variables and types -------------------------------------------------------------------
def test_frame_variables_add(basic: BinaryInfo) -> None:
    f = basic.function("main.add")
    assert f is not None
    at_entry = basic.frame_variables(f, f.entry)
    assert [(v.name, v.is_arg) for v in at_entry] == [
        ("a", True), ("b", True), ("~r0", True), ("sum", False)]
    by = {v.name: v for v in at_entry}
    assert by["a"].location == RegLoc(0)  # RAX
    assert by["b"].location == RegLoc(3)  # RBX
    assert by["sum"].location == StackLoc(-24)
    assert by["sum"].decl_line == fixtures.line_of("basic", "add_body")[1]
    assert basic.type_info(by["a"].type).name == "int"
    assert basic.type_info(by["a"].type).kind == "int"
    # after the spill the arguments live in the caller's frame (CFA+0 and CFA+8)
    path, line = fixtures.line_of("basic", "add_body")
    body = basic.addresses_for_line(path, line).addresses[0]
    by = {v.name: v for v in basic.frame_variables(f, body)}
    assert by["a"].location == StackLoc(0) and by["b"].location == StackLoc(8)


def test_frame_variables_lexical_block(gotypes: BinaryInfo) -> None:
    f = gotypes.function("main.use")
    assert f is not None
    path, line = fixtures.line_of("gotypes", "block_body")
    pc = gotypes.addresses_for_line(path, line).addresses[0]
    names = [v.name for v in gotypes.frame_variables(f, pc)]
    assert names[0] == "o" and {"total", "i", "inner"} <= set(names)
    path, line = fixtures.line_of("gotypes", "use_return")
    pc = gotypes.addresses_for_line(path, line).addresses[0]
    assert "inner" not in [v.name for v in gotypes.frame_variables(f, pc)]


def test_global_variable(basic: BinaryInfo) -> None:
    v = basic.global_variable("main.hits")
    sym = basic.symbol("main.hits")
    assert v is not None and sym is not None
    assert v.location == AddrLoc(sym.addr)
    assert basic.type_info(v.type).kind == "int"
    allgs = basic.global_variable("runtime.allgs")
    assert allgs is not None
    t = basic.type_info(allgs.type)
    assert t.kind == "slice" and t.elem is not None
    assert basic.type_info(t.elem).name == "*runtime.g"
    assert basic.global_variable("main.nosuch") is None


def test_type_info_kinds(gotypes: BinaryInfo) -> None:
    g = gotypes.global_variable("main.global")
    assert g is not None
    outer = gotypes.type_info(g.type)
    assert (outer.name, outer.kind) == ("main.Outer", "struct")
    fields = {f.name: f for f in outer.fields}
    assert fields["Inner"].embedded and not fields["Name"].embedded
    kinds = {name: gotypes.type_info(f.type).kind for name, f in fields.items()}
    assert kinds == {
        "Inner": "struct", "Name": "string", "Tags": "slice", "Count": "map", "Ch": "chan",
        "Arr": "array", "Err": "interface", "Fn": "func", "Any": "interface", "F": "float",
        "C": "complex", "Ok": "bool", "P": "ptr",
    }
    arr = gotypes.type_info(fields["Arr"].type)
    assert arr.length == 3 and arr.size == 6 and arr.elem is not None
    assert gotypes.type_info(arr.elem).name == "int16"
    m = gotypes.type_info(fields["Count"].type)
    assert m.key is not None and m.elem is not None
    assert gotypes.type_info(m.key).name == "string" and gotypes.type_info(m.elem).name == "int"
    tags = gotypes.type_info(fields["Tags"].type)
    assert tags.elem is not None and gotypes.type_info(tags.elem).name == "string"
    ch = gotypes.type_info(fields["Ch"].type)
    assert ch.elem is not None and gotypes.type_info(ch.elem).name == "int"
    p = gotypes.type_info(fields["P"].type)
    assert p.elem is not None and gotypes.type_info(p.elem).name == "main.Inner"
    inner = gotypes.type_info(fields["Inner"].type)
    assert [(f.name, f.offset) for f in inner.fields] == [("A", 0), ("B", 4)]
    assert inner.size == 8
    assert gotypes.find_type("main.Outer") is not None


def test_struct_layout(basic: BinaryInfo) -> None:
    g = basic.struct_layout("runtime.g")
    gobuf = basic.struct_layout("runtime.gobuf")
    stack = basic.struct_layout("runtime.stack")
    assert g is not None and gobuf is not None and stack is not None
    assert g.offset("sched.pc") == g.fields["sched"].offset + gobuf.fields["pc"].offset
    assert g.offset("sched.sp") == g.fields["sched"].offset + gobuf.fields["sp"].offset
    assert g.offset("stack.hi") == g.fields["stack"].offset + 8
    assert g.offset("stack.lo") == 0  # runtime.g starts with its stack bounds
    for f in ("goid", "atomicstatus", "startpc", "gopc", "m", "waitreason", "labels"):
        assert f in g.fields
    assert g.fields["goid"].size == 8
    s = basic.struct_layout("string")
    assert s is not None and s.offset("len") == 8 and s.size == 16
    sl = basic.struct_layout("[]*runtime.g")
    assert sl is not None and [sl.offset(k) for k in ("array", "len", "cap")] == [0, 8, 16]
    pt = basic.struct_layout("main.Point")
    assert pt is not None and pt.offset("Name") == 16 and pt.field("Name").type_name == "string"
    with pytest.raises(KeyError):
        g.offset("sched.nosuch")
    assert basic.struct_layout("main.NoSuch") is None


def test_addresses_for_declaration_line(basic: BinaryInfo, basic_path: Path) -> None:
    # `func add(...)` has code only in the prologue and the morestack trailer: one address,
    # the same one a function breakpoint uses.
    f = basic.function("main.describe")
    assert f is not None
    path, body = fixtures.line_of("basic", "describe_body")
    lk = basic.addresses_for_line(path, body - 1)
    assert lk.addresses == [basic.first_pc_after_prologue(f)]
