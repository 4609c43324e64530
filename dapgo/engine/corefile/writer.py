"""Writing an ELF core of a stopped program (`dapgo dump PATH`, Delve's `dump`).

The core has the layout the kernel writes, so dapgo (and other debuggers) read it back:
one PT_NOTE segment (NT_PRSTATUS per thread, the selected thread first, NT_PRPSINFO,
NT_AUXV, NT_FILE) and one PT_LOAD per mapping. As the kernel does by default, the pages of
read-only file mappings (code, read-only data) are left out but for the first page of the
file (its ELF headers): a reader takes them from the file. Memory comes through the
backend's `read_memory` (dapgo's int3 bytes hidden); zero blocks are left as holes, so a Go
heap's untouched arenas cost no disk space. The program is only read: it stays stopped, and
runs on when the user continues.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from dapgo.engine.backend import MemoryRegion, Process

from .notes import PRSTATUS_PID_OFFSET, PRSTATUS_REGS_OFFSET, REGISTER_NAMES

NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE = 1, 3, 6, 0x46494C45
PT_LOAD, PT_NOTE = 1, 4
PAGE = 4096
CHUNK = 1 << 20
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
PRSTATUS_SIZE = 336
PRPSINFO_SIZE = 136
_ZERO = bytes(CHUNK)


def _note(name: bytes, kind: int, desc: bytes) -> bytes:
    name += b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), kind) + pad(name) + pad(desc)


def _prstatus(tid: int, regs: dict[str, int], signal: int) -> bytes:
    buf = bytearray(PRSTATUS_SIZE)
    struct.pack_into("<i", buf, 0, signal)
    struct.pack_into("<h", buf, 12, signal)
    struct.pack_into("<i", buf, PRSTATUS_PID_OFFSET, tid)
    struct.pack_into(f"<{len(REGISTER_NAMES)}Q", buf, PRSTATUS_REGS_OFFSET,
                     *(regs.get(n, 0) & (1 << 64) - 1 for n in REGISTER_NAMES))
    return bytes(buf)


def _prpsinfo(pid: int) -> bytes:
    buf = bytearray(PRPSINFO_SIZE)
    buf[1] = ord("t")  # traced (stopped by a debugger)
    struct.pack_into("<i", buf, 24, pid)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().rstrip(b"\0").replace(b"\0", b" ")
    except OSError:
        args = b""
    fname = os.path.basename(args.split(b" ")[0]) if args else b""
    buf[40:40 + 15] = fname[:15].ljust(15, b"\0")
    buf[56:56 + 79] = args[:79].ljust(79, b"\0")
    return bytes(buf)


def _file_note(regions: list[MemoryRegion]) -> bytes:
    files = [r for r in regions if r.path.startswith("/")]
    head = struct.pack("<QQ", len(files), PAGE)
    body = b"".join(struct.pack("<QQQ", r.start, r.end, r.offset // PAGE) for r in files)
    names = b"".join(os.fsencode(r.path) + b"\0" for r in files)
    return head + body + names


def _wanted(r: MemoryRegion) -> int:
    """How many of a mapping's bytes go into the core: all, none (unreadable, or a
    read-only file mapping: the file has them), or, as the kernel does, the first page of
    a file mapped from its start (ELF headers and build id notes: a reader checks them
    against the file it is given)."""
    if "r" not in r.perms or r.path in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
        return 0
    if r.path.startswith("/") and "w" not in r.perms:
        return PAGE if r.offset == 0 else 0
    return r.end - r.start


def _flags(perms: str) -> int:
    return (4 if "r" in perms else 0) | (2 if "w" in perms else 0) | (1 if "x" in perms else 0)


def _chunks(process: Process, r: MemoryRegion, length: int) -> Iterator[bytes | None]:
    """The mapping's first `length` bytes in chunks; None for a chunk that cannot be
    read."""
    end = r.start + length
    for addr in range(r.start, end, CHUNK):
        size = min(CHUNK, end - addr)
        try:
            yield process.read_memory(addr, size)
        except OSError:
            yield None


def write_core(process: Process, path: str, first_tid: int | None = None) -> int:
    """Write an ELF core of the stopped `process` to `path` (the thread `first_tid` first,
    as the thread a reader selects); returns the number of bytes of memory written."""
    tids = process.thread_ids()
    if first_tid in tids:
        tids.remove(first_tid)
        tids.insert(0, first_tid)
    regions = process.memory_map()
    auxv = process.auxv()
    notes = b"".join(_note(b"CORE", NT_PRSTATUS,
                           _prstatus(t, process.registers(t).values, 0)) for t in tids)
    notes += _note(b"CORE", NT_PRPSINFO, _prpsinfo(process.pid))
    notes += _note(b"CORE", NT_AUXV, b"".join(struct.pack("<QQ", k, v)
                                              for k, v in [*auxv.items(), (0, 0)]))
    notes += _note(b"CORE", NT_FILE, _file_note(regions))
    phnum = 1 + len(regions)
    notes_off = _EHDR.size + phnum * _PHDR.size
    data_off = (notes_off + len(notes) + PAGE - 1) // PAGE * PAGE
    written = 0
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        phdrs = [_PHDR.pack(PT_NOTE, 0, notes_off, 0, 0, len(notes), 0, 4)]
        out.seek(data_off)
        for r in regions:
            off = out.tell()
            size = 0
            length = _wanted(r)
            if length:
                for chunk in _chunks(process, r, length):
                    if chunk is None:  # unreadable: the core ends this mapping's bytes here
                        break
                    if chunk == _ZERO[:len(chunk)]:
                        out.seek(len(chunk), os.SEEK_CUR)  # a hole reads back as zeros
                    else:
                        out.write(chunk)
                    size += len(chunk)
            written += size
            phdrs.append(_PHDR.pack(PT_LOAD, _flags(r.perms), off, r.start, 0, size,
                                    r.end - r.start, PAGE))
        out.truncate(out.tell())
        ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little, version 1
        out.seek(0)
        out.write(_EHDR.pack(ident, 4, 62, 1, 0, _EHDR.size, 0, 0, _EHDR.size, _PHDR.size,
                             phnum, 0, 0, 0))
        out.write(b"".join(phdrs))
        out.write(notes)
    os.replace(tmp, path)
    return written
