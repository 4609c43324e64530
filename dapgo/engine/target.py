"""The program under debug as the engine core reads it: memory, thread registers, current g.

Joins a backend (dapgo.engine.backend.Process: a live ptrace process or a read-only one) and
the binary's debug information (dapgo.engine.dwarf.BinaryInfo). Used on the owner thread.
"""

from __future__ import annotations

import errno
import struct

from dapgo.engine.backend import Process, Registers
from dapgo.engine.dwarf import BinaryInfo

__all__ = ["Registers", "Target"]

_USER_END = 1 << 63  # no user-space address on x86-64 is this high


class Target:
    def __init__(self, process: Process, binary: BinaryInfo) -> None:
        self.process = process
        self.binary = binary

    @property
    def pid(self) -> int:
        return self.process.pid

    # ----- memory -----

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        if not 0 <= addr < _USER_END or size > _USER_END - addr:
            # a garbage pointer (an optimized function's stale register, say): unreadable
            raise OSError(errno.EFAULT, f"address {addr:#x} is outside user space")
        return self.process.read_memory(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        self.process.write_memory(addr, data)

    def u64(self, addr: int) -> int:
        return int(struct.unpack("<Q", self.read(addr, 8))[0])

    def uint(self, addr: int, size: int) -> int:
        return int.from_bytes(self.read(addr, size), "little")

    # ----- threads -----

    def thread_ids(self) -> list[int]:
        return self.process.thread_ids()

    def has_thread(self, tid: int) -> bool:
        return self.process.has_thread(tid)

    def registers(self, tid: int) -> Registers:
        return self.process.registers(tid)

    def g_of_thread(self, tid: int) -> int:
        """Address of the g running on thread `tid` (0 when the runtime has none yet)."""
        fs_base = self.registers(tid).fs_base
        if fs_base == 0:
            return 0
        try:
            return self.u64(fs_base + self.binary.g_tls_offset)
        except OSError:
            return 0
