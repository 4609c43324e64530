"""x86-64 debug registers (DR0-DR3, DR6, DR7): hardware watchpoints for data breakpoints.

Pure encoding and allocation (which register watches which aligned span, what DR7 says) plus
`DebugRegisterSet`, which applies a set to threads through the process backend's
`debug_register`/`set_debug_register`. Debug registers are per thread and a cloned thread
starts with none: the backend applies the current set to every new thread (see
TracedProcess.on_new_thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import attrs

NUM_SLOTS = 4
DR6_HIT_MASK = 0xF

AccessType = Literal["write", "readWrite"]
_RW_BITS = {"write": 0b01, "readWrite": 0b11}
_LEN_BITS = {1: 0b00, 2: 0b01, 8: 0b10, 4: 0b11}


class WatchpointError(Exception):
    """The watch cannot be set; the message says why (e.g. all four registers in use)."""


@attrs.frozen
class Slot:
    """One debug register's job: watch `size` bytes at aligned `addr` for `access`."""

    addr: int
    size: int
    access: AccessType
    owner: int  # the data breakpoint id


def split_aligned(addr: int, size: int) -> list[tuple[int, int]]:
    """Cover [addr, addr+size) with aligned spans of 1, 2, 4 or 8 bytes, as few as possible."""
    spans = []
    end = addr + size
    while addr < end:
        for n in (8, 4, 2, 1):
            if addr % n == 0 and addr + n <= end:
                spans.append((addr, n))
                addr += n
                break
    return spans


def dr7_value(slots: list[Slot | None]) -> int:
    value = 0
    for i, slot in enumerate(slots):
        if slot is None:
            continue
        value |= 1 << (2 * i)  # local enable
        value |= _RW_BITS[slot.access] << (16 + 4 * i)
        value |= _LEN_BITS[slot.size] << (18 + 4 * i)
    return value


def allocate(requests: list[tuple[int, int, int, AccessType]]) -> list[Slot | None]:
    """Assign (id, addr, size, access) requests to the four registers, or raise."""
    slots: list[Slot] = []
    for owner, addr, size, access in requests:
        if access not in _RW_BITS:
            raise WatchpointError(
                f"access type {access!r} is not supported by x86 debug registers "
                "(use write or readWrite)"
            )
        for span_addr, span_size in split_aligned(addr, size):
            slots.append(Slot(span_addr, span_size, access, owner))
    if len(slots) > NUM_SLOTS:
        raise WatchpointError(
            f"these data breakpoints need {len(slots)} hardware debug registers; x86-64 has "
            f"{NUM_SLOTS} (each covers at most 8 aligned bytes). Remove one and try again."
        )
    return [*slots, *([None] * (NUM_SLOTS - len(slots)))]


class DebugRegisterSet:
    """Writes a register allocation to threads and reads which slots fired."""

    def __init__(self, read: Callable[[int, int], int], write: Callable[[int, int, int], None]):
        """`read(tid, n)` / `write(tid, n, value)`: debug register DRn of a stopped thread."""
        self._read = read
        self._write = write
        self.slots: list[Slot | None] = [None] * NUM_SLOTS

    @property
    def active(self) -> bool:
        return any(self.slots)

    def apply(self, tid: int) -> None:
        """Program one stopped thread with the current slots (DR7 cleared first)."""
        self._write(tid, 7, 0)
        for i, slot in enumerate(self.slots):
            if slot is not None:
                self._write(tid, i, slot.addr)
        dr7 = dr7_value(self.slots)
        if dr7:
            self._write(tid, 7, dr7)

    def dr7(self, tid: int) -> int:
        return self._read(tid, 7)

    def fired(self, tid: int) -> list[Slot] | None:
        """Slots whose trap fired on `tid` (from DR6), and clear DR6; None when DR6 says
        no debug register fired (slots changed since the trap: an empty list)."""
        dr6 = self._read(tid, 6)
        if not dr6 & DR6_HIT_MASK:
            return None
        self._write(tid, 6, 0)
        return [s for i, s in enumerate(self.slots) if s is not None and dr6 & (1 << i)]
