"""Shared fixtures for the engine/dwarf tests: built Go binaries and an isolated cache dir."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fixtures

from dapgo.engine.dwarf import BinaryInfo


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAPGO_CACHE_DIR", str(tmp_path_factory.mktemp("dapgo-cache")))


@pytest.fixture(scope="session")
def basic_path() -> Path:
    return fixtures.build("basic")


@pytest.fixture(scope="session")
def types_path() -> Path:
    return fixtures.build("gotypes")


@pytest.fixture
def basic(basic_path: Path) -> Iterator[BinaryInfo]:
    b = BinaryInfo.open(str(basic_path))
    yield b
    b.close()


@pytest.fixture
def gotypes(types_path: Path) -> Iterator[BinaryInfo]:
    b = BinaryInfo.open(str(types_path))
    yield b
    b.close()


_OBJDUMP = re.compile(r"^\s+(\S+):(\d+)\s+0x([0-9a-f]+)\s+([0-9a-f]+)\s+(.*?)\s*$")


def objdump(binary: Path, func: str) -> list[tuple[str, int, int, str]]:
    """`go tool objdump -s ^func$`: (file base name, line, address, instruction text)."""
    out = subprocess.run([fixtures.go_binary(), "tool", "objdump", "-s",
                          "^" + re.escape(func) + "$", str(binary)],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for ln in out.splitlines():
        m = _OBJDUMP.match(ln)
        if m:
            rows.append((m.group(1), int(m.group(2)), int(m.group(3), 16), m.group(5)))
    return rows
