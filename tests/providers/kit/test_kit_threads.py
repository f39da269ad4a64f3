"""One bounded pool per provider for blocking SDK calls; a cancelled call closes its streams."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from podium.providers._kit.threads import SdkCall, SdkThreads


class BlockingStream:
    """A reply stream whose read blocks until the stream is closed (as a socket read does)."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def read_all(self) -> None:
        if not self.closed.wait(10):
            raise AssertionError("nobody closed the stream")

    def close(self) -> None:
        self.closed.set()


async def test_calls_run_in_the_providers_own_bounded_pool() -> None:
    threads = SdkThreads(2, name="cloud")
    running = 0
    most = 0
    lock = threading.Lock()

    def call(sdk: SdkCall) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        assert sdk.loop is not None
        return threading.current_thread().name

    names = await asyncio.gather(*(threads.run(call) for _ in range(6)))
    threads.close()
    assert most == 2 and len(set(names)) == 2 and all(n.startswith("podium-cloud") for n in names)


async def test_cancelling_a_call_closes_its_streams_so_the_worker_thread_ends() -> None:
    threads = SdkThreads(1, name="cloud")
    stream = BlockingStream()
    finished = threading.Event()

    def call(sdk: SdkCall) -> None:
        sdk.register(stream).read_all()
        finished.set()

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(threads.run(call), timeout=0.1)
    assert stream.closed.is_set()
    assert await asyncio.to_thread(finished.wait, 5)
    assert (
        await threads.run(lambda sdk: "the pool's one thread is free again")
        == "the pool's one thread is free again"
    )
    threads.close()


async def test_after_close_a_new_call_gets_a_new_pool() -> None:
    threads = SdkThreads(1, name="cloud")
    assert await threads.run(lambda sdk: 1) == 1
    threads.close()
    threads.close()  # twice is fine
    assert await threads.run(lambda sdk: 2) == 2
    threads.close()
