"""A program being debugged: its backend, its binary, and the readers built on them.

Made by the facade when a program is launched or attached (or, for a read-only backend,
opened) and owned by the engine's owner thread from then on. Making it relocates the binary
to where the process has it loaded (dapgo.engine.loadbias), before any address is read.
"""

from __future__ import annotations

import attrs

from dapgo.engine.backend import Process
from dapgo.engine.bpf.ahead import CompileAhead
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.goroutines import GoroutineReader
from dapgo.engine.loadbias import executable_bias
from dapgo.engine.output import OutputPump
from dapgo.engine.stopmemory import StopMemory
from dapgo.engine.target import Target
from dapgo.engine.values import ValueReader


@attrs.define(eq=False)
class Program:
    process: Process
    binary: BinaryInfo
    target: Target = attrs.field(init=False)
    goroutines: GoroutineReader = attrs.field(init=False)
    memory: StopMemory = attrs.field(init=False)  # what `values` reads, cached for one stop
    values: ValueReader = attrs.field(init=False)
    pump: OutputPump | None = None  # forwarding its stdout/stderr, when dapgo started it
    tmpdir: str | None = None  # holding the binary dapgo built for it
    # attached, not launched: it must outlive a killed dapgo, so its breakpoints are uprobes
    # (never int3 bytes) that stop a thread with a signal harmless to it untraced
    attached: bool = False
    # its BPF program, compiled before the attach stopped it (taken by the kernel probes)
    bpf_ahead: CompileAhead | None = None

    def __attrs_post_init__(self) -> None:
        self.binary.relocate(executable_bias(self.process, self.binary))
        self.target = Target(self.process, self.binary)
        self.goroutines = GoroutineReader(self.target)
        self.memory = StopMemory(self.target)
        self.values = ValueReader(self.memory)

    @property
    def pid(self) -> int:
        return self.process.pid
