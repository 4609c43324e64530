"""A program being debugged: its backend, its binary, and the readers built on them.

Made by the facade when a program is launched or attached (or, for a read-only backend,
opened) and owned by the engine's owner thread from then on.
"""

from __future__ import annotations

import attrs

from dapgo.engine.backend import Process
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.goroutines import GoroutineReader
from dapgo.engine.output import OutputPump
from dapgo.engine.target import Target
from dapgo.engine.values import ValueReader


@attrs.define(eq=False)
class Program:
    process: Process
    binary: BinaryInfo
    target: Target = attrs.field(init=False)
    goroutines: GoroutineReader = attrs.field(init=False)
    values: ValueReader = attrs.field(init=False)
    pump: OutputPump | None = None  # forwarding its stdout/stderr, when dapgo started it
    tmpdir: str | None = None  # holding the binary dapgo built for it
    # attached, not launched: it must outlive a killed dapgo, so its breakpoints are uprobes
    # (never int3 bytes) that stop a thread with a signal harmless to it untraced
    attached: bool = False

    def __attrs_post_init__(self) -> None:
        self.target = Target(self.process, self.binary)
        self.goroutines = GoroutineReader(self.target)
        self.values = ValueReader(self.target)

    @property
    def pid(self) -> int:
        return self.process.pid
