"""Separate debug information: finding the file that holds a stripped binary's DWARF.

Looked for the way GDB and Delve do, in this order:
1. by GNU build id: `ROOT/.build-id/xx/rest.debug` under each debug directory ROOT
   (default /usr/lib/debug; `debugInfoDirectories` in the launch, or $DAPGO_DEBUG_INFO_DIRS,
   colon separated, replace it);
2. by `.gnu_debuglink` (a file name and its CRC-32): next to the binary, in its `.debug/`
   directory, and under each ROOT followed by the binary's directory;
3. where $DEBUGINFOD_URLS is set: downloaded by build id from a debuginfod server
   (dapgo.engine.dwarf.debuginfod), cached where elfutils' own client caches.
A candidate is used only if its build id (or debuglink CRC) matches the binary's.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Sequence

import attrs

from . import debuginfod
from .elf import ElfImage

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)
Progress = Callable[[str, int, int | None], None]  # (message, bytes so far, total or None)


@attrs.frozen
class Found:
    path: str | None
    looked: tuple[str, ...]  # where it was looked for, for the error message


def debug_dirs(configured: Sequence[str] = ()) -> tuple[str, ...]:
    if configured:
        return tuple(configured)
    env = os.environ.get("DAPGO_DEBUG_INFO_DIRS")
    if env:
        return tuple(d for d in env.split(":") if d)
    return DEFAULT_DEBUG_DIRS


def gnu_build_id(elf: ElfImage) -> str | None:
    n = elf.note(".note.gnu.build-id")
    return n[2].hex() if n is not None and n[2] else None


def debuglink(elf: ElfImage) -> tuple[str, int] | None:
    """(file name, CRC-32) from .gnu_debuglink."""
    if ".gnu_debuglink" not in elf.sections:
        return None
    data = elf.data(".gnu_debuglink")
    end = data.find(b"\0")
    if end <= 0:
        return None
    crc_at = (end + 4) & ~3
    if len(data) < crc_at + 4:
        return None
    return os.fsdecode(data[:end]), struct.unpack_from("<I", data, crc_at)[0]


def _crc32(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _same_build(path: str, build_id: str | None) -> bool:
    if build_id is None:
        return True
    try:
        dbg = ElfImage(path)
    except Exception:
        return False
    try:
        return gnu_build_id(dbg) == build_id
    finally:
        dbg.close()


def find(elf: ElfImage, binary_path: str, dirs: Sequence[str] = (),
         progress: Progress | None = None) -> Found:
    """The separate debug file of the binary `elf` (read from `binary_path`), or where it
    was looked for. A debuginfod failure is part of `looked`, never raised."""
    roots = debug_dirs(dirs)
    build_id = gnu_build_id(elf)
    looked: list[str] = []
    if build_id is not None and len(build_id) > 2:
        for root in roots:
            cand = os.path.join(root, ".build-id", build_id[:2], build_id[2:] + ".debug")
            looked.append(cand)
            if os.path.isfile(cand) and _same_build(cand, build_id):
                return Found(cand, tuple(looked))
    link = debuglink(elf)
    if link is not None:
        name, crc = link
        bindir = os.path.dirname(os.path.realpath(binary_path))
        cands = [os.path.join(bindir, name), os.path.join(bindir, ".debug", name)]
        cands += [os.path.join(root, bindir.lstrip("/"), name) for root in roots]
        for cand in cands:
            looked.append(cand)
            if os.path.isfile(cand) and os.path.realpath(cand) != os.path.realpath(
                    binary_path) and _crc32(cand) == crc:
                return Found(cand, tuple(looked))
    urls = debuginfod.server_urls()
    if urls:
        if build_id is None:
            looked.append("debuginfod: the binary has no GNU build id (.note.gnu.build-id) "
                          "to ask for")
        else:
            got, why = debuginfod.fetch(build_id, urls, progress)
            if got is not None:
                return Found(got, tuple(looked))
            looked.append(why)
    return Found(None, tuple(looked))
