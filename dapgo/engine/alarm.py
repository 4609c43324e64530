"""A deadline for the owner thread while it waits in the kernel: at the deadline, a
function (the process's doorbell) is called from a thread of its own.

Waking a waiting thread costs the owner a thread hand-over (milliseconds on a loaded
machine: more than a whole function call), so arming never wakes it while deadlines come
often: the thread looks every TICK seconds instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Alarm:
    """Calls a function at a deadline, from a thread of its own, made once. Waking a
    waiting thread costs the owner a thread hand-over (milliseconds on a loaded machine:
    more than a whole call), so arming never does it while calls come: the thread looks
    at its deadline every TICK seconds, and sleeps for good only after IDLE seconds
    without a call (then the next call wakes it)."""

    TICK = 0.025
    IDLE = 2.0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: tuple[float, Callable[[], None]] | None = None
        self._armed_at = 0.0
        self._sleeping = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, fn: Callable[[], None]) -> None:
        with self._cond:
            self._due = (deadline, fn)
            self._armed_at = time.monotonic()
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dapgo-call-alarm",
                                                daemon=True)
                self._thread.start()
            elif self._sleeping:
                self._cond.notify()

    def close(self) -> None:
        """End the thread (the session is over)."""
        with self._cond:
            self._closed = True
            self._due = None
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._due = None  # the thread finds nothing due when it looks

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                due = self._due
                if due is not None and now >= due[0]:
                    self._due = None
                    due[1]()
                elif due is not None:
                    self._cond.wait(min(due[0] - now, self.TICK))
                elif now - self._armed_at < self.IDLE:
                    self._cond.wait(self.TICK)
                else:
                    self._sleeping = True
                    self._cond.wait()
                    self._sleeping = False
