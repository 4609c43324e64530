"""Unit tests of the core file notes and of finding separate debug files (pure logic:
bytes in, values out; the end-to-end tests use real cores and binaries)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from dapgo.engine.corefile.notes import REGISTER_NAMES, decode_prstatus
from dapgo.engine.corefile.writer import _note, _prstatus
from dapgo.engine.dwarf import debugfile, debuginfod


def test_prstatus_round_trip() -> None:
    regs = {name: (i + 1) * 0x1111 for i, name in enumerate(REGISTER_NAMES)}
    desc = _prstatus(4242, regs, 6)
    assert len(desc) == 336
    th = decode_prstatus(desc)
    assert (th.tid, th.signal, th.registers) == (4242, 6, regs)
    # the layout Linux writes: signal at 0 and 12, pid at 32, rip 16th register at 112
    assert struct.unpack_from("<i", desc, 0)[0] == 6
    assert struct.unpack_from("<Q", desc, 112 + 16 * 8)[0] == regs["rip"]


def test_note_padding() -> None:
    n = _note(b"CORE", 1, b"abcde")
    namesz, descsz, kind = struct.unpack_from("<III", n)
    assert (namesz, descsz, kind) == (5, 5, 1)
    assert len(n) == 12 + 8 + 8 and n[12:17] == b"CORE\0" and n[20:25] == b"abcde"


def test_debug_dirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAPGO_DEBUG_INFO_DIRS", raising=False)
    assert debugfile.debug_dirs() == ("/usr/lib/debug",)
    monkeypatch.setenv("DAPGO_DEBUG_INFO_DIRS", "/a:/b")
    assert debugfile.debug_dirs() == ("/a", "/b")
    assert debugfile.debug_dirs(["/c"]) == ("/c",)


def test_debuginfod_urls_and_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEBUGINFOD_URLS", "http://a:1/  https://b/x/")
    assert debuginfod.server_urls() == ["http://a:1", "https://b/x"]
    monkeypatch.setenv("DEBUGINFOD_CACHE_PATH", str(tmp_path))
    cached = tmp_path / "ab12" / "debuginfo"
    cached.parent.mkdir()
    cached.write_bytes(b"\x7fELF...")
    # a cached file is used without asking any server (none of these exists)
    assert debuginfod.fetch("ab12", ["http://127.0.0.1:1"]) == (str(cached), "")
    got, why = debuginfod.fetch("cd34", ["http://127.0.0.1:1"])
    assert got is None and "http://127.0.0.1:1 could not be asked for build id cd34" in why


def test_crc32_matches_zlib(tmp_path: Path) -> None:
    f = tmp_path / "x.debug"
    f.write_bytes(b"debug" * 100000)
    assert debugfile._crc32(str(f)) == zlib.crc32(f.read_bytes())
