"""The program's memory as the value reader sees it during one stop: read in 4 KiB pages
kept until the program may have changed it.

Listing a frame's locals and expanding them reads hundreds of small, mostly neighbouring
objects (stack slots, heap objects packed together, map buckets); one pread per page
instead of one per object. `forget()` drops everything: called when a new stop begins
(StopContext) and after every write.
"""

from __future__ import annotations

from dapgo.engine.target import Target

PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT


class StopMemory(Target):
    """A Target whose small reads come from pages cached for the current stop."""

    def __init__(self, target: Target) -> None:
        super().__init__(target.process, target.binary)
        self._pages: dict[int, bytes | None] = {}  # page number -> bytes (None: unreadable)

    def forget(self) -> None:
        self._pages.clear()

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        page = addr >> PAGE_SHIFT
        off = addr & (PAGE - 1)
        if off + size > PAGE:  # spans pages: read directly (strings, big arrays)
            return super().read(addr, size)
        data = self._pages.get(page, b"")
        if data == b"":
            try:
                data = super().read(page << PAGE_SHIFT, PAGE)
            except OSError:
                data = None
            self._pages[page] = data
        if data is None:
            return super().read(addr, size)  # the precise error (or a readable part)
        return data[off:off + size]

    def write(self, addr: int, data: bytes) -> None:
        self.forget()
        super().write(addr, data)
