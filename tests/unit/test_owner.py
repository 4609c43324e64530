"""The owner thread (dapgo.engine.owner) and the doorbell that wakes it from waitpid."""

from __future__ import annotations

import os
import threading
import time

import pytest
from procs import argv0_of

from dapgo.engine.errors import DebuggerError
from dapgo.engine.owner import Owner, OwnerGone
from dapgo.engine.ptrace.doorbell import ARGV0, Doorbell


def test_jobs_run_in_order_on_one_thread_and_answer_through_futures() -> None:
    owner = Owner()
    seen: list[tuple[int, int]] = []
    futs = [owner.submit(lambda i=i: seen.append((i, threading.get_ident())) or i)
            for i in range(20)]
    assert [f.result(5) for f in futs] == list(range(20))
    assert [i for i, _ in seen] == list(range(20))
    assert len({t for _, t in seen}) == 1 and seen[0][1] != threading.get_ident()

    def boom() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        owner.submit(boom).result(5)
    owner.post(boom)  # nobody waits: logged, and the thread goes on
    assert owner.submit(lambda: "alive").result(5) == "alive"
    owner.shutdown()


def test_next_runs_before_what_is_queued() -> None:
    owner = Owner()
    order: list[str] = []
    gate = threading.Event()

    def first() -> None:
        gate.wait(5)
        owner.next(lambda: order.append("next"))
        order.append("first")

    owner.submit(first)
    later = owner.submit(lambda: order.append("queued"))
    gate.set()
    later.result(5)
    assert order == ["first", "next", "queued"]
    owner.shutdown()


def test_a_job_waiting_in_the_kernel_is_woken_and_serves_what_was_submitted() -> None:
    """The run loop's pattern: while blocked elsewhere (here an Event stands for waitpid),
    a submission calls the waker; the job then serves the queue and goes on waiting."""
    owner = Owner()
    wake = threading.Event()
    done = threading.Event()
    served: list[int] = []

    def long_job() -> None:
        while not done.is_set():
            with owner.waiting_with(wake.set) as queued:
                if not queued:
                    wake.wait(30)  # without the waker, the results below time out
            wake.clear()
            owner.serve()

    owner.submit(long_job)
    time.sleep(0.05)
    for i in range(3):
        owner.submit(lambda i=i: served.append(i)).result(5)  # answered while it waits
    owner.submit(done.set).result(5)
    assert served == [0, 1, 2]
    owner.shutdown()


def test_after_shutdown_the_queue_finishes_and_new_requests_fail_clearly() -> None:
    owner = Owner()
    gate = threading.Event()
    owner.submit(lambda: gate.wait(5))
    queued = owner.submit(lambda: "ran")
    threading.Timer(0.05, gate.set).start()
    owner.shutdown()
    assert queued.result(5) == "ran"
    with pytest.raises(OwnerGone) as exc:
        owner.submit(lambda: None).result(5)
    assert isinstance(exc.value, DebuggerError) and "ended" in str(exc.value)


def _idle(owner: Owner) -> None:
    owner.submit(lambda: None).result(5)
    time.sleep(0.02)  # back in its wait for jobs


def test_borrow_runs_on_the_calling_thread_while_the_owner_is_idle() -> None:
    owner = Owner()
    _idle(owner)
    fut = owner.borrow(threading.get_ident)
    assert fut is not None and fut.done() and fut.result() == threading.get_ident()

    def boom() -> None:
        raise ValueError("no")

    failed = owner.borrow(boom)
    assert failed is not None and isinstance(failed.exception(), ValueError)
    assert owner.submit(lambda: "alive").result(5) == "alive"
    owner.shutdown()


def test_borrow_refuses_while_a_job_runs_or_waits_its_turn() -> None:
    owner = Owner()
    gate = threading.Event()
    running = owner.submit(lambda: gate.wait(5))
    time.sleep(0.02)
    assert owner.borrow(lambda: "here") is None  # a job runs
    queued = owner.submit(lambda: "queued")
    assert owner.borrow(lambda: "here") is None
    gate.set()
    assert running.result(5) and queued.result(5) == "queued"
    owner.shutdown()


def test_nothing_runs_on_the_owner_thread_while_a_borrower_runs() -> None:
    """One user of the engine's state at a time: a job submitted meanwhile (from another
    thread) starts once the borrowed function has returned."""
    owner = Owner()
    _idle(owner)
    order: list[str] = []

    def borrowed() -> None:
        order.append("borrowed starts")
        threading.Thread(target=lambda: owner.submit(lambda: order.append("job"))).start()
        time.sleep(0.1)
        order.append("borrowed ends")

    assert owner.borrow(borrowed) is not None
    owner.submit(lambda: None).result(5)
    assert order == ["borrowed starts", "borrowed ends", "job"]
    owner.shutdown()


def test_idle_work_runs_between_jobs_a_piece_at_a_time() -> None:
    owner = Owner()
    _idle(owner)
    pieces: list[tuple[int, int]] = []  # (piece, thread)
    started = threading.Event()
    release = threading.Event()

    def step() -> bool:
        pieces.append((len(pieces), threading.get_ident()))
        if len(pieces) == 3:
            started.set()
            release.wait(5)  # a long piece: a job submitted meanwhile waits for it alone
        return len(pieces) < 10

    owner.set_idle_work(step)
    assert started.wait(5)
    assert owner.borrow(lambda: None) is None  # not idle while there is work
    job = owner.submit(lambda: len(pieces))
    release.set()
    assert job.result(5) == 3  # ran right after the piece under way, before the next one
    for _ in range(500):
        if owner.borrow(lambda: None) is not None:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the owner never became idle again")
    assert [p for p, _ in pieces] == list(range(10))  # then the rest, and no more
    assert {t for _, t in pieces} == {owner._thread.ident}
    owner.shutdown()


def test_failing_or_dropped_idle_work_ends() -> None:
    owner = Owner()
    _idle(owner)
    calls: list[str] = []

    def boom() -> bool:
        calls.append("boom")
        raise ValueError("no")

    owner.set_idle_work(boom)  # logged, dropped: never called again
    owner.submit(lambda: None).result(5)
    time.sleep(0.05)
    assert calls == ["boom"]
    assert owner.borrow(lambda: None) is not None

    gate = threading.Event()
    owner.post(lambda: gate.wait(5))  # the owner thread is busy meanwhile
    owner.set_idle_work(lambda: bool(calls.append("never")))
    owner.set_idle_work(None)  # dropped before the owner thread got to it
    gate.set()
    owner.submit(lambda: None).result(5)
    time.sleep(0.05)
    assert "never" not in calls
    owner.shutdown()


def _wall_wait(pid: int) -> tuple[int, int]:
    return os.waitpid(pid, 0x40000000 | 2)  # __WALL | WUNTRACED


def test_doorbell_stops_when_rung_and_goes_on_when_answered() -> None:
    bell = Doorbell()
    try:
        assert argv0_of(bell.pid) == ARGV0
        for _ in range(3):
            threading.Thread(target=bell.ring).start()  # from any thread
            pid, status = _wall_wait(bell.pid)
            assert pid == bell.pid and os.WIFSTOPPED(status)
            bell.answer()
            state = ""
            for _ in range(100):
                state = open(f"/proc/{bell.pid}/stat").read().rsplit(")", 1)[1].split()[0]
                if state != "T":
                    break
                time.sleep(0.01)
            assert state != "T"  # running (sleeping in read) again
    finally:
        bell.close()
    assert not os.path.exists(f"/proc/{bell.pid}")  # reaped
    bell.ring()  # closed: a late ring is harmless
