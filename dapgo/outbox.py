"""A session's outgoing path: encoded messages written in order, with flow control, and
back-pressure on the threads that produce engine events.

Who does what:
- the asyncio loop encodes every message and `put`s it here; the loop never waits;
- one writer task (`pump`, on the loop) takes the queued bytes in order, in batches, and
  awaits the transport's flow control after each write (`drain()` on TCP, the pipe
  transport's pause/resume on stdio), so what sits in the transport stays bounded by the
  transport's own high-water mark; when nothing is queued or being written and the
  transport holds nothing, `put` hands the message to it at once (`Writer.write_now`): a
  response goes out without waiting for the writer task's turn on the loop;
- threads that produce engine events (the program's stdout/stderr pumps, the engine's
  threads) call `reserve` before handing an event to the loop: while the backlog (bytes
  reserved and not yet queued, queued, or being written) is above `high`, they wait until it
  falls to `low`. The program's own output then waits on its pipe, which is the natural
  back-pressure. `release()` (when the session ends or a `disconnect` arrives) lets every
  waiter go and nobody waits again, so nothing can deadlock at shutdown.

Messages are never dropped while the writer works; once it fails (the client went away)
nothing more can be delivered and the queue is discarded.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

HIGH_WATER = 1 << 20  # producers wait above this many bytes of backlog...
LOW_WATER = 256 << 10  # ...until it falls to this
BATCH = 256 << 10  # bytes joined into one write, at most (a single larger message goes alone)


class Writer(Protocol):
    """Where a session's bytes go. Only the session's writer task calls it, one call at a
    time, so an implementation needs no locking."""

    async def write(self, data: bytes) -> None:
        """Hand `data` to the transport; return once it can take more (flow control).
        Raises ConnectionError or OSError once the client is gone."""
        ...

    def write_now(self, data: bytes) -> bool:
        """Hand `data` to the transport if it holds nothing now (so flow control has
        nothing to wait for); False when it does not take it."""
        ...

    async def close(self, abort: bool = False) -> None:
        """Close, giving what the transport still buffers a bounded time to go out; with
        `abort` (the client has stopped reading), drop it and close at once."""
        ...


class Outbox:
    def __init__(self, name: str, on_failure: Callable[[], None],
                 high: int = HIGH_WATER, low: int = LOW_WATER) -> None:
        self._name = name
        self._on_failure = on_failure
        self._high = high
        self._low = low
        self._cond = threading.Condition()
        self._backlog = 0  # bytes reserved by producers + queued + being written
        self._throttled = False  # crossed `high`, not yet back down to `low`
        self._released = False
        self._queue: collections.deque[bytes] = collections.deque()
        self._ready = asyncio.Event()  # the queue has something (loop only)
        self._idle = asyncio.Event()  # the queue is empty and no write is under way
        self._idle.set()
        self._writer: Writer | None = None  # the writer task's (see put)
        self.failed = False
        self.written = 0  # bytes the writer has handed over
        self.peak = 0  # the largest backlog seen, for the log

    # ---- producer threads ----

    def reserve(self, size: int, wait: bool = True) -> None:
        """Count `size` bytes about to be queued; first wait (if `wait`) while the backlog is
        above the high-water mark. Never call with `wait` on the loop's thread."""
        with self._cond:
            if wait and self._throttled and not self._released:
                log.debug("%s: output backlog %d bytes: producer waits", self._name,
                          self._backlog)
                while self._throttled and not self._released:
                    self._cond.wait()
            self._add(size)

    def unreserve(self, size: int) -> None:
        """The reserved bytes have been queued (as their exact encoding) or dropped."""
        with self._cond:
            self._sub(size)

    def release(self) -> None:
        """From now on nobody waits: the session is ending."""
        with self._cond:
            self._released = True
            self._cond.notify_all()

    # ---- the loop ----

    def put(self, data: bytes) -> bool:
        """Queue one encoded message; False if it can no longer be delivered."""
        if self.failed:
            return False
        if self._writer is not None and not self._queue and self._idle.is_set():
            try:
                if self._writer.write_now(data):
                    self.written += len(data)
                    return True
            except (ConnectionError, OSError, ValueError):
                pass  # queued: the writer task meets the failure and ends the session
        with self._cond:
            self._add(len(data))
        self._queue.append(data)
        self._ready.set()
        self._idle.clear()
        return True

    async def pump(self, writer: Writer) -> None:
        """The writer task: write everything queued, in order, until cancelled or failed."""
        self._writer = writer
        while True:
            await self._ready.wait()
            batch = [self._queue.popleft()]
            size = len(batch[0])
            while self._queue and size + len(self._queue[0]) <= BATCH:
                data = self._queue.popleft()
                batch.append(data)
                size += len(data)
            if not self._queue:
                self._ready.clear()
            try:
                await writer.write(batch[0] if len(batch) == 1 else b"".join(batch))
            except (ConnectionError, OSError, ValueError) as exc:
                log.info("%s: write failed (%s); ending the session", self._name, exc)
                self._fail(size)
                return
            self.written += size
            with self._cond:
                self._sub(size)
            if not self._queue:
                self._idle.set()

    async def flush(self, stalled: float, limit: float) -> bool:
        """Wait until everything queued is written: False once nothing more has gone out
        for `stalled` seconds (the client does not read), or after `limit` seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        while not self._idle.is_set() and not self.failed:
            before = self.written
            left = end - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._idle.wait(), min(stalled, left))
            except TimeoutError:
                if self.written == before:
                    return False
        return not self.failed

    @property
    def backlog(self) -> int:
        return self._backlog

    # ---- accounting (under self._cond) ----

    def _add(self, size: int) -> None:
        self._backlog += size
        if self._backlog > self.peak:
            self.peak = self._backlog
        if self._backlog >= self._high:
            self._throttled = True

    def _sub(self, size: int) -> None:
        self._backlog -= size
        if self._throttled and self._backlog <= self._low:
            self._throttled = False
            self._cond.notify_all()

    def _fail(self, writing: int) -> None:
        self.failed = True
        dropped = sum(len(d) for d in self._queue)
        self._queue.clear()
        self._ready.clear()
        with self._cond:
            self._sub(writing + dropped)
            self._released = True
            self._cond.notify_all()
        self._idle.set()
        self._on_failure()
