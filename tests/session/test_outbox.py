"""UNIT TESTS of dapgo.outbox: order, flow control, back-pressure on producer threads and
its release, failure. In memory, with a writer the test holds up; transports are tested
end to end in tests/server/test_backpressure.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future

from dapgo.engine.model import Output
from dapgo.outbox import Outbox

from .harness import Harness


class HeldWriter:
    """A Writer whose writes wait until the test lets them through (`flowing`)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.fail: Exception | None = None
        self.closed: bool | None = None  # the abort flag it was closed with

    async def write(self, data: bytes) -> None:
        await self.flowing.wait()
        if self.fail is not None:
            raise self.fail
        self.data += data
        self.writes += 1

    def write_now(self, data: bytes) -> bool:
        """A transport with nothing buffered takes bytes at once (while the client reads)."""
        if not self.flowing.is_set() or self.fail is not None:
            return False
        self.data += data
        self.writes += 1
        return True

    async def close(self, abort: bool = False) -> None:
        self.closed = abort


def run(scenario: Callable[[Outbox, HeldWriter], Awaitable[None]],
        high: int = 1000, low: int = 300) -> list[str]:
    failures: list[str] = []

    async def main() -> None:
        box = Outbox("test", lambda: failures.append("failed"), high=high, low=low)
        writer = HeldWriter()
        pump = asyncio.create_task(box.pump(writer))
        try:
            await scenario(box, writer)
        finally:
            box.release()
            pump.cancel()

    asyncio.run(main())
    return failures


async def until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def producer(box: Outbox, loop: asyncio.AbstractEventLoop, items: list[bytes],
             progress: list[int]) -> threading.Thread:
    """A thread producing `items` the way Session.on_engine_event does."""

    def work() -> None:
        for data in items:
            box.reserve(len(data))
            loop.call_soon_threadsafe(lambda d=data: (box.put(d), box.unreserve(len(d))))
            progress.append(len(data))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t


def test_everything_written_in_order_in_batches() -> None:
    async def s(box: Outbox, w: HeldWriter) -> None:
        w.flowing.clear()
        for i in range(100):
            box.put(b"%03d;" % i)
        w.flowing.set()
        assert await box.flush(1.0, 5.0)
        assert bytes(w.data) == b"".join(b"%03d;" % i for i in range(100))
        assert w.writes <= 2  # joined, not one write per message
        assert box.backlog == 0

    assert run(s) == []


def test_idle_outbox_hands_a_message_over_at_once_and_keeps_order_otherwise() -> None:
    async def s(box: Outbox, w: HeldWriter) -> None:
        await asyncio.sleep(0)  # the writer task has started
        box.put(b"now")
        assert bytes(w.data) == b"now"  # written within put: no turn of the loop
        w.flowing.clear()  # the client stops reading
        box.put(b"A")
        await asyncio.sleep(0.05)  # the writer task holds "A" in a write that waits
        box.put(b"B")  # queued behind it, even once the transport could take it
        w.flowing.set()
        box.put(b"C")
        assert await box.flush(1.0, 5.0)
        assert bytes(w.data) == b"nowABC"

    assert run(s) == []


def test_producers_wait_above_high_water_until_low_water() -> None:
    async def s(box: Outbox, w: HeldWriter) -> None:
        w.flowing.clear()  # the client does not read
        progress: list[int] = []
        items = [bytes([65 + i % 26]) * 100 for i in range(50)]
        t = producer(box, asyncio.get_running_loop(), items, progress)
        await until(lambda: box.backlog >= 1000)
        await asyncio.sleep(0.2)
        stuck = len(progress)
        assert stuck <= 11, stuck  # at most what crosses the high-water mark
        assert box.backlog <= 1100
        w.flowing.set()  # the client reads again: everything goes through
        await asyncio.to_thread(t.join, 5)
        assert await box.flush(1.0, 5.0)
        assert bytes(w.data) == b"".join(items)
        assert box.peak <= 1100

    assert run(s) == []


def test_release_frees_waiting_producers_for_good() -> None:
    async def s(box: Outbox, w: HeldWriter) -> None:
        w.flowing.clear()
        progress: list[int] = []
        t = producer(box, asyncio.get_running_loop(), [b"x" * 400] * 20, progress)
        await until(lambda: box.backlog >= 1000)
        await asyncio.sleep(0.1)
        assert len(progress) < 20
        box.release()  # the session ends: nobody waits any more
        await asyncio.to_thread(t.join, 5)
        assert not t.is_alive() and len(progress) == 20
        assert not await box.flush(0.2, 1.0)  # and nothing was read

    assert run(s) == []


def test_write_failure_ends_and_frees_producers() -> None:
    async def s(box: Outbox, w: HeldWriter) -> None:
        w.flowing.clear()
        progress: list[int] = []
        t = producer(box, asyncio.get_running_loop(), [b"y" * 400] * 20, progress)
        await until(lambda: box.backlog >= 1000)
        w.fail = ConnectionResetError("gone")
        w.flowing.set()
        await asyncio.to_thread(t.join, 5)
        assert not t.is_alive()
        await until(lambda: box.failed)
        assert box.put(b"late") is False
        assert not await box.flush(0.2, 1.0)

    assert run(s) == ["failed"]


def test_flush_waits_for_a_slow_reader_but_not_a_stalled_one() -> None:
    async def s(box: Outbox, w: HeldWriter) -> None:
        w.flowing.clear()
        for _ in range(8):
            box.put(b"z" * 300_000)  # one write each (larger than a batch)

        async def slow_reader() -> None:
            for _ in range(8):
                w.flowing.set()
                await asyncio.sleep(0)
                w.flowing.clear()
                await asyncio.sleep(0.1)
            w.flowing.set()

        reader = asyncio.create_task(slow_reader())
        assert await box.flush(0.3, 5.0)  # 0.8 s in all, progress every 0.1 s
        await reader
        w.flowing.clear()
        box.put(b"never read")
        t0 = time.monotonic()
        assert not await box.flush(0.3, 5.0)
        assert time.monotonic() - t0 < 1.0

    assert run(s) == []


class HeldHarness(Harness):
    """The session harness, its client able to stop reading (`flowing`)."""

    def __init__(self) -> None:
        self.flowing = asyncio.Event()
        self.flowing.set()
        super().__init__()

    async def write(self, data: bytes) -> None:
        await self.flowing.wait()
        await super().write(data)

    def write_now(self, data: bytes) -> bool:
        return self.flowing.is_set() and super().write_now(data)


def test_session_engine_thread_waits_for_the_client_until_disconnect() -> None:
    async def main() -> None:
        h = HeldHarness()
        await h.start()
        h.flowing.clear()  # the client stops reading
        emitted: list[int] = []
        texts = [f"{i:04d}" + "o" * 65532 for i in range(100)]  # 6.4 MB of output

        def engine_thread() -> None:
            for i, text in enumerate(texts):
                h.debugger.on_event(Output("stdout", text))
                emitted.append(i)

        t = threading.Thread(target=engine_thread, daemon=True)
        t.start()
        await asyncio.sleep(0.3)
        assert 10 <= len(emitted) < 30, len(emitted)  # held back at about a megabyte

        # the engine's disconnect needs that thread (as the real one needs its owner thread)
        disconnected: list[bool] = []

        def disconnect(terminate: bool) -> Future[None]:
            done: Future[None] = Future()

            def work() -> None:  # on an engine thread, as the real one
                t.join(3)
                disconnected.append(not t.is_alive())
                done.set_result(None)

            threading.Thread(target=work, daemon=True).start()
            return done

        h.debugger.disconnect = disconnect  # type: ignore[method-assign]
        seq = h.send("disconnect", {})  # must free the thread before the engine disconnects
        await until(lambda: bool(disconnected), 5)
        assert disconnected == [True]
        h.flowing.set()
        r = await h.response(seq)
        assert r["success"]
        await asyncio.wait_for(h.task, 5)
        outputs = [m["body"]["output"] for m in h.received
                   if m["type"] == "event" and m["event"] == "output"]
        assert outputs == texts
        assert h.closed

    asyncio.run(main())
