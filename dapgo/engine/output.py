"""Forwarding the program's stdout and stderr as `Output` events.

The program writes into two pipes; one reader thread per pipe decodes UTF-8 incrementally
(a character split across reads is kept whole) and reports each chunk as it arrives.
"""

from __future__ import annotations

import codecs
import os
import threading
from collections.abc import Callable

from dapgo.engine.model import EngineEvent, Output, OutputCategory


class OutputPump:
    def __init__(self, emit: Callable[[EngineEvent], None]) -> None:
        self._emit = emit
        self._out_r, self.stdout_fd = os.pipe()
        self._err_r, self.stderr_fd = os.pipe()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Begin reading; the write ends now belong to the program and are closed here."""
        for fd in (self.stdout_fd, self.stderr_fd):
            os.close(fd)
        self.stdout_fd = self.stderr_fd = -1
        for fd, cat in ((self._out_r, "stdout"), (self._err_r, "stderr")):
            t = threading.Thread(target=self._pump, args=(fd, cat), daemon=True,
                                 name=f"dapgo-{cat}")
            t.start()
            self._threads.append(t)

    def _pump(self, fd: int, category: OutputCategory) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            text = decoder.decode(chunk, final=not chunk)
            if text:
                self._emit(Output(category=category, text=text))
            if not chunk:
                return

    def join(self, timeout: float) -> None:
        """Wait until both pipes reached end of file (the program and its children exited)."""
        for t in self._threads:
            t.join(timeout)

    def close(self) -> None:
        for fd in (self.stdout_fd, self.stderr_fd):
            if fd >= 0:
                os.close(fd)
        self.stdout_fd = self.stderr_fd = -1
        for t in self._threads:
            if t.is_alive():
                return  # still reading: its fd is closed when the thread sees EOF
        for fd in (self._out_r, self._err_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._out_r = self._err_r = -1
