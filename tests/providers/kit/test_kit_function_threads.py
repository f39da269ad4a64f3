"""FunctionThreads (podium.providers._kit.functions): a user's plain functions on a bounded pool of
reused threads, where a cancelled call returns at once and its stuck thread never holds the pool."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator

import pytest

from podium.providers._kit import functions
from podium.providers._kit.functions import FunctionThreads


@pytest.fixture
async def released() -> AsyncIterator[threading.Event]:
    """An event the blocked functions of a test wait on; set at the end so their threads end."""
    gate = threading.Event()
    yield gate
    gate.set()


async def test_calls_one_after_another_reuse_one_thread() -> None:
    threads = FunctionThreads(4)
    # the thread objects themselves: an ident may be reused by a thread started after another ended
    used = [await threads.run(threading.current_thread) for _ in range(50)]
    threads.close()
    assert len(set(used)) == 1 and used[0].name.startswith("podium-fn")
    assert used[0] is not threading.current_thread()


async def test_no_more_functions_run_at_once_than_the_pool_size_and_all_finish() -> None:
    threads = FunctionThreads(3)
    lock, running, most = threading.Lock(), [0], [0]

    def busy(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        threading.Event().wait(0.02)
        with lock:
            running[0] -= 1
        return i

    done = await asyncio.wait_for(asyncio.gather(*(threads.run(busy, i) for i in range(12))), 5)
    threads.close()
    assert done == list(range(12))
    assert most[0] == 3


async def test_a_call_whose_function_blocks_returns_on_timeout_and_the_pool_takes_new_calls(
    released: threading.Event,
) -> None:
    threads = FunctionThreads(1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(threads.run(released.wait, 30), 0.1)
    # the only thread is stuck in `released.wait`: a new call still gets one, and soon
    assert await asyncio.wait_for(threads.run(lambda: "next"), 2) == "next"
    assert not released.is_set()
    threads.close()


async def test_a_cancelled_call_still_queued_never_runs(released: threading.Event) -> None:
    threads = FunctionThreads(1)
    ran: list[str] = []
    first = asyncio.ensure_future(threads.run(released.wait, 30))
    queued = asyncio.ensure_future(threads.run(ran.append, "queued"))
    await asyncio.sleep(0.05)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    released.set()
    assert await asyncio.wait_for(first, 2) is True
    assert await asyncio.wait_for(threads.run(ran.append, "after"), 2) is None
    threads.close()
    assert ran == ["after"]


async def test_an_error_reaches_the_caller_and_async_functions_run_on_the_loop() -> None:
    threads = FunctionThreads(2)

    def boom() -> None:
        raise ValueError("bad input")

    async def on_loop() -> int:
        return id(asyncio.get_running_loop())

    with pytest.raises(ValueError, match="bad input"):
        await threads.call(boom)
    assert await threads.call(on_loop) == id(asyncio.get_running_loop())
    threads.close()


async def test_after_close_idle_threads_end_and_a_later_call_still_runs() -> None:
    threads = FunctionThreads(2)
    first = await threads.run(threading.current_thread)
    while not threads._sleeping:  # asleep, waiting for a call (not about to look for one)
        await asyncio.sleep(0.001)
    threads.close()
    await asyncio.to_thread(first.join, 2)
    assert not first.is_alive()
    assert await asyncio.wait_for(threads.run(lambda: "again"), 2) == "again"
    threads.close()


async def test_a_quick_function_is_answered_in_place_with_its_value_or_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every function the pool has seen counts as quick, and is waited for as long as it takes
    monkeypatch.setattr(functions, "QUICK", 60.0)
    monkeypatch.setattr(functions, "WAIT", 30.0)
    threads = FunctionThreads(2)

    def quick(n: int) -> int:
        if n < 0:
            raise ValueError(f"negative: {n}")
        return n * 2

    assert await threads.run(quick, 1) == 2  # the first call: the pool learns how long it takes
    turned: list[int] = []
    asyncio.get_running_loop().call_soon(turned.append, 1)
    # answered in place: the loop has not gone round (the callback above has not run yet)
    assert [await threads.run(quick, i) for i in range(5)] == [0, 2, 4, 6, 8]
    with pytest.raises(ValueError, match="negative: -3"):
        await threads.run(quick, -3)
    assert turned == []
    await asyncio.sleep(0)
    assert turned == [1]
    threads.close()


async def test_a_quick_function_that_blocks_lets_the_loop_go_on_and_can_be_cancelled(
    released: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(functions, "QUICK", 60.0)
    threads = FunctionThreads(1)
    released.set()
    assert await threads.run(released.wait, 5) is True  # known, and quick by the patched measure
    released.clear()

    async def open_the_gate() -> None:
        await asyncio.sleep(0)
        released.set()

    # waited for in place only briefly (WAIT): the loop goes on, and the task opening the gate runs
    opener = asyncio.ensure_future(open_the_gate())
    assert await asyncio.wait_for(threads.run(released.wait, 5), 5) is True
    await opener
    released.clear()
    # blocked past the brief wait: the call is cancelled like any other, and the pool takes new calls
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(threads.run(released.wait, 30), 0.1)
    assert await asyncio.wait_for(threads.run(lambda: "next"), 2) == "next"
    threads.close()


async def test_an_unhashable_callable_runs_like_any_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(functions, "QUICK", 60.0)

    @dataclasses.dataclass
    class Agent:  # eq=True: instances have no hash
        reply: str

        def __call__(self, prompt: str) -> str:
            return f"{self.reply}: {prompt}"

    threads = FunctionThreads(1)
    agent = Agent("ok")
    assert [await threads.call(agent, "go") for _ in range(3)] == ["ok: go"] * 3
    threads.close()


@pytest.mark.parametrize("quick", [False, True], ids=["through-the-loop", "in-place"])
async def test_each_call_gets_its_own_result_when_many_callers_share_a_few_threads(
    quick: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in place: every call is waited for where it was made, for as long as it takes
    monkeypatch.setattr(functions, "QUICK", 60.0 if quick else 0.0)
    monkeypatch.setattr(functions, "WAIT", 30.0)
    threads = FunctionThreads(3)

    def echo(caller: int, n: int) -> tuple[int, int, str]:
        if n % 7 == 3:
            threading.Event().wait(0.001)  # now and then a thread is still busy when the next call comes
        return caller, n, threading.current_thread().name

    async def caller(c: int) -> list[tuple[int, int, str]]:
        out = []
        for n in range(40):
            out.append(await threads.run(echo, c, n))
            if n % 5 == 0:
                await asyncio.sleep(0)  # let the other callers in between
        return out

    results = await asyncio.wait_for(asyncio.gather(*(caller(c) for c in range(6))), 20)
    threads.close()
    for c, got in enumerate(results):
        assert [(a, b) for a, b, _ in got] == [(c, n) for n in range(40)]
    assert {name for got in results for _, _, name in got} <= {"podium-fn"}
    assert threads._live <= 3


async def test_threads_that_end_idle_while_calls_arrive_never_strand_a_call() -> None:
    # idle for a millisecond is too long: threads keep ending just as the next call picks them
    threads = FunctionThreads(2, name="fn-brief", idle_seconds=0.001)

    async def caller(c: int) -> list[int]:
        out = []
        for n in range(30):
            out.append(await threads.run(lambda n=n: n))
            await asyncio.sleep(0.0005 * (c % 3))
        return out

    results = await asyncio.wait_for(asyncio.gather(*(caller(c) for c in range(4))), 20)
    assert results == [list(range(30))] * 4
    threads.close()
    ours = [t for t in threading.enumerate() if t.name == "podium-fn-brief"]
    for t in ours:
        await asyncio.to_thread(t.join, 5)
    assert not any(t.is_alive() for t in ours)
    assert threads._live == 0 and not threads._sleeping
