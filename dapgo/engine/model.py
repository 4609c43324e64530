"""The engine's data model: plain attrs classes shared by the facade and its callers.

Nothing here knows about DAP; the server layer maps these onto protocol messages.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Literal, TypeAlias

import attrs

LaunchMode = Literal["exec", "debug", "test", "core"]
StepKind = Literal["over", "in", "out"]
StopReason = Literal[
    "entry", "breakpoint", "function breakpoint", "pause", "step", "exception", "data breakpoint",
    "instruction breakpoint"
]
DisassemblyFlavor = Literal["go", "intel"]
OutputCategory = Literal["stdout", "stderr", "console", "important"]
Console = Literal["internalConsole", "integratedTerminal", "externalTerminal"]
# Asks the editor to run (argv, cwd, env additions) in its terminal (DAP runInTerminal); the
# Future fails with a DebuggerError when the editor refuses.
RunInTerminal: TypeAlias = Callable[[list[str], str, dict[str, str | None]], "Future[None]"]


@attrs.frozen
class LaunchConfig:
    """What to start: the same attribute names and meanings as vscode-go / Delve."""

    program: str
    mode: LaunchMode = "debug"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str | None], ...] = ()  # None removes the variable
    cwd: str | None = None
    build_flags: tuple[str, ...] = ()  # `go build` arguments, one per item (already split)
    output: str | None = None  # where to put the built binary (vscode-go `output`)
    core_file: str | None = None  # mode "core": the core file (Delve's `coreFilePath`)
    debug_info_dirs: tuple[str, ...] = ()  # where separate debug files are looked for
    no_debug: bool = False  # Run Without Debugging: build and run, untraced
    console: Console = "internalConsole"  # where the program's stdin/stdout are


@attrs.frozen
class SourceBreakpointSpec:
    line: int
    condition: str | None = None
    hit_condition: str | None = None
    log_message: str | None = None


@attrs.frozen
class FunctionBreakpointSpec:
    name: str
    condition: str | None = None
    hit_condition: str | None = None


@attrs.frozen
class InstructionBreakpointSpec:
    address: int
    condition: str | None = None
    hit_condition: str | None = None


@attrs.frozen
class BreakpointStatus:
    """The engine's answer for one requested breakpoint (order matches the request)."""

    id: int
    verified: bool
    path: str | None = None
    line: int | None = None
    message: str | None = None
    address: int | None = None  # an instruction breakpoint's


@attrs.frozen
class Instruction:
    """One disassembled instruction (or, when `valid` is false, a byte that is not code)."""

    address: int
    data: bytes
    text: str
    symbol: str | None = None  # the function it belongs to (as Delve)
    path: str | None = None
    line: int | None = None
    valid: bool = True


@attrs.frozen
class ThreadInfo:
    """A goroutine shown as a DAP thread: id is the goroutine id."""

    id: int
    name: str


@attrs.frozen
class FrameInfo:
    function: str
    path: str | None
    line: int
    pc: int


@attrs.frozen
class ScopeInfo:
    name: str
    handle: object  # opaque engine handle for `variables`, None when empty
    expensive: bool = False
    presentation_hint: str | None = None  # "arguments" | "locals" | "registers"


@attrs.frozen
class VariableInfo:
    name: str
    value: str
    type: str
    handle: object | None = None  # opaque handle for children, None when a leaf
    named_children: int | None = None
    indexed_children: int | None = None
    memory_reference: int | None = None  # the value's address, when it is in memory
    evaluate_name: str | None = None  # the Go expression for it (dapgo.engine.evalnames)


@attrs.frozen
class ThreadsAnswer:
    """Goroutines as threads, and how many matching ones maxGoroutines left out."""

    threads: list[ThreadInfo]
    omitted: int = 0
    omitted_message: str = ""  # console text saying so


@attrs.frozen
class CommandAnswer:
    """What a `dapgo ...` console command prints; whether the threads view changed."""

    text: str
    threads_changed: bool = False
    goroutines: tuple[int, ...] = ()  # the goroutines a listing named (for -exec)


@attrs.frozen
class DataBreakpointInfo:
    """Answer to dataBreakpointInfo: data_id None when the value cannot be watched."""

    data_id: str | None
    description: str
    access_types: tuple[str, ...] = ()


@attrs.frozen
class DataBreakpointSpec:
    data_id: str
    access_type: str = "write"
    condition: str | None = None
    hit_condition: str | None = None


@attrs.frozen
class ExceptionInfo:
    """Why a goroutine stopped on a panic or fatal error."""

    exception_id: str  # "panic" or "fatal error"
    description: str  # the panic value or error message, as Go would print it
    type_name: str = ""  # the panic value's dynamic type
    stack: str = ""  # the goroutine's stack, one "function()\n\tfile:line" per frame
    break_mode: str = "unhandled"


# ---- events the engine reports (from its own thread) ----


@attrs.frozen
class Stopped:
    reason: StopReason
    thread_id: int
    hit_breakpoint_ids: tuple[int, ...] = ()
    description: str | None = None
    text: str | None = None


@attrs.frozen
class Continued:
    thread_id: int


@attrs.frozen
class Output:
    category: OutputCategory
    text: str
    path: str | None = None  # where it comes from (a logpoint's line)
    line: int | None = None


@attrs.frozen
class Exited:
    exit_code: int


@attrs.frozen
class BreakpointChanged:
    status: BreakpointStatus


@attrs.frozen
class ProcessStarted:
    """The program is running under dapgo (DAP's `process` event)."""

    name: str  # the program's path
    pid: int
    start_method: Literal["launch", "attach", "attachForSuspendedLaunch"]


@attrs.frozen
class Progress:
    """A long step (a build, a debug info download): start, updates, end, one `id`."""

    id: str
    kind: Literal["start", "update", "end"]
    title: str = ""  # start only
    message: str | None = None
    percentage: int | None = None


EngineEvent = (Stopped | Continued | Output | Exited | BreakpointChanged | ProcessStarted
               | Progress)
