"""The alarm that ends a function call's wait (dapgo.engine.alarm)."""

from __future__ import annotations

import threading
import time

from dapgo.engine.alarm import Alarm


def test_it_rings_at_the_deadline_not_when_disarmed_and_ends_when_closed() -> None:
    alarm = Alarm()
    rang = threading.Event()
    t0 = time.monotonic()
    alarm.arm(t0 + 0.1, rang.set)
    assert rang.wait(5)
    assert time.monotonic() - t0 >= 0.1
    rang.clear()
    alarm.arm(time.monotonic() + 0.1, rang.set)
    alarm.disarm()
    assert not rang.wait(0.3)
    # after IDLE without a call it sleeps for good; a new deadline wakes it
    alarm.IDLE = 0.05  # type: ignore[misc]
    time.sleep(0.2)
    alarm.arm(time.monotonic() + 0.05, rang.set)
    assert rang.wait(5)
    thread = alarm._thread
    assert thread is not None
    alarm.close()
    thread.join(5)
    assert not thread.is_alive()
    alarm.arm(time.monotonic(), rang.set)  # closed: nothing starts again
    assert alarm._thread is thread
