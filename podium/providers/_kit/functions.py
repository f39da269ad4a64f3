"""A user's python, as providers call it: ``module:function`` imported once, called sync or async.

Two places call user code: an event loop (the local provider's python agents) and a provider's
worker thread (a cloud agent's tools, while the SDK call that asked for them waits). Both must
call a plain function without blocking the loop, and await an async one on the run's own loop.
A provider calls plain functions on its own `FunctionThreads`: a bounded pool of reused threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import os
import sysconfig
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class FunctionCache:
    """``module:function`` references imported once each (next to the workflow first); thread-safe."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self._functions: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()

    def load(self, reference: str) -> Callable[..., Any]:
        """The callable `reference` names; raises what the import raised (the caller words the error)."""
        # held while importing: two threads asking for one tool must not import its module twice
        with self._lock:
            fn = self._functions.get(reference)
            if fn is None:
                from podium.core.functions import import_function

                fn = self._functions[reference] = import_function(reference, self.base_dir)
            return fn


def call_in_thread(
    fn: Callable[..., Any], loop: asyncio.AbstractEventLoop | None, *args: Any, **kwargs: Any
) -> Any:
    """Call `fn` from a worker thread; an async function (or awaitable result) runs on `loop`.

    With no loop (a caller outside any run), the coroutine gets an event loop of its own.
    """
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        if loop is None:
            return asyncio.run(_awaited(result))
        return asyncio.run_coroutine_threadsafe(_awaited(result), loop).result()
    return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


async def call_from_loop(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `fn` from the event loop: awaited if async, else in a daemon thread, never blocking the loop."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    value = await in_daemon_thread(fn, *args, **kwargs)
    if inspect.isawaitable(value):
        value = await value
    return value


async def in_daemon_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking function in a daemon thread and await its result.

    Not `asyncio.to_thread`: the default executor's threads are joined when `asyncio.run` closes
    the loop (and again at interpreter exit), so a run cancelled while a function blocks would
    keep its process alive until the function returns. A daemon thread is abandoned instead.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    ctx = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def work() -> None:
        try:
            outcome = (True, ctx.run(fn, *args, **kwargs))
        except BaseException as exc:
            outcome = (False, exc)
        # RuntimeError: the loop has closed, so nobody waits for this result any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name=f"podium-fn-{getattr(fn, '__name__', 'fn')}", daemon=True).start()
    return await future


@dataclass(slots=True, eq=False)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    ctx: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    state: int = 0  # _QUEUED, _RUNNING or _DONE, under the pool's lock
    abandoned: bool = field(default=False)
    # held by a caller waiting for a quick function in place; the thread hands `outcome` there
    waiter: Any = None
    outcome: tuple[bool, Any] | None = None


_QUEUED, _RUNNING, _DONE = 0, 1, 2

# A function whose last calls took under QUICK seconds is waited for in place, for at most WAIT
# seconds (the loop blocks that long at worst), instead of the loop going round until the thread
# wakes it: the wake-up through the loop's self-pipe and two more turns cost more than such a
# call. One that takes longer is left to finish on its own, its result delivered as any other's.
QUICK = 50e-6
WAIT = 250e-6


class FunctionThreads:
    """A bounded pool of reused daemon threads for a user's plain (blocking) functions.

    One per provider instance, sized by how many calls the run lets it have in flight, so a call
    reuses an idle thread instead of starting one. The threads are daemons, not `asyncio.to_thread`'s:
    the default executor's threads are joined when `asyncio.run` closes the loop (and at interpreter
    exit), so a run cancelled while a function blocks would keep its process alive until it returned.

    A call whose awaiting task is cancelled (a step timeout, a cancelled run) returns at once. Its
    function cannot be interrupted: the thread running it is abandoned, stops counting against the
    bound (so a stuck function never holds the pool), and rejoins the pool when the function
    returns, if there is room, else ends. A cancelled call still queued is dropped. Idle threads end
    after `idle_seconds`, and all of them on `close`.

    A function whose recent calls were quick (under `QUICK`) is waited for in place, the loop held
    for `WAIT` at most: the thread hands the result straight back, without waking the loop through
    its self-pipe and two more turns (most of what a no-op `def` agent cost over an `async def`).
    """

    def __init__(self, size: int, *, name: str = "fn", idle_seconds: float = 30.0) -> None:
        self.size = max(1, size)
        self.name = name
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._jobs: deque[_Job] = deque()
        # an idle thread waits on a lock of its own (its bell), held until a caller releases it: a
        # call wakes one thread directly, without a condition variable's second lock to fight over
        # on waking. The last to go idle is woken first (its memory is the warmest).
        self._sleeping: list[threading.Lock] = []
        self._finishing = 0  # threads handing a result back, about to take the next job
        self._live = 0  # threads counted against `size`: not running an abandoned call
        self._closed = False
        self._took: dict[Callable[..., Any], float] = {}  # seconds the recent calls of each function took

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call `fn` from the event loop: awaited if async, else on a pool thread; never blocks the
        loop for longer than `WAIT`."""
        if _is_async(fn) if _hashable(fn) else inspect.iscoroutinefunction(fn):
            return await fn(*args, **kwargs)
        value = await self.run(fn, *args, **kwargs)
        if inspect.isawaitable(value):
            value = await value
        return value

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking function on a pool thread, in a copy of the caller's context; await its result."""
        loop = asyncio.get_running_loop()
        job = _Job(fn, args, kwargs, contextvars.copy_context(), loop, loop.create_future())
        # (an unhashable callable, a dataclass instance with __call__, is never counted quick)
        quick = _hashable(fn) and self._took.get(fn, QUICK) < QUICK
        if quick:
            job.waiter = waiter = threading.Lock()
            waiter.acquire()
        bell = None
        with self._lock:
            # a provider called again after `close` (as its HTTP client, made again) gets threads again
            self._closed = False
            self._jobs.append(job)
            if self._finishing >= len(self._jobs):
                pass  # a thread handing back a result takes it next, without being woken
            elif self._sleeping:
                bell = self._sleeping.pop()
            elif self._live < self.size:
                self._live += 1
                self._start()
            # else every thread is busy: the job waits for the first one free
        if quick:
            # the thread is woken as the loop lets go of the GIL to wait (the two lines together:
            # woken earlier, it would only wake to wait for the GIL)
            if bell is not None:
                bell.release()
            if waiter.acquire(timeout=WAIT):  # (the GIL is let go meanwhile: the thread runs)
                outcome = job.outcome  # set before the release
            else:
                with self._lock:
                    outcome, job.waiter = job.outcome, None  # too late now: it comes through the loop
            if outcome is not None:
                ok, value = outcome
                if ok:
                    return value
                raise value
        elif bell is not None:
            bell.release()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._abandon(job)
            raise

    def _start(self) -> None:
        threading.Thread(target=self._work, name=f"podium-{self.name}", daemon=True).start()

    def _abandon(self, job: _Job) -> None:
        with self._lock:
            if job.abandoned:
                return
            job.abandoned = True
            if job.state == _RUNNING:
                # its thread may block for ever: it no longer counts, so a new call gets a thread
                self._live -= 1
            elif job.state == _QUEUED:
                self._jobs.remove(job)

    def _next(self, bell: threading.Lock, *, finishing: bool) -> _Job | None:
        """The next job for this thread, or None when it should end (closed, or idle too long).

        `bell` is the thread's own lock, held: a caller (or `close`) that takes it off the sleeping
        list releases it once.
        """
        with self._lock:
            if finishing:
                self._finishing -= 1
            while not self._jobs:
                if self._closed:
                    self._live -= 1
                    return None
                self._sleeping.append(bell)
                self._lock.release()
                try:
                    rung = bell.acquire(timeout=self.idle_seconds)
                finally:
                    self._lock.acquire()
                if not rung:
                    if bell in self._sleeping:  # idle too long, and nobody has picked this thread
                        self._sleeping.remove(bell)
                        self._live -= 1
                        return None
                    # picked just as the wait ended: its release is on the way, take it
                    self._lock.release()
                    try:
                        bell.acquire()
                    finally:
                        self._lock.acquire()
                # (woken for a job a finishing thread may have taken meanwhile: look again)
            job = self._jobs.popleft()
            job.state = _RUNNING
            return job

    def _work(self) -> None:
        bell = threading.Lock()
        bell.acquire()
        job = self._next(bell, finishing=False)
        while job is not None:
            started = time.perf_counter()
            try:
                outcome = (True, job.ctx.run(job.fn, *job.args, **job.kwargs))
            except BaseException as exc:
                outcome = (False, exc)
            took = time.perf_counter() - started
            with self._lock:
                job.state = _DONE
                if len(self._took) > 256:  # functions made per call (lambdas): keep it bounded
                    self._took.clear()
                if _hashable(job.fn):
                    before = self._took.get(job.fn)
                    self._took[job.fn] = took if before is None else (before + took) / 2
                waiter = job.waiter
                if waiter is not None:  # its caller waits in place: hand it the outcome there
                    job.outcome = outcome
                if job.abandoned:
                    # counted out when abandoned: come back only if the pool has room for it
                    if self._closed or self._live >= self.size:
                        return
                    self._live += 1
                # available again before its caller hears of the result: the caller's next call
                # finds this thread instead of starting another
                self._finishing += 1
            if waiter is not None:
                waiter.release()
            else:
                # RuntimeError: the loop has closed, so nobody waits for this result any more
                with contextlib.suppress(RuntimeError):
                    job.loop.call_soon_threadsafe(_settle, job.future, *outcome)
            del outcome
            job = self._next(bell, finishing=True)

    def close(self) -> None:
        """Let the threads go: idle ones end now, busy ones when their call returns (a later call
        starts threads again)."""
        with self._lock:
            self._closed = True
            sleeping, self._sleeping = self._sleeping, []
        for bell in sleeping:
            bell.release()


@functools.lru_cache(maxsize=1024)  # asked at every call of an agent's function
def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn)


def _hashable(fn: Callable[..., Any]) -> bool:
    try:
        hash(fn)
    except TypeError:
        return False
    return True


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if not future.done():
        future.set_result(value) if ok else future.set_exception(value)


@functools.lru_cache(maxsize=1024)
def _keyword_names(fn: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword arguments `fn` accepts; None when it takes **kwargs (everything)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return frozenset()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return frozenset(params)


def accepted_kwargs(fn: Callable[..., Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` that `fn` takes as keyword arguments (all of them if it takes **kwargs)."""
    names = _keyword_names(fn)
    if names is None:
        return dict(values)
    return {k: v for k, v in values.items() if k in names}


_NOT_THE_USERS = tuple(
    str(Path(p).resolve()) + os.sep
    for p in {
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        str(Path(__file__).parents[2]),
    }
)


def user_traceback(exc: BaseException) -> str:
    """The traceback of an exception a user's code raised, trimmed to the user's own frames (not
    podium's, the standard library's or installed packages'), ending with the exception itself."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not str(Path(frame.filename).resolve()).startswith(_NOT_THE_USERS)
    ]
    listed = "".join(traceback.format_list(frames)) if frames else ""
    shown = "".join(traceback.format_exception_only(type(exc), exc))
    return f"Traceback (the workflow's own code):\n{listed}{shown}" if listed else shown


def what_it_did(exc: BaseException) -> str:
    """How a user's function (an agent or a tool) ended: `called sys.exit(3)`, `raised ValueError:
    why`, or `raised ValueError` when it says nothing (or its str() fails too)."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    try:
        text = str(exc)
    except Exception:
        text = ""
    return f"raised {type(exc).__name__}: {text}" if text else f"raised {type(exc).__name__}"
