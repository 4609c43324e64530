"""Goroutines read from the runtime: `runtime.allgs`, each g's id, status and saved registers.

Field offsets of runtime.g, runtime.gobuf and runtime.m come from DWARF, never constants.
"""

from __future__ import annotations

import struct

import attrs

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import DebuggerError
from dapgo.engine.target import Target

# runtime/runtime2.go goroutine states
G_IDLE, G_RUNNABLE, G_RUNNING, G_SYSCALL, G_WAITING = 0, 1, 2, 3, 4
G_DEAD = 6
G_SCAN = 0x1000


@attrs.frozen
class Goroutine:
    id: int
    addr: int
    status: int
    pc: int  # saved pc/sp (g.sched, or g.syscallpc/sp in a system call)
    sp: int
    start_pc: int
    go_pc: int
    stack_hi: int  # top of its stack: `stack_hi - sp` survives the runtime copying the stack
    thread_id: int | None  # OS thread it runs on, if any


@attrs.define
class _Layout:
    size: int
    goid: int
    status: int
    sched_pc: int
    sched_sp: int
    syscall_pc: int
    syscall_sp: int
    start_pc: int
    go_pc: int
    stack_hi: int
    m: int
    m_procid: int
    m_curg: int


def _layout(binary: BinaryInfo) -> _Layout:
    g = binary.struct_layout("runtime.g")
    m = binary.struct_layout("runtime.m")
    if g is None or m is None:
        raise DebuggerError("runtime.g/runtime.m not found in the binary's DWARF")
    return _Layout(
        size=g.size,
        goid=g.offset("goid"),
        status=g.offset("atomicstatus"),
        sched_pc=g.offset("sched.pc"),
        sched_sp=g.offset("sched.sp"),
        syscall_pc=g.offset("syscallpc"),
        syscall_sp=g.offset("syscallsp"),
        start_pc=g.offset("startpc"),
        go_pc=g.offset("gopc"),
        stack_hi=g.offset("stack.hi"),
        m=g.offset("m"),
        m_procid=m.offset("procid"),
        m_curg=m.offset("curg"),
    )


class GoroutineReader:
    def __init__(self, target: Target) -> None:
        self.target = target
        self._lay: _Layout | None = None

    @property
    def layout(self) -> _Layout:
        if self._lay is None:
            self._lay = _layout(self.target.binary)
        return self._lay

    def _q(self, data: bytes, off: int) -> int:
        return int(struct.unpack_from("<Q", data, off)[0])

    def read(self, addr: int) -> Goroutine:
        lay = self.layout
        data = self.target.read(addr, lay.size)
        status = int(struct.unpack_from("<I", data, lay.status)[0]) & ~G_SCAN
        pc, sp = self._q(data, lay.sched_pc), self._q(data, lay.sched_sp)
        if status == G_SYSCALL:
            pc, sp = self._q(data, lay.syscall_pc), self._q(data, lay.syscall_sp)
        thread_id = None
        m = self._q(data, lay.m)
        if m and status in (G_RUNNING, G_SYSCALL):
            try:
                thread_id = self.target.u64(m + lay.m_procid) or None
            except OSError:
                thread_id = None
        return Goroutine(
            id=self._q(data, lay.goid), addr=addr, status=status, pc=pc, sp=sp,
            start_pc=self._q(data, lay.start_pc), go_pc=self._q(data, lay.go_pc),
            stack_hi=self._q(data, lay.stack_hi),
            thread_id=thread_id,
        )

    def all(self) -> list[Goroutine]:
        """Every goroutine that is not dead, in allgs order."""
        sym = self.target.binary.symbol("runtime.allgs")
        if sym is None:
            return []
        ptr, length = struct.unpack("<QQ", self.target.read(sym.addr, 16))
        if not ptr or not length:
            return []
        addrs = struct.unpack(f"<{length}Q", self.target.read(ptr, 8 * length))
        out = []
        for a in addrs:
            if not a:
                continue
            g = self.read(a)
            if g.status != G_DEAD:
                out.append(g)
        return out

    def of_thread(self, tid: int) -> Goroutine | None:
        """The user goroutine running on OS thread `tid` (following m.curg from g0)."""
        addr = self.target.g_of_thread(tid)
        if not addr:
            return None
        g = self.read(addr)
        if g.id == 0:  # g0 or gsignal: the user goroutine is m.curg
            m = self.target.u64(addr + self.layout.m)
            if not m:
                return None
            curg = self.target.u64(m + self.layout.m_curg)
            if not curg:
                return None
            g = self.read(curg)
        return g
