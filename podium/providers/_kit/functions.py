"""A user's python, as providers call it: ``module:function`` imported once, called sync or async.

Two places call user code: an event loop (the local provider's python agents) and a provider's
worker thread (a cloud agent's tools, while the SDK call that asked for them waits). Both must
call a plain function without blocking the loop, and await an async one on the run's own loop.
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
import traceback
from collections.abc import Callable, Mapping
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
