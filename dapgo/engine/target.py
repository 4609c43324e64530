"""The program under debug as the engine core sees it: memory, thread registers, current g.

Wraps a `TracedProcess` (ptrace layer) and a `BinaryInfo` (dwarf layer); every call that
touches the process goes through the ptrace executor thread.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.ptrace.executor import PtraceExecutor
from dapgo.engine.ptrace.process import TracedProcess

T = TypeVar("T")

# The g of a thread on linux/amd64 lives at FS base - 8 (Go's TLS slot for pure Go binaries).
G_TLS_OFFSET = -8


@attrs.frozen
class Registers:
    """The registers the engine core reads, by name (a snapshot)."""

    pc: int
    sp: int
    bp: int
    fs_base: int
    values: dict[str, int]


class Target:
    def __init__(self, proc: TracedProcess, binary: BinaryInfo, executor: PtraceExecutor) -> None:
        self.proc = proc
        self.binary = binary
        self.executor = executor

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return self.executor.call(fn, *args)

    # ----- memory -----

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        return self.call(self.proc.read_memory, addr, size)

    def write(self, addr: int, data: bytes) -> None:
        self.call(self.proc.write_memory, addr, data)

    def u64(self, addr: int) -> int:
        return int(struct.unpack("<Q", self.read(addr, 8))[0])

    def uint(self, addr: int, size: int) -> int:
        return int.from_bytes(self.read(addr, size), "little")

    # ----- threads -----

    def thread_ids(self) -> list[int]:
        return sorted(self.proc.threads)

    def registers(self, tid: int) -> Registers:
        regs = self.call(self.proc.get_regs, tid)
        values = {name: int(getattr(regs, name)) for name, _ in regs._fields_}
        return Registers(
            pc=values["rip"], sp=values["rsp"], bp=values["rbp"], fs_base=values["fs_base"],
            values=values,
        )

    def g_of_thread(self, tid: int) -> int:
        """Address of the g running on thread `tid` (0 when the runtime has none yet)."""
        fs_base = self.registers(tid).fs_base
        if fs_base == 0:
            return 0
        try:
            return self.u64(fs_base + G_TLS_OFFSET)
        except OSError:
            return 0
