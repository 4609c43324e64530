"""Breakpoints: the user's (logical) breakpoints and every use of an address in the program.

A `UserBreakpoint` is what the user asked for (a line, a function, an exception filter),
with its condition, hit condition, log message and hit count, resolved to addresses. An
address can carry several uses at once, its breaklets (as Delve's Breakpoint/Breaklet): the
user breakpoints resolved there, a stepping target, internal breakpoints (a watched local's
frame returning, a goroutine's stack moving), or an eBPF probe standing for a user
breakpoint. `BreakpointTable` knows them all, and so which addresses need an int3 byte;
`sync` makes the program's memory match.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Literal

import attrs

from dapgo.engine.backend import Process
from dapgo.engine.model import BreakpointStatus

BreakpointKind = Literal["source", "function", "exception"]
# handler(tid) of an internal breakpoint, run on the owner thread with that thread stopped
InternalHandler = Callable[[int], None]


@attrs.define(eq=False)
class UserBreakpoint:
    id: int
    kind: BreakpointKind
    key: str  # "path:line" for source, the function name for function breakpoints
    addresses: list[int]
    condition: str | None = None
    hit_condition: str | None = None
    log_message: str | None = None
    path: str | None = None
    line: int | None = None
    message: str | None = None
    hits: int = 0
    # evaluated by a uprobe in the kernel instead of an int3 (eBPF logpoint or condition)
    in_kernel: bool = False
    # what the kernel was last given; ("shared", ...) / ("ptrace", ...): why it is not there
    kernel_spec: tuple[object, ...] = ()
    # where its uprobes are when not at its own addresses (a latency metric point's
    # function entries and RETs)
    probe_sites: list[int] = attrs.field(factory=list)

    @property
    def verified(self) -> bool:
        return bool(self.addresses)

    @property
    def is_logpoint(self) -> bool:
        return self.log_message is not None

    def status(self) -> BreakpointStatus:
        return BreakpointStatus(
            id=self.id, verified=self.verified, path=self.path, line=self.line,
            message=None if self.verified else self.message,
        )


class BreakpointTable:
    """Every breakpoint use by address: user breakpoints by group (a source file, the
    function breakpoints, the exception filters), stepping targets, internal ones."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._by_group: dict[str, dict[str, UserBreakpoint]] = {}  # group -> key -> bp
        self.step_targets: frozenset[int] = frozenset()  # a step's temporary breakpoints
        self._internal: dict[int, InternalHandler] = {}

    def new_id(self) -> int:
        return next(self._ids)

    # ----- user breakpoints -----

    def replace_group(self, group: str, bps: list[UserBreakpoint]) -> list[UserBreakpoint]:
        """DAP sets all breakpoints of a file (or all function breakpoints) at once;
        returns the ones this drops."""
        previous = self.group(group)
        self._by_group[group] = {bp.key: bp for bp in bps}
        return [b for b in previous if b not in bps]

    def group(self, group: str) -> list[UserBreakpoint]:
        return list(self._by_group.get(group, {}).values())

    def existing(self, group: str, key: str) -> UserBreakpoint | None:
        return self._by_group.get(group, {}).get(key)

    def all(self) -> list[UserBreakpoint]:
        return [bp for g in self._by_group.values() for bp in g.values()]

    def at(self, addr: int) -> list[UserBreakpoint]:
        """User breakpoints whose int3 is at `addr` (kernel-placed ones have none)."""
        return [bp for bp in self.all() if not bp.in_kernel and addr in bp.addresses]

    def by_ids(self, ids: Iterable[int]) -> list[UserBreakpoint]:
        wanted = set(ids)
        return [bp for bp in self.all() if bp.id in wanted]

    def probed(self, addr: int) -> bool:
        """Does a uprobe (a kernel-placed user breakpoint) sit at `addr`?"""
        return any(bp.in_kernel and addr in (bp.probe_sites or bp.addresses)
                   for bp in self.all())

    # ----- internal breakpoints -----

    def internal(self, addr: int) -> InternalHandler | None:
        return self._internal.get(addr)

    def set_internal(self, addr: int, handler: InternalHandler) -> None:
        self._internal[addr] = handler

    def drop_internal(self, addr: int) -> None:
        self._internal.pop(addr, None)

    def internal_addresses(self, handler: InternalHandler) -> list[int]:
        return [a for a, h in self._internal.items() if h == handler]

    # ----- the int3 bytes -----

    def wanted(self) -> set[int]:
        """Addresses that need an int3: user breakpoints not done in the kernel, stepping
        targets and internal breakpoints."""
        out = {a for bp in self.all() if not bp.in_kernel for a in bp.addresses}
        return out | self.step_targets | set(self._internal)

    def sync(self, process: Process) -> list[UserBreakpoint]:
        """Make the int3 bytes in the program (stopped) match the table. A user breakpoint
        whose byte cannot be written loses that address (its message says why); returns the
        user breakpoints whose status changed."""
        wanted = self.wanted()
        have = process.breakpoints
        for addr in have - wanted:
            process.remove_breakpoint(addr)
        failed: set[int] = set()
        for addr in wanted - have:
            try:
                process.insert_breakpoint(addr)
            except OSError:
                failed.add(addr)
        changed = []
        for bp in self.all():
            bad = [a for a in bp.addresses if a in failed]
            if bad:
                bp.addresses = [a for a in bp.addresses if a not in failed]
                bp.message = f"cannot write a breakpoint at {bad[0]:#x}"
                changed.append(bp)
        return changed
