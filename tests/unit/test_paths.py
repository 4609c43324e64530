"""substitutePath rules (pure logic) and the load bias arithmetic (the e2e tests run both
against real builds: tests/e2e/test_build_elsewhere.py, tests/e2e/test_pie.py)."""

from __future__ import annotations

from dapgo.engine.backend import MemoryRegion, parse_auxv
from dapgo.engine.loadbias import AT_ENTRY, bias_from_auxv, bias_from_map
from dapgo.paths import PathMap


def test_both_directions_on_whole_components() -> None:
    m = PathMap([("/home/me/proj", "/build/src/proj")])
    assert m.to_binary("/home/me/proj/cmd/main.go") == "/build/src/proj/cmd/main.go"
    assert m.to_client("/build/src/proj/cmd/main.go") == "/home/me/proj/cmd/main.go"
    # a prefix that is not a whole component does not match
    assert m.to_binary("/home/me/project/main.go") == "/home/me/project/main.go"
    assert m.to_client("/build/src/projX/a.go") == "/build/src/projX/a.go"
    assert m.to_binary("/home/me/proj") == "/build/src/proj"


def test_trimpath_relative_paths() -> None:
    m = PathMap([("/src/m/", "example.com/m"), ("/opt/go/src", "")])
    assert m.to_binary("/src/m/main.go") == "example.com/m/main.go"
    assert m.to_client("example.com/m/main.go") == "/src/m/main.go"
    # the empty binary prefix stands for every other relative path (the standard library)
    assert m.to_client("runtime/proc.go") == "/opt/go/src/runtime/proc.go"
    assert m.to_binary("/opt/go/src/runtime/proc.go") == "runtime/proc.go"
    assert m.to_client("/abs/elsewhere.go") == "/abs/elsewhere.go"


def test_first_rule_wins_and_console_edits() -> None:
    m = PathMap([("/a", "/x"), ("/a/b", "/y")])
    assert m.to_binary("/a/b/c.go") == "/x/b/c.go"
    m.set("/a", "/z")  # replaces the rule in place
    assert m.rules == [("/a", "/z"), ("/a/b", "/y")]
    m.set("/q/", "/r/")
    assert m.rules[-1] == ("/q", "/r")
    assert m.remove("/a") and not m.remove("/nope")
    assert m.to_binary("/a/b/c.go") == "/y/c.go"
    assert "/a/b -> /y" in m.describe()
    assert PathMap().describe() == "substitutePath: no rules\n"


def test_bias_from_auxv_and_from_the_map() -> None:
    assert bias_from_auxv({AT_ENTRY: 0x55550048B400}, 0x48B400) == 0x555500000000
    assert bias_from_auxv({}, 0x48B400) is None
    segs = [(0x400000, 0xB9E10, 0), (0x4BA000, 0xC1D58, 0xBA000)]
    regions = [MemoryRegion(0x7F0000000000, 0x7F0000001000, "r--p", 0, "/nonexistent/ld.so"),
               MemoryRegion(0x5555554BA000, 0x55555557C000, "r--p", 0xBA000, "/nonexistent/a"),
               MemoryRegion(0x555555400000, 0x5555554BA000, "r-xp", 0, "/nonexistent/a")]
    assert bias_from_map(regions, "/nonexistent/a", segs) == 0x555555000000
    assert bias_from_map(regions, "/nonexistent/b", segs) is None


def test_parse_auxv_stops_at_at_null() -> None:
    import struct

    data = struct.pack("<8Q", 6, 4096, AT_ENTRY, 0x401000, 0, 0, 99, 1)
    assert parse_auxv(data) == {6: 4096, AT_ENTRY: 0x401000}
    assert parse_auxv(data[:20]) == {6: 4096}


def test_exception_stacks_show_client_paths() -> None:
    from dapgo.convert import stack_text

    m = PathMap([("/src/m", "example.com/m"), ("/opt/go/src", "")])
    stack = ("main.f(...)\n\texample.com/m/main.go:12 +0x1d\n"
             "runtime.main()\n\truntime/proc.go:283")
    assert stack_text(stack, m) == ("main.f(...)\n\t/src/m/main.go:12 +0x1d\n"
                                    "runtime.main()\n\t/opt/go/src/runtime/proc.go:283")
