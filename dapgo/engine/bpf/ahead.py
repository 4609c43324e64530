"""The BPF program compiled on a thread of its own, ahead of need.

bcc compiles the probe program with clang every time it is loaded: ~2 s on this kind of
machine, most of it while the GIL is free. `dapgo trace` compiles while it matches the
functions; an attach compiles before it stops the program, so that the program is not held
still for it (its breakpoints are uprobes, and the exception filters are on by default);
followExec keeps one ready for the next child (a program compiled for one binary serves any
with the same runtime layout: BpfSession.program_key). A program nobody takes is unloaded
by `discard`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from dapgo.engine.bpf import layout as L
from dapgo.engine.dwarf import BinaryInfo

if TYPE_CHECKING:
    from dapgo.engine.bpf.program import ProbeProgram

RINGBUF_PAGES_ENV = "DAPGO_BPF_RINGBUF_PAGES"  # a power of two
Key = tuple[tuple[str, int], ...]


def configured_ringbuf_pages() -> int:
    """The ring buffer's size in pages: DAPGO_BPF_RINGBUF_PAGES, else the default."""
    pages = os.environ.get(RINGBUF_PAGES_ENV)
    return int(pages) if pages else L.DEFAULT_RINGBUF_PAGES


def program_key(bi: BinaryInfo, pages: int, stop_signal: int) -> Key | None:
    """What a program for `bi` is compiled from (None when it cannot be made for it)."""
    from dapgo.engine.bpf.session import BpfSession

    try:
        return BpfSession.program_key(bi, pages, stop_signal)
    except Exception:
        return None


class CompileAhead:
    """One compile of the probe program for a binary's runtime layout, started now. `bi`
    is an open binary, or the path of one, opened (and closed) on the compile's thread."""

    def __init__(self, bi: BinaryInfo | str, pages: int, stop_signal: int,
                 on_done: Callable[[], None] | None = None) -> None:
        self.pages = pages
        self.stop_signal = stop_signal
        self._key: Key | None = None
        self._keyed = threading.Event()
        self._program: ProbeProgram | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._run, args=(bi, on_done), daemon=True,
                                        name="dapgo-bpf-compile")
        self._thread.start()

    def _run(self, bi: BinaryInfo | str, on_done: Callable[[], None] | None) -> None:
        from dapgo.engine.bpf.session import BpfSession

        opened: BinaryInfo | None = None
        try:
            if isinstance(bi, str):
                opened = bi = BinaryInfo.open(bi)
            self._key = program_key(bi, self.pages, self.stop_signal)
            self._keyed.set()
            self._program = BpfSession.compile(bi, self.pages, self.stop_signal)
            if on_done is not None:
                on_done()
        except BaseException as e:  # handed to `take`
            self._error = e
        finally:
            self._keyed.set()
            if opened is not None:
                opened.close()

    def serves(self, bi: BinaryInfo) -> bool:
        """Is this compile (done or not) the program `bi` needs?"""
        self._keyed.wait()
        return self._key is not None and self._key == program_key(bi, self.pages,
                                                                   self.stop_signal)

    def wait(self) -> None:
        """Until the compile is over (done or failed)."""
        self._thread.join()

    def take(self) -> ProbeProgram:
        """The compiled program, once (the compile's error if it failed)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._taken or self._program is None:
            raise RuntimeError("the BPF program compiled ahead was already taken")
        program, self._program, self._taken = self._program, None, True
        return program

    def discard(self) -> None:
        """Unload the program if nobody took it."""
        self._thread.join()
        if self._program is not None:
            self._program.close()
            self._program = None
