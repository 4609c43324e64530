"""Uprobes as BPF uprobe_multi links (kernel 6.6+): one bpf(BPF_LINK_CREATE) per batch.

No tracefs event is ever created and no uretprobe is ever used. The kernel removes a link's
probes when its file descriptor closes, so probes cannot outlive dapgo even if it is
killed. The pid filter covers every thread of the process, and a pid that has not yet
exec'd the binary too (its probes are installed when the binary is mapped).

Measured here: 2,000 probes attach in ~20 ms and detach in ~20 ms. Single perf-event
uprobes (perf_event_open on the uprobe PMU) attach as fast but each close waits for its own
RCU grace period: 2,000 took 223 s to remove, which is why they are not used.
"""

from __future__ import annotations

import ctypes as C
import errno
import os
import struct
from collections.abc import Callable

_libc = C.CDLL(None, use_errno=True)
_libc.syscall.restype = C.c_long


class AttachError(OSError):
    """A uprobe could not be created or attached."""


def vaddr_to_offset(path: str) -> list[tuple[int, int, int]]:
    """(vaddr, memsz, file offset) of each PT_LOAD segment of an ELF64 file."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            raise AttachError(errno.ENOEXEC, f"{path} is not a 64-bit ELF file")
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    segs = []
    for i in range(phnum):
        p_type, _flags, p_offset, p_vaddr, _pa, _fsz, p_memsz = struct.unpack_from(
            "<IIQQQQQ", ph, i * phentsize)
        if p_type == 1:
            segs.append((p_vaddr, p_memsz, p_offset))
    return segs


# --- BPF uprobe_multi links ---------------------------------------------------------------
_NR_BPF = 321
_BPF_LINK_CREATE = 28
BPF_TRACE_UPROBE_MULTI = 48  # enum bpf_attach_type; the program must be loaded with it


class _LinkCreate(C.Structure):
    _fields_ = [("prog_fd", C.c_uint32), ("target_fd", C.c_uint32),
                ("attach_type", C.c_uint32), ("flags", C.c_uint32),
                ("path", C.c_uint64), ("offsets", C.c_uint64), ("ref_ctr_offsets", C.c_uint64),
                ("cookies", C.c_uint64), ("cnt", C.c_uint32), ("um_flags", C.c_uint32),
                ("pid", C.c_uint32), ("pad", C.c_uint8 * 68)]


class UprobeLink:
    """Many uprobes on one binary as one BPF link (kernel 6.6+ uprobe_multi).

    Creating it is one syscall; closing it removes every probe with a single RCU grace
    period (closing thousands of single perf-event uprobes costs one grace period each:
    ~0.1 s apiece, minutes for a large trace)."""

    def __init__(self, binary: str, prog_fd: int, addrs: list[int], pid: int = -1,
                 offset_of: Callable[[int], int] | None = None) -> None:
        """`addrs` are process addresses; `offset_of` turns one into its file offset (the
        image's BinaryInfo.file_offset, which knows its load bias). Without it the
        addresses are taken as the file's static ones."""
        self.binary = os.path.abspath(binary)
        self.addresses = sorted(set(addrs))
        segs = vaddr_to_offset(self.binary) if offset_of is None else []

        def off(a: int) -> int:
            if offset_of is not None:
                try:
                    return offset_of(a)
                except ValueError as e:
                    raise AttachError(errno.EINVAL, str(e)) from e
            for vaddr, memsz, fo in segs:
                if vaddr <= a < vaddr + memsz:
                    return a - vaddr + fo
            raise AttachError(errno.EINVAL, f"address {a:#x} is not in {self.binary}")

        n = len(self.addresses)
        offsets = (C.c_uint64 * n)(*[off(a) for a in self.addresses])
        path = C.create_string_buffer(self.binary.encode())
        attr = _LinkCreate()
        attr.prog_fd = prog_fd
        attr.attach_type = BPF_TRACE_UPROBE_MULTI
        attr.path = C.cast(path, C.c_void_p).value or 0
        attr.offsets = C.cast(offsets, C.c_void_p).value or 0
        attr.cnt = n
        attr.pid = pid if pid > 0 else 0
        fd = _libc.syscall(_NR_BPF, _BPF_LINK_CREATE, C.byref(attr), C.sizeof(attr))
        if fd < 0:
            err = C.get_errno()
            raise AttachError(err, f"attaching {n} uprobes to {self.binary}"
                                   f"{f' (pid {pid})' if pid > 0 else ''}: "
                                   f"BPF_LINK_CREATE: {os.strerror(err)}")
        self.fd: int | None = int(fd)

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __len__(self) -> int:
        return len(self.addresses) if self.fd is not None else 0
