"""The core-file backend: a program that died (or was dumped), read from its ELF core.

`CoreProcess` implements the engine's process interface (dapgo.engine.backend.Process) as a
read-only backend: threads and registers come from NT_PRSTATUS notes, memory from PT_LOAD
segments, and where the core left a mapping's pages out (the kernel omits the text and
read-only data it can find again in the mapped file), from that file: the executable named
by the launch (`program`) for the mapping that holds the entry point, any other file by the
path NT_FILE recorded. The memory map and the auxiliary vector are the core's (NT_FILE,
NT_AUXV), so a PIE load bias computed from AT_ENTRY works as it does for a live program.
Every execution request fails with a clear error (`ReadOnlyProcess`).
"""

from __future__ import annotations

import bisect
import errno
import mmap
import os
import signal

from dapgo.engine.backend import (
    MemoryRegion,
    RawRead,
    ReadOnlyProcess,
    Registers,
    VectorRead,
    signal_name,
)

from .notes import CoreImage, CoreThread, FileMapping, Segment, SignalInfo

AT_ENTRY = 9
FAULT_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL})
_PERMS = {4: "r", 2: "w", 1: "x"}


def _unreadable(addr: int) -> OSError:
    return OSError(errno.EIO, f"address {addr:#x} is not in the core file")


class CoreProcess(ReadOnlyProcess):
    """An ELF core of a Go program, with its executable."""

    why_read_only = ("this is a core file: the program is not running, so it cannot "
                     "continue, step, pause or change")
    exit_code: int | None = None

    def __init__(self, image: CoreImage, executable: str) -> None:
        self.image = image
        self.executable = os.path.abspath(executable)
        self._threads: dict[int, CoreThread] = {t.tid: t for t in image.threads}
        self._order = [t.tid for t in image.threads]  # the thread that caused the dump first
        self._segs: list[Segment] = image.segments
        self._starts = [s.vaddr for s in self._segs]
        self._files: list[FileMapping] = sorted(image.files, key=lambda f: f.start)
        self._file_starts = [f.start for f in self._files]
        self._exe_path = self._executable_mapping_path()
        self._maps: dict[str, mmap.mmap | None] = {}

    @classmethod
    def open(cls, core_path: str, executable: str) -> CoreProcess:
        return cls(CoreImage(core_path), executable)

    @property
    def pid(self) -> int:
        return self.image.pid

    @property
    def crashed_tid(self) -> int:
        """The thread that caused the dump (the kernel writes it first)."""
        return self._order[0]

    @property
    def signal(self) -> SignalInfo | None:
        """The signal that killed the program (None for a core written while it ran)."""
        if self.image.siginfo is not None and self.image.siginfo.signo:
            return self.image.siginfo
        sig = self._threads[self.crashed_tid].signal
        return SignalInfo(sig, 0, 0) if sig else None

    @property
    def death(self) -> str | None:
        """What killed the program, e.g. "SIGSEGV (address 0x0)"; None for a core written
        while it ran."""
        sig = self.signal
        if sig is None:
            return None
        name = signal_name(sig.signo)
        if sig.signo in FAULT_SIGNALS and sig.addr:
            name += f" (address {sig.addr:#x})"
        return name

    def _executable_mapping_path(self) -> str | None:
        entry = self.image.auxv.get(AT_ENTRY)
        if entry is not None:
            f = self._file_at(entry)
            if f is not None:
                return f.path
        return self._files[0].path if self._files else None

    def executable_matches(self) -> bool | None:
        """Whether the executable is the one that was running: the first page of its
        mapping (ELF headers and build id notes), which the kernel keeps in the core, is the
        same in the file. None when the core does not have that page."""
        if self._exe_path is None:
            return None
        f = next((m for m in self._files if m.path == self._exe_path and m.offset == 0), None)
        seg = self._segment_at(f.start) if f is not None else None
        data = self._file_map(self._exe_path)
        if f is None or seg is None or seg.filesz == 0 or data is None:
            return None
        n = min(seg.filesz, 4096)
        return bool(self.image.map[seg.offset:seg.offset + n] == data[:n])

    # ----- threads and registers -----

    def thread_ids(self) -> list[int]:
        return list(self._order)

    def has_thread(self, tid: int) -> bool:
        return tid in self._threads

    def registers(self, tid: int) -> Registers:
        th = self._threads.get(tid)
        if th is None:
            raise OSError(errno.ESRCH, f"no thread {tid} in the core file")
        v = th.registers
        return Registers(pc=v["rip"], sp=v["rsp"], bp=v["rbp"], fs_base=v["fs_base"],
                         values=dict(v))

    def pc(self, tid: int) -> int:
        return self.registers(tid).pc

    def debug_register(self, tid: int, index: int) -> int:
        return 0  # a core keeps no debug registers: none were set

    # ----- memory -----

    def _segment_at(self, addr: int) -> Segment | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            s = self._segs[i]
            if addr < s.vaddr + s.memsz:
                return s
        return None

    def _file_at(self, addr: int) -> FileMapping | None:
        i = bisect.bisect_right(self._file_starts, addr) - 1
        if i >= 0 and addr < self._files[i].end:
            return self._files[i]
        return None

    def _file_map(self, path: str) -> mmap.mmap | None:
        if path not in self._maps:
            real = self.executable if path == self._exe_path else path
            try:
                with open(real, "rb") as f:
                    self._maps[path] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                self._maps[path] = None
        return self._maps[path]

    def read_memory(self, addr: int, size: int) -> bytes:
        out = bytearray()
        core = self.image.map
        while size > 0:
            seg = self._segment_at(addr)
            if seg is None:
                raise _unreadable(addr)
            off = addr - seg.vaddr
            n = min(size, seg.memsz - off)
            if off < seg.filesz:  # in the core
                k = min(n, seg.filesz - off)
                out += core[seg.offset + off:seg.offset + off + k]
            else:  # left out of the core: the file mapped there
                f = self._file_at(addr)
                data = self._file_map(f.path) if f is not None else None
                if f is None or data is None:
                    raise _unreadable(addr)
                k = min(n, f.end - addr)
                start = f.offset + (addr - f.start)
                chunk = data[start:start + k]
                if len(chunk) < k:  # past the file's end: the kernel maps zeros
                    chunk += bytes(k - len(chunk))
                out += chunk
            addr += k
            size -= k
        return bytes(out)

    def raw_reader(self) -> RawRead:
        return self.read_memory

    def vector_reader(self) -> VectorRead | None:
        return None  # the core's segments are read one range at a time

    def memory_map(self) -> list[MemoryRegion]:
        out = []
        for s in self._segs:
            perms = "".join(c if s.flags & bit else "-" for bit, c in _PERMS.items()) + "p"
            f = self._file_at(s.vaddr)
            out.append(MemoryRegion(s.vaddr, s.vaddr + s.memsz, perms,
                                    f.offset + (s.vaddr - f.start) if f else 0,
                                    f.path if f else ""))
        return out

    def auxv(self) -> dict[int, int]:
        return dict(self.image.auxv)

    # ----- ending -----

    def detach(self) -> None:
        self.close()

    def kill(self) -> int:
        self.close()
        return 0

    def close(self) -> None:
        for m in self._maps.values():
            if m is not None:
                m.close()
        self._maps.clear()
        self.image.close()
