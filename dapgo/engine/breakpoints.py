"""User breakpoints: ids, what each was asked for, the addresses it resolved to.

Pure book-keeping: which addresses should carry an int3 and which breakpoint ids an address
belongs to. Inserting and removing the int3 bytes is the ptrace layer's job, driven by the
facade from `wanted_addresses()`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Literal

import attrs

from dapgo.engine.model import BreakpointStatus

BreakpointKind = Literal["source", "function", "exception"]


@attrs.define
class Breakpoint:
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
    kernel_spec: tuple[object, ...] = ()  # what the kernel was last given (or "shared")

    @property
    def verified(self) -> bool:
        return bool(self.addresses)

    def status(self) -> BreakpointStatus:
        return BreakpointStatus(
            id=self.id, verified=self.verified, path=self.path, line=self.line,
            message=None if self.verified else self.message,
        )


class BreakpointTable:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._by_group: dict[str, dict[str, Breakpoint]] = {}  # group -> key -> bp

    def new_id(self) -> int:
        return next(self._ids)

    def replace_group(self, group: str, bps: list[Breakpoint]) -> None:
        """DAP sets all breakpoints of a file (or all function breakpoints) at once."""
        self._by_group[group] = {bp.key: bp for bp in bps}

    def group(self, group: str) -> list[Breakpoint]:
        return list(self._by_group.get(group, {}).values())

    def existing(self, group: str, key: str) -> Breakpoint | None:
        return self._by_group.get(group, {}).get(key)

    def all(self) -> list[Breakpoint]:
        return [bp for g in self._by_group.values() for bp in g.values()]

    def wanted_addresses(self) -> set[int]:
        """Addresses that need an int3 (breakpoints done in the kernel need none)."""
        return {a for bp in self.all() if not bp.in_kernel for a in bp.addresses}

    def at(self, addr: int) -> list[Breakpoint]:
        return [bp for bp in self.all() if not bp.in_kernel and addr in bp.addresses]

    def by_ids(self, ids: Iterable[int]) -> list[Breakpoint]:
        wanted = set(ids)
        return [bp for bp in self.all() if bp.id in wanted]
