"""Shared objects the dynamic loader maps into the program, and the Go plugins among them
(as Delve's `libraries`).

The loader publishes its link map through `r_debug`, whose address it writes into the
executable's DT_DEBUG dynamic entry once it has started; `r_debug.r_brk` is a function it
calls before and after every change of the map (r_state RT_ADD/RT_DELETE, then
RT_CONSISTENT). An internal breakpoint at the executable's entry point waits for the loader
to have filled DT_DEBUG (a launched program starts in the loader); then one at r_brk
rescans the map whenever it is consistent. Each new object that is a Go image with DWARF
(a `-buildmode=plugin` .so opened by plugin.Open) is added to the program's BinaryInfo at
its load bias (l_addr), and every user breakpoint that had no address is resolved again:
the ones that now resolve become verified (a `breakpoint` event) and are placed.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

from dapgo.engine.breakpoints import BreakpointTable
from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.sharedobj import SharedObject
from dapgo.engine.errors import DebuggerError
from dapgo.engine.model import BreakpointChanged, EngineEvent, Output
from dapgo.engine.program import Program
from dapgo.engine.user_breakpoints import resolve_again

log = logging.getLogger(__name__)

DT_NULL, DT_DEBUG = 0, 21
RT_CONSISTENT = 0
_R_MAP, _R_BRK, _R_STATE = 8, 16, 24  # struct r_debug
_L_ADDR, _L_NAME, _L_NEXT = 0, 8, 24  # struct link_map
MAX_OBJECTS = 4096


class Libraries:
    def __init__(self, program: Program, table: BreakpointTable,
                 emit: Callable[[EngineEvent], None],
                 halted: Callable[[Callable[[], object]], object],
                 place: Callable[[], object]) -> None:
        self.program = program
        self.table = table
        self.emit = emit
        self.halted = halted
        self.place = place  # write the int3s (and uprobes) the table now wants
        self.loaded: dict[str, int] = {}  # path -> load bias, every object seen
        self._r_debug = 0
        self._entry: int | None = None

    def start(self) -> None:
        """The program is stopped (at its first instruction, or attached): follow its link
        map from now on. Nothing to do for a statically linked program."""
        binary = self.program.binary
        if binary.dynamic_address() is None:
            return
        if self.program.process.read_only:  # a core file: the plugins it had, no watching
            if self._find_r_debug(watch=False):
                self._scan()
            return
        if self._find_r_debug():
            self._scan()
            return
        entry = binary.entry_point()
        if entry:
            self._entry = entry
            self.table.set_internal(entry, self._at_entry)

    # ----- internal breakpoints -----

    def _at_entry(self, tid: int) -> None:
        if self._entry is not None:
            self.table.drop_internal(self._entry)
            self._entry = None
        if self._find_r_debug():
            self._scan()
        self.halted(self.place)

    def _at_brk(self, tid: int) -> None:
        try:
            state = struct.unpack("<i", self.program.target.read(
                self._r_debug + _R_STATE, 4))[0]
        except OSError:
            return
        if state == RT_CONSISTENT and self._scan():
            self.halted(self.place)

    # ----- the link map -----

    def _find_r_debug(self, watch: bool = True) -> bool:
        """Read DT_DEBUG; once the loader has set it, watch r_brk (unless not `watch`)."""
        target = self.program.target
        dyn = self.program.binary.dynamic_address()
        if dyn is None:
            return False
        try:
            for i in range(256):
                tag, val = struct.unpack("<qQ", target.read(dyn + 16 * i, 16))
                if tag == DT_NULL:
                    return False
                if tag == DT_DEBUG:
                    if not val:
                        return False
                    brk = target.u64(val + _R_BRK)
                    if not brk:
                        return False
                    self._r_debug = val
                    if watch:
                        self.table.set_internal(brk, self._at_brk)
                    return True
        except OSError:
            return False
        return False

    def objects(self) -> list[tuple[str, int]]:
        """(path, load bias) of every object in the link map, in load order."""
        target = self.program.target
        out: list[tuple[str, int]] = []
        try:
            lm = target.u64(self._r_debug + _R_MAP)
            for _ in range(MAX_OBJECTS):
                if not lm:
                    break
                addr = target.u64(lm + _L_ADDR)
                name_ptr = target.u64(lm + _L_NAME)
                name = _c_string(target.read, name_ptr) if name_ptr else ""
                out.append((name, addr))
                lm = target.u64(lm + _L_NEXT)
        except OSError:
            pass
        return out

    def _scan(self) -> bool:
        """Take in the objects loaded since the last scan; True when a Go image came."""
        binary = self.program.binary
        added = False
        for path, bias in self.objects():
            if not path or path in self.loaded:
                continue
            self.loaded[path] = bias
            image = self._open_go(path)
            if image is None:
                self._add_native(path, bias)
                continue
            binary.add_image(image, bias)
            added = True
            self.emit(Output("console", f"loaded Go plugin {path} at {bias:#x}\n"))
        if added:
            for bp in resolve_again(self.table, binary):
                self.emit(BreakpointChanged(bp.status()))
        return added

    def _add_native(self, path: str, bias: int) -> None:
        """C code (libc, the loader...): its symbols and CFI, for stacks through it (only
        cgo programs unwind C frames)."""
        if not self.program.binary.has_cgo or not path.startswith("/"):
            return
        try:
            self.program.binary.add_shared_object(SharedObject(path, bias))
        except (DebuggerError, OSError) as exc:
            log.debug("cannot read %s: %s", path, exc)

    def _open_go(self, path: str) -> BinaryInfo | None:
        if path == self.program.binary.path:
            return None
        try:
            return BinaryInfo.open(path)
        except (DebuggerError, OSError) as exc:
            log.debug("not a Go image with DWARF: %s (%s)", path, exc)
            return None


def _c_string(read: Callable[[int, int], bytes], addr: int, limit: int = 4096) -> str:
    out = b""
    while len(out) < limit:
        chunk = read(addr + len(out), 64)
        end = chunk.find(b"\0")
        if end >= 0:
            return (out + chunk[:end]).decode("utf-8", "replace")
        out += chunk
    return out.decode("utf-8", "replace")
