"""Which goroutines wait on a channel (`dapgo goroutines -chan EXPR`, as Delve's).

A goroutine blocked in a channel send, receive or select is parked with a list of
`runtime.sudog`s in `g.waiting` (linked by `sudog.waitlink`), one per channel it waits on,
each naming its channel in `sudog.c`. Field offsets come from the binary's DWARF.
"""

from __future__ import annotations

from collections.abc import Iterable

from dapgo.engine.errors import DebuggerError
from dapgo.engine.goroutines import Goroutine
from dapgo.engine.target import Target

MAX_SUDOGS = 1024  # a select has one per case; a longer chain is corrupt


def waiting_on(target: Target, goroutines: Iterable[Goroutine], chan: int) -> list[Goroutine]:
    """The goroutines among `goroutines` that wait on the channel whose hchan is at `chan`."""
    g_lay = target.binary.struct_layout("runtime.g")
    s_lay = target.binary.struct_layout("runtime.sudog")
    if g_lay is None or s_lay is None:
        raise DebuggerError("this program's DWARF has no runtime.g / runtime.sudog")
    try:
        waiting, c_off, link_off = (g_lay.offset("waiting"), s_lay.offset("c"),
                                    s_lay.offset("waitlink"))
    except KeyError as exc:
        raise DebuggerError(f"runtime field {exc} not found in this Go version") from None
    out = []
    for g in goroutines:
        try:
            sg = target.u64(g.addr + waiting)
            for _ in range(MAX_SUDOGS):
                if sg == 0:
                    break
                if target.u64(sg + c_off) == chan:
                    out.append(g)
                    break
                sg = target.u64(sg + link_off)
        except OSError:
            continue
    return out
