"""Blocking SDK calls from async code: one bounded thread pool per provider, streams closed on cancel.

Cloud SDKs (boto3, the Azure and Google clients) block. Each provider instance owns one pool, sized
like its connection pool, so thousands of concurrent steps do not queue behind asyncio's small
default pool, and one provider's slow cloud cannot starve another's. A call that is cancelled (a
step timeout, a cancelled run) closes every stream it registered, so the worker thread reading a
reply stream wakes up and ends instead of holding its thread until the server finishes. While a
call runs, its HTTP headers (its ``traceparent``) are the worker thread's `current_headers()`, for
the SDK hooks of `podium.providers._kit.propagation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from podium.providers._kit.propagation import sending

T = TypeVar("T")


class Closeable(Protocol):
    def close(self) -> Any: ...


@dataclass(slots=True)
class SdkCall:
    """What a call running in a worker thread may use: the run's loop, a place to register streams, and
    the HTTP headers every request of the call carries (`propagation.call_headers`: its traceparent)."""

    loop: asyncio.AbstractEventLoop | None = None
    streams: list[Closeable] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def register(self, stream: T) -> T:
        """Remember a reply stream so that cancelling the call closes it; returns it unchanged."""
        self.streams.append(stream)  # type: ignore[arg-type]
        return stream

    def close_streams(self) -> None:
        for stream in self.streams:
            with contextlib.suppress(Exception):
                stream.close()


class SdkThreads:
    """One bounded pool of worker threads for one provider instance's blocking SDK calls."""

    def __init__(self, size: int, *, name: str) -> None:
        self.size = size
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.size, thread_name_prefix=f"podium-{self.name}")
            return self._pool

    async def run(self, fn: Callable[[SdkCall], T], *, headers: dict[str, str] | None = None) -> T:
        """Run ``fn(call)`` in the pool and await its result.

        `fn` gets an `SdkCall`: ``call.register(stream)`` for each reply stream it opens,
        ``call.loop`` (the run's loop) to await an async user function on, and ``call.headers``
        (`headers`), which are also the worker thread's `current_headers()` while `fn` runs. If the
        awaiting task is cancelled, the registered streams are closed, so the worker thread ends too.
        """
        loop = asyncio.get_running_loop()
        call = SdkCall(loop=loop, headers=dict(headers or {}))

        def work() -> T:
            with sending(call.headers):
                return fn(call)

        try:
            return await loop.run_in_executor(self._executor(), work)
        except asyncio.CancelledError:
            call.close_streams()
            raise

    def close(self) -> None:
        """Stop taking calls; running calls finish in the background, queued ones are dropped."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
