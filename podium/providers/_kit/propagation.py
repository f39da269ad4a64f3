"""The headers a call sends its cloud (the W3C ``traceparent`` of its span), and where an SDK hook finds them.

The engine gives each call the trace context of its span (`AgentRequest.traceparent`); a provider
sends it on every HTTP request the call makes, so that the cloud's own spans join the run's trace
in the user's collector. An SDK that takes headers per request is given `call_headers(request)`
(a kit provider also finds them on its `SdkCall.headers`). An SDK whose client is made once and
shared by the provider's threads (boto3, an httpx client) is given `add_call_headers` as a hook
instead: it adds `current_headers()`, the headers of the call running in the current worker
thread, which `SdkThreads.run` sets for the length of that call.

    client.meta.events.register("before-send", add_call_headers)          # botocore
    httpx.Client(event_hooks={"request": [add_call_headers]})             # httpx
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from podium.core.calls import AgentRequest

TRACEPARENT = "traceparent"

# A ContextVar rather than a module global: each worker thread runs in a context of its own, so
# one client shared by many threads stamps each request with the headers of its own thread's call.
_current: ContextVar[Mapping[str, str]] = ContextVar("podium_call_headers", default=MappingProxyType({}))


def call_headers(request: AgentRequest) -> dict[str, str]:
    """The HTTP headers every request of `request`'s call carries: its ``traceparent``, when it has one."""
    return {TRACEPARENT: request.traceparent} if request.traceparent else {}


def current_headers() -> dict[str, str]:
    """The headers of the call running in this thread (empty outside a call: a deploy, a test's SDK)."""
    return dict(_current.get())


@contextlib.contextmanager
def sending(headers: Mapping[str, str]) -> Iterator[None]:
    """Make `headers` this thread's `current_headers()` until the block ends (a call in a worker thread)."""
    token = _current.set(MappingProxyType(dict(headers)))
    try:
        yield
    finally:
        _current.reset(token)


def add_call_headers(request: Any, **_: Any) -> None:
    """An SDK hook: add the current call's headers to an outgoing HTTP request (anything with `headers`).

    Fits a botocore ``before-send`` handler (keyword arguments) and an httpx request event hook.
    """
    for name, value in _current.get().items():
        request.headers[name] = value
