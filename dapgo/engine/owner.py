"""The owner thread: the one thread that holds the engine's state and drives the program.

Every piece of engine state (the process and its threads, breakpoints, probes, watches,
caches of a stop) is read and written by one thread at a time, so nothing in the engine
needs a lock: by this thread, or by a thread that borrows the engine while this one is idle.
It is also the thread that traces the program (Linux ties a tracee to one thread).

Other threads hand it work: `submit(fn)` queues `fn` and returns a Future of its result;
`post(fn)` queues work whose result nobody waits for. Jobs run one at a time, in order.

`borrow(fn)` runs `fn` on the calling thread instead, when the owner thread is idle (no job
running or queued): the owner thread then starts nothing until `fn` returns. A small request
on a stopped program (a `variables` of a few values) costs less than the two thread
switches a submission takes, so the server borrows for reading a stopped program. Whatever
only the tracing thread can do raises `TracerThreadOnly` in a borrower (see
dapgo.engine.backend); the caller then submits the job.

A job may run for long while the program runs (continue, a step): it then waits in the
kernel (waitpid), not on the queue. For that time it installs a waker (`waiting_with`): a
submission rings it, and the job calls `serve()` to run what was queued, then goes on
waiting. A job may queue a follow-up that runs right after it (`next`).

Idle time can be given work (`set_idle_work`): small pieces run between jobs (DWARF a stop
will want, decoded ahead); while some is left the owner thread is not idle, so requests are
submitted rather than borrowed, and a queued job waits for one piece at most.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from dapgo.engine.errors import DebuggerError

T = TypeVar("T")
log = logging.getLogger(__name__)

_Job = tuple[Callable[[], Any], "Future[Any] | None"]


class OwnerGone(DebuggerError):
    """The owner thread has stopped: the session is over."""


class Owner:
    def __init__(self, name: str = "dapgo-engine") -> None:
        self._jobs: collections.deque[_Job] = collections.deque()
        self._cond = threading.Condition()
        self._waker: Callable[[], None] | None = None
        self._stopping = False
        self._idle = False  # the owner thread waits for a job (none runs)
        self._borrowed = False  # another thread runs a job (see borrow)
        self._idle_work: Callable[[], bool] | None = None  # see set_idle_work
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    # ----- from any thread -----

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run `fn` on the owner thread after the jobs queued before it."""
        fut: Future[T] = Future()
        self._put((fn, fut))
        return fut

    def borrow(self, fn: Callable[[], T]) -> Future[T] | None:
        """Run `fn` on the calling thread now, if the owner thread is idle, and return its
        completed Future; None (nothing run) when a job runs or is queued."""
        with self._cond:
            if not self._idle or self._jobs or self._borrowed or self._stopping:
                return None
            self._borrowed = True
        fut: Future[T] = Future()
        try:
            _run((fn, fut))
        finally:
            with self._cond:
                self._borrowed = False
                if self._jobs or self._stopping or self._idle_work is not None:
                    # else the owner thread sleeps on
                    self._cond.notify()
        return fut

    def post(self, fn: Callable[[], Any]) -> None:
        """Queue `fn`; nobody waits for it (a failure is logged, never lost)."""
        self._put((fn, None))

    def _put(self, job: _Job) -> None:
        with self._cond:
            if self._stopping:
                if job[1] is not None:
                    job[1].set_exception(OwnerGone("the debugging session has ended"))
                return
            self._jobs.append(job)
            self._cond.notify()
            waker = self._waker
        if waker is not None:
            waker()

    def on_owner_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def shutdown(self, timeout: float = 5) -> None:
        """Finish the queued jobs, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            waker = self._waker
        if waker is not None:
            waker()
        if not self.on_owner_thread():
            self._thread.join(timeout)

    # ----- on the owner thread -----

    def next(self, fn: Callable[[], Any]) -> None:
        """Run `fn` right after the job that is running now, before anything queued."""
        assert self.on_owner_thread()
        with self._cond:
            self._jobs.appendleft((fn, None))

    def serve(self) -> None:
        """Run every job queued now (from inside a job that waits for the program)."""
        assert self.on_owner_thread()
        while True:
            with self._cond:
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            _run(job)

    @property
    def pending(self) -> bool:
        return bool(self._jobs)

    @contextlib.contextmanager
    def waiting_with(self, waker: Callable[[], None]) -> Iterator[bool]:
        """While inside, a submission calls `waker` (the job is blocked in the kernel).
        Yields True when jobs were already queued: serve them before blocking."""
        with self._cond:
            self._waker = waker
            queued = bool(self._jobs) or self._stopping
        try:
            yield queued
        finally:
            with self._cond:
                self._waker = None

    def set_idle_work(self, step: Callable[[], bool] | None) -> None:
        """Work for the owner thread's idle time, one small piece per call of `step`
        (False: nothing is left), between jobs; a job queued meanwhile waits for at most
        one piece, and no thread borrows while there is some (None: drop it)."""
        with self._cond:
            self._idle_work = step
            self._cond.notify()

    def _main(self) -> None:
        while True:
            job: _Job | None = None
            step = None
            with self._cond:
                self._idle = True
                while self._borrowed or (not self._jobs and not self._stopping
                                         and self._idle_work is None):
                    self._cond.wait()
                self._idle = False
                if self._jobs:
                    job = self._jobs.popleft()
                elif self._stopping:
                    return  # stopping, and everything queued has run
                else:
                    step = self._idle_work
            if job is not None:
                _run(job)
            elif step is not None and not _idle_step(step):
                with self._cond:
                    if self._idle_work is step:
                        self._idle_work = None


def _idle_step(step: Callable[[], bool]) -> bool:
    try:
        return step()
    except Exception:
        log.exception("idle work failed")
        return False


def _run(job: _Job) -> None:
    fn, fut = job
    if fut is None:
        try:
            fn()
        except BaseException:
            log.exception("engine job failed")
        return
    if not fut.set_running_or_notify_cancel():
        return
    try:
        fut.set_result(fn())
    except BaseException as exc:  # handed to whoever waits, never lost
        fut.set_exception(exc)
