"""What the user asks for, resolved: DAP's setBreakpoints, setFunctionBreakpoints,
setInstructionBreakpoints and setExceptionBreakpoints turned into `UserBreakpoint`s with
their addresses.

A breakpoint the user sets again (same line, same function, same filter) keeps its id and
hit count; its condition, hit condition and log message take the new values, checked as a
new one's would be. Placing them in the program (int3 or uprobe) is not done here.
"""

from __future__ import annotations

from dapgo.engine.breakpoints import BreakpointTable, UserBreakpoint
from dapgo.engine.disassembly import Disassembler, is_instruction_start
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.errors import DebuggerError
from dapgo.engine.exception_filters import EXCEPTION_FILTERS
from dapgo.engine.locspec import resolve
from dapgo.engine.logmessage import parse_log_message
from dapgo.engine.metrics import parse_metric
from dapgo.engine.model import (
    FunctionBreakpointSpec,
    InstructionBreakpointSpec,
    SourceBreakpointSpec,
)

FUNCTION_GROUP = "<function>"
EXCEPTION_GROUP = "<exception>"
INSTRUCTION_GROUP = "<instruction>"


def source_breakpoints(table: BreakpointTable, binary: BinaryInfo | None, path: str,
                       specs: list[SourceBreakpointSpec]) -> list[UserBreakpoint]:
    """The breakpoints of one source file, as the request lists them."""
    bps = []
    for spec in specs:
        key = f"{path}:{spec.line}"
        bp = table.existing(path, key)
        if bp is None:
            bp = UserBreakpoint(id=table.new_id(), kind="source", key=key, addresses=[],
                                path=path, line=spec.line)
            bp.addresses, bp.message = _resolve_line(binary, path, spec.line)
        bp.condition, bp.hit_condition = spec.condition, spec.hit_condition
        bp.log_message = spec.log_message
        _check_log_message(bp, binary, path)
        bps.append(bp)
    return bps


def _resolve_line(binary: BinaryInfo | None, path: str, line: int
                  ) -> tuple[list[int], str | None]:
    if binary is None:
        return [], "no program loaded yet"
    found = binary.addresses_for_line(path, line)
    return list(found.addresses), found.message


def _check_log_message(bp: UserBreakpoint, binary: BinaryInfo | None, path: str) -> None:
    """A log message that does not parse leaves the breakpoint unverified, saying why; a
    reused one that becomes valid again gets its addresses back."""
    if bp.log_message is not None:
        try:
            parse_log_message(bp.log_message)
            parse_metric(bp.log_message)
        except DebuggerError as exc:
            bp.addresses, bp.message = [], str(exc)
            return
    if not bp.addresses and bp.line is not None:
        bp.addresses, bp.message = _resolve_line(binary, path, bp.line)


def function_breakpoints(table: BreakpointTable, binary: BinaryInfo | None,
                         specs: list[FunctionBreakpointSpec]) -> list[UserBreakpoint]:
    bps = []
    for spec in specs:
        bp = table.existing(FUNCTION_GROUP, spec.name)
        if bp is None:
            bp = UserBreakpoint(id=table.new_id(), kind="function", key=spec.name,
                                addresses=[])
            if binary is None:
                bp.message = f"function not found: {spec.name}"
            else:
                loc = resolve(binary, spec.name)
                bp.addresses, bp.message = loc.addresses, loc.message
                bp.path, bp.line = loc.path, loc.line
        bp.condition, bp.hit_condition = spec.condition, spec.hit_condition
        bps.append(bp)
    return bps


def instruction_breakpoints(table: BreakpointTable, binary: BinaryInfo | None,
                            specs: list[InstructionBreakpointSpec]) -> list[UserBreakpoint]:
    """Breakpoints at machine instructions (the disassembly view): the address must be where
    an instruction of a function begins."""
    bps = []
    disasm = Disassembler(binary) if binary is not None else None
    for spec in specs:
        key = f"{spec.address:#x}"
        bp = table.existing(INSTRUCTION_GROUP, key)
        if bp is None:
            bp = UserBreakpoint(id=table.new_id(), kind="instruction", key=key, addresses=[])
            if disasm is None or binary is None:
                bp.message = "no program loaded yet"
            else:
                bp.addresses, bp.message = _instruction_at(disasm, spec.address)
                loc = binary.line_for_pc(spec.address) if bp.addresses else None
                if loc:
                    bp.path, bp.line = loc
        bp.condition, bp.hit_condition = spec.condition, spec.hit_condition
        bps.append(bp)
    return bps


def resolve_again(table: BreakpointTable, binary: BinaryInfo) -> list[UserBreakpoint]:
    """Resolve the source and function breakpoints that have no address yet (code loaded
    since: a Go plugin); returns the ones that now have addresses."""
    changed = []
    for bp in table.all():
        if bp.addresses or bp.kind not in ("source", "function") \
                or (bp.kind == "source" and bp.line is None):
            continue
        if bp.kind == "source":
            assert bp.path is not None and bp.line is not None
            found = binary.addresses_for_line(bp.path, bp.line)
            addrs = list(found.addresses)
        else:  # a location spec (see locspec.py)
            loc = resolve(binary, bp.key)
            addrs = loc.addresses
            if addrs:
                bp.path, bp.line = loc.path, loc.line
        if addrs:
            bp.addresses, bp.message = addrs, None
            _check_log_message(bp, binary, bp.path or "")
            if bp.addresses:
                changed.append(bp)
    return changed


def exception_breakpoints(table: BreakpointTable, binary: BinaryInfo | None,
                          filters: list[str]) -> list[UserBreakpoint]:
    """Stop on unrecovered panics ("panic") and fatal runtime errors ("fatal")."""
    unknown = [f for f in filters if f not in EXCEPTION_FILTERS]
    if unknown:
        raise DebuggerError(f"unknown exception filter(s): {', '.join(unknown)}; dapgo "
                            f"has {', '.join(EXCEPTION_FILTERS)}")
    bps = []
    for f in filters:
        bp = table.existing(EXCEPTION_GROUP, f)
        if bp is None:
            addrs = _exception_addresses(binary, f) if binary is not None else []
            bp = UserBreakpoint(id=table.new_id(), kind="exception", key=f, addresses=addrs)
        bps.append(bp)
    return bps


def rebind(bp: UserBreakpoint, binary: BinaryInfo) -> None:
    """Resolve a breakpoint again in a rebuilt program (restart): same id, same condition,
    hit count back to 0, addresses from the new binary."""
    bp.hits, bp.in_kernel, bp.kernel_spec, bp.message = 0, False, (), None
    if bp.kind == "source" and bp.path is not None and bp.line is not None:
        bp.addresses, bp.message = _resolve_line(binary, bp.path, bp.line)
        _check_log_message(bp, binary, bp.path)
    elif bp.kind == "function":
        loc = resolve(binary, bp.key)
        bp.addresses, bp.message, bp.path, bp.line = (loc.addresses, loc.message, loc.path,
                                                      loc.line)
    elif bp.kind == "exception":
        bp.addresses = _exception_addresses(binary, bp.key)
    elif bp.kind == "instruction":
        bp.addresses, bp.message = _instruction_at(Disassembler(binary), int(bp.key, 16))


def _exception_addresses(binary: BinaryInfo, filter_: str) -> list[int]:
    """Where exception filter `filter_` stops: after the prologue of each of its runtime
    functions the binary has."""
    return [binary.first_pc_after_prologue(fn)
            for fn in (binary.function(n) for n in EXCEPTION_FILTERS[filter_][0])
            if fn is not None]


def _instruction_at(disasm: Disassembler, addr: int) -> tuple[list[int], str | None]:
    """An instruction breakpoint's (addresses, message) at `addr`."""
    if is_instruction_start(disasm, addr):
        return [addr], None
    return [], f"no instruction of the program begins at {addr:#x}"
