"""Where an image is loaded: its load bias, process address minus static (link-time) address.

A fixed-address executable (ET_EXEC) runs at its static addresses: bias 0. A
position-independent one (ET_DYN: `-buildmode=pie`, a plugin, a shared object) is placed by
the kernel or the dynamic loader at an address of their choosing; every address the binary
states (symbols, .gopclntab, DWARF) is then off by one constant. That constant is applied at
one boundary, BinaryInfo's public methods (dapgo.engine.dwarf.binary), so the engine above
sees process addresses only and the readers below static ones only.

The bias is computed here from what every backend gives (dapgo.engine.backend.Process):
the auxiliary vector (`AT_ENTRY`: where the kernel put the executable's entry point; a core
file has it in NT_AUXV) and, failing that or for an image that is not the executable, the
memory map (the mapping of the image's file at a segment's file offset).
"""

from __future__ import annotations

import os

from dapgo.engine.backend import MemoryRegion, Process
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import DebuggerError

AT_PHDR = 3
AT_ENTRY = 9
_PAGE = 0x1000


def bias_from_auxv(auxv: dict[int, int], static_entry: int) -> int | None:
    """The executable's bias from its auxiliary vector: AT_ENTRY minus e_entry."""
    entry = auxv.get(AT_ENTRY)
    return None if not entry else entry - static_entry


def bias_from_map(regions: list[MemoryRegion], path: str,
                  segments: list[tuple[int, int, int]]) -> int | None:
    """An image's bias from the memory map: the first mapping of `path` whose file offset
    lies in a PT_LOAD segment (`segments`: static vaddr, memsz, file offset) sits at that
    segment's static page plus the bias."""
    want = _same_file_key(path)
    for r in regions:
        if not r.path or _same_file_key(r.path) != want:
            continue
        for vaddr, memsz, off in segments:
            page_off = off & ~(_PAGE - 1)
            if page_off <= r.offset < off + max(memsz, 1):
                static = (vaddr & ~(_PAGE - 1)) + (r.offset - page_off)
                return r.start - static
    return None


def _same_file_key(path: str) -> tuple[int, int] | str:
    """Identity of a file (device, inode) where it can be stat'ed, else its real path."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return os.path.realpath(path)


def executable_bias(process: Process, binary: BinaryInfo) -> int:
    """The load bias of the program's executable `binary` in `process` (0 unless it is
    position independent). DebuggerError when neither auxv nor the map tells."""
    if not binary.position_independent:
        return 0
    bias: int | None = None
    try:
        bias = bias_from_auxv(process.auxv(), binary.static_entry)
    except OSError:
        bias = None
    if bias is None:
        try:
            bias = bias_from_map(process.memory_map(), binary.path, binary.load_segments)
        except OSError:
            bias = None
    if bias is None:
        raise DebuggerError(f"cannot tell where {binary.path} is loaded in process "
                            f"{process.pid} (no AT_ENTRY in its auxiliary vector and no "
                            "mapping of the file)")
    return bias


def image_bias(process: Process, binary: BinaryInfo) -> int | None:
    """The load bias of another image (a plugin, a shared object) from the memory map, or
    None while it is not mapped."""
    if not binary.position_independent:
        return 0
    return bias_from_map(process.memory_map(), binary.path, binary.load_segments)
