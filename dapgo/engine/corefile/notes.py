"""The parts of an x86-64 Linux ELF core that a debugger reads, decoded with pyelftools.

`CoreImage.open` checks the file (ET_CORE, x86-64), then reads its notes: one NT_PRSTATUS
per thread (signal, thread id, the user_regs_struct registers; the kernel writes the thread
that caused the dump first), NT_PRPSINFO (pid, command), NT_SIGINFO (the signal's code and
address), NT_AUXV and NT_FILE (which file backs which mapping), and its PT_LOAD segments
(memory; a segment's file size may be shorter than its memory size when the kernel left out
pages it can find again in a mapped file). Layouts are Linux's x86-64 ones: struct
elf_prstatus puts the registers at offset 112; the register order is python-ptrace's
`user_regs_struct`, the same the live backend reads.
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from typing import IO, Any, cast

import attrs
from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import NoteSegment
from ptrace.binding.linux_struct import user_regs_struct

from dapgo.engine.backend import parse_auxv
from dapgo.engine.errors import BinaryFormatError

PRSTATUS_REGS_OFFSET = 112  # offsetof(struct elf_prstatus, pr_reg) on x86-64
PRSTATUS_PID_OFFSET = 32
REGISTER_NAMES = tuple(name for name, _ in user_regs_struct._fields_)
REGS_SIZE = ctypes.sizeof(user_regs_struct)


@attrs.frozen
class CoreThread:
    tid: int
    signal: int  # pr_cursig: the signal this thread was handling (0: none)
    registers: dict[str, int]


@attrs.frozen
class FileMapping:
    start: int
    end: int
    offset: int  # in the file, bytes
    path: str


@attrs.frozen
class Segment:
    vaddr: int
    memsz: int
    offset: int  # of its bytes in the core file
    filesz: int  # bytes present in the core (the rest: in a mapped file, or zero pages)
    flags: int  # PF_R 4, PF_W 2, PF_X 1


@attrs.frozen
class SignalInfo:
    signo: int
    code: int
    addr: int  # si_addr of a fault (SIGSEGV, SIGBUS, ...)


def decode_prstatus(desc: bytes) -> CoreThread:
    if len(desc) < PRSTATUS_REGS_OFFSET + REGS_SIZE:
        raise BinaryFormatError(f"NT_PRSTATUS note of {len(desc)} bytes is too short")
    cursig = struct.unpack_from("<h", desc, 12)[0]
    tid = struct.unpack_from("<i", desc, PRSTATUS_PID_OFFSET)[0]
    words = struct.unpack_from(f"<{len(REGISTER_NAMES)}Q", desc, PRSTATUS_REGS_OFFSET)
    return CoreThread(tid, cursig, dict(zip(REGISTER_NAMES, words, strict=True)))


class CoreImage:
    """An ELF core file, mapped; notes decoded once when opened."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError) as exc:
            raise BinaryFormatError(f"cannot read core file {path}: {exc}") from exc
        self.threads: list[CoreThread] = []
        self.files: list[FileMapping] = []
        self.segments: list[Segment] = []
        self.auxv: dict[int, int] = {}
        self.pid = 0
        self.command = ""
        self.siginfo: SignalInfo | None = None
        try:
            self._read(ELFFile(cast(IO[bytes], self.map)))
        except (ELFError, ConstructError, struct.error) as exc:
            self.map.close()
            raise BinaryFormatError(f"{path} is not an ELF core file ({exc})") from exc
        except BinaryFormatError:
            self.map.close()
            raise

    def _read(self, elf: ELFFile) -> None:
        if elf["e_type"] != "ET_CORE":
            raise BinaryFormatError(f"{self.path} is not a core file (ELF type "
                                    f"{elf['e_type']})")
        if elf["e_machine"] != "EM_X86_64" or elf.elfclass != 64:
            raise BinaryFormatError(f"{self.path} is not an x86-64 core file")
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                self.segments.append(Segment(seg["p_vaddr"], seg["p_memsz"], seg["p_offset"],
                                             seg["p_filesz"], seg["p_flags"]))
            elif seg["p_type"] == "PT_NOTE":
                for note in cast(NoteSegment, seg).iter_notes():
                    self._note(note)
        self.segments.sort(key=lambda s: s.vaddr)
        if not self.threads:
            raise BinaryFormatError(f"{self.path} has no threads (no NT_PRSTATUS note)")
        if not self.pid:
            self.pid = self.threads[0].tid

    def _note(self, note: Any) -> None:  # a pyelftools Container
        kind = note["n_type"]
        if note["n_name"] != "CORE":
            return
        if kind == "NT_PRSTATUS":
            self.threads.append(decode_prstatus(bytes(note["n_descdata"])))
        elif kind == "NT_PRPSINFO":
            desc = note["n_desc"]
            self.pid = int(desc["pr_pid"])
            self.command = bytes(desc["pr_psargs"]).split(b"\0")[0].decode("utf-8", "replace")
        elif kind == "NT_SIGINFO":
            raw = bytes(note["n_descdata"])
            signo, _errno, code = struct.unpack_from("<iii", raw, 0)
            addr = struct.unpack_from("<Q", raw, 16)[0] if len(raw) >= 24 else 0
            self.siginfo = SignalInfo(signo, code, addr)
        elif kind == "NT_AUXV":
            self.auxv = parse_auxv(bytes(note["n_descdata"]))
        elif kind == "NT_FILE":
            desc = note["n_desc"]
            page = int(desc["page_size"])
            for entry, name in zip(desc["Elf_Nt_File_Entry"], desc["filename"], strict=False):
                path = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
                self.files.append(FileMapping(int(entry["vm_start"]), int(entry["vm_end"]),
                                              int(entry["page_offset"]) * page, path))

    def close(self) -> None:
        self.map.close()
