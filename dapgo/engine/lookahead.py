"""Lookahead: DWARF decoded while the program runs, for the stops it may reach.

An editor asks for the top frame's scopes and variables at once when the program stops at
one of the user's breakpoints. What that reads from DWARF is known before the stop: the
function's variables in scope at the breakpoint, the types their one-line summaries walk
(the same depth and field limits as `ValueReader.format`), the constants that name values
of named integer types, and the runtime's layout of each map type (MapReader caches it).
`Lookahead` decodes those in small steps (BinaryInfo caches them) while the owner thread
would otherwise wait: for the program, or for the editor's next request. The runner takes
one step at a time and stops as soon as the program has an event or a request is queued,
so a stop is never delayed by more than one step. What the program's memory decides (an
interface's dynamic type, a map's entries) is not guessed at; the layout of the runtime's
itab, through which every non-empty interface's dynamic type is read, is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from dapgo.engine.dwarf import BinaryInfo
from dapgo.engine.dwarf.model import TypeRef
from dapgo.engine.gomaps import MapReader
from dapgo.engine.values import MAX_DEPTH, SUMMARY_ELEMS, itab_type_offset

log = logging.getLogger(__name__)


class Lookahead:
    """The planned work for one binary: breakpoint addresses not yet looked at."""

    def __init__(self, binary: BinaryInfo, maps: MapReader | None = None) -> None:
        """`maps`: the program's map reader, whose map layouts are decoded ahead too."""
        self.binary = binary
        self._maps = maps
        self._planned: set[int] = set()
        self._todo: list[int] = []  # planned addresses not started, in order
        # frames under way, the current one first (one put first interrupts another)
        self._frames: list[Iterator[None]] = []
        self._depths: dict[TypeRef, int] = {}  # type -> the least depth it was walked at
        self._itab = False  # the itab's layout read (a non-empty interface's value)

    def plan(self, pcs: Iterable[int]) -> None:
        """Look ahead to stops at these addresses (each address once per binary)."""
        for pc in pcs:
            if pc not in self._planned:
                self._planned.add(pc)
                self._todo.append(pc)

    def first(self, pc: int) -> bool:
        """The program stopped at `pc`: its frame before anything else (if it was planned).
        Whether work is left."""
        if pc in self._todo:
            self._todo.remove(pc)
            self._frames.insert(0, self._frame(pc))
        return self.pending

    @property
    def pending(self) -> bool:
        return bool(self._frames or self._todo)

    def step(self) -> bool:
        """Do one small piece of the planned work; False when nothing is left. Never
        raises: a problem shows when the stop really reads that DWARF."""
        while True:
            if not self._frames:
                if not self._todo:
                    return False
                self._frames.append(self._frame(self._todo.pop(0)))
            try:
                next(self._frames[0])
                return True
            except StopIteration:
                self._frames.pop(0)
            except Exception:  # an optimisation only
                log.debug("lookahead failed", exc_info=True)
                self._frames.pop(0)

    def _frame(self, pc: int) -> Iterator[None]:
        binary = self.binary
        fn = binary.function_for_pc(pc)
        if fn is None:
            return
        variables = binary.frame_variables(fn, pc)
        yield
        for v in variables:
            yield from self._walk(v.type, 0)

    def _walk(self, ref: TypeRef, depth: int) -> Iterator[None]:
        """Decode type `ref` and what a summary of a value of it at `depth` decodes."""
        if self._depths.get(ref, MAX_DEPTH + 1) <= depth:
            return
        self._depths[ref] = depth
        binary = self.binary
        t = binary.type_info(ref)
        yield
        k = t.kind
        if k in ("int", "uint") and "." in t.name:
            binary.constants_of(ref)
            yield
        if k == "interface" and not self._itab and t.fields and t.fields[0].name == "tab":
            self._itab = True  # its dynamic type is read through the itab
            itab_type_offset(binary)
            yield
        if depth >= MAX_DEPTH:
            return
        if k == "ptr" and t.elem is not None:
            # a pointed-to struct's fields take the next level (as ValueReader._pointer)
            inner = depth if binary.type_info(t.elem).kind == "struct" else depth + 1
            yield from self._walk(t.elem, inner)
        elif k == "struct":
            for m in t.fields[:SUMMARY_ELEMS]:
                yield from self._walk(m.type, depth + 1)
        elif k in ("slice", "array") and t.elem is not None:
            yield from self._walk(t.elem, depth + 1)
        elif k == "map":
            if self._maps is not None:
                try:
                    self._maps.layout(t)  # the runtime's hash table types, by name
                except LookupError:
                    pass  # said when the stop reads the map
                yield
            for r in (t.key, t.elem):
                if r is not None:
                    yield from self._walk(r, depth + 1)
