"""One OS thread that owns every ptrace call.

Linux ties a tracee to the thread that attached to (or forked) it: every ptrace request and
every wait must come from that same thread. `PtraceExecutor.call` runs a function there and
hands back its result or exception; calls made from the owning thread itself run inline.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


log = logging.getLogger(__name__)


def _log_failure(fut: Future[Any]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.error("ptrace job failed", exc_info=exc)


class PtraceExecutor:
    def __init__(self, name: str = "dapgo-ptrace") -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # handed to the caller, never lost
                fut.set_exception(exc)

    def on_owner_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the owning thread and wait for its result."""
        if self.on_owner_thread():
            return fn(*args)
        fut: Future[T] = Future()
        self._queue.put((lambda: fn(*args), fut))
        return fut.result()

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        """Queue `fn` to run on the owning thread after what is queued already; do not wait.
        Nobody waits for the result, so an exception is logged, never lost."""
        fut: Future[Any] = Future()
        fut.add_done_callback(_log_failure)
        self._queue.put((fn, fut))
        return fut

    def shutdown(self) -> None:
        if self._thread.is_alive() and not self.on_owner_thread():
            self._queue.put(None)
            self._thread.join(timeout=5)
