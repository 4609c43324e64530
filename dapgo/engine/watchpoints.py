"""Data breakpoints: what the user watches (address, size, access, owner frame) and ids.

Book-keeping only. The debug registers themselves are programmed by `hwbreak`; the facade
decides when (set, thread created, stack moved, frame returned, detach).
"""

from __future__ import annotations

import attrs

from dapgo.engine.errors import DebuggerError
from dapgo.engine.hwbreak import AccessType


@attrs.define
class DataBreakpoint:
    id: int
    data_id: str
    name: str
    addr: int
    size: int
    access: AccessType
    condition: str | None = None
    hit_condition: str | None = None
    hits: int = 0
    # for a variable on a goroutine's stack: whose, and where relative to the stack's top
    goid: int | None = None
    stack_offset: int | None = None  # stack.hi - addr: stays the same when the stack moves
    frame_return: int | None = None  # return address of the owning frame: scope ends there
    frame_depth: int | None = None  # stack.hi - SP after that return

    @property
    def on_stack(self) -> bool:
        return self.goid is not None


@attrs.frozen
class WatchTarget:
    """What `dataBreakpointInfo` found: enough to re-create the watch from its data id."""

    name: str
    addr: int
    size: int
    type_name: str
    goid: int | None = None
    stack_offset: int | None = None
    frame_return: int | None = None
    frame_depth: int | None = None

    def encode(self) -> str:
        opt = [self.goid, self.stack_offset, self.frame_return, self.frame_depth]
        fields = [f"{self.addr:x}", str(self.size), *("" if v is None else str(v) for v in opt)]
        return "/".join(fields) + "/" + self.type_name + "|" + self.name


def decode_data_id(data_id: str) -> WatchTarget:
    try:
        head, name = data_id.split("|", 1)
        addr, size, goid, off, ret, depth, type_name = head.split("/", 6)

        def opt(v: str) -> int | None:
            return int(v) if v else None

        return WatchTarget(name=name, addr=int(addr, 16), size=int(size), type_name=type_name,
                           goid=opt(goid), stack_offset=opt(off), frame_return=opt(ret),
                           frame_depth=opt(depth))
    except ValueError as exc:
        raise DebuggerError(f"not a data breakpoint id dapgo made: {data_id!r}") from exc
