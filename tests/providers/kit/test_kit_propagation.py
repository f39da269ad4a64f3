"""A call's headers (its traceparent) reach the SDK: on `SdkCall.headers`, and for hooks in its thread."""

from __future__ import annotations

import asyncio
import threading

from podium.providers._kit.propagation import add_call_headers, call_headers, current_headers, sending
from podium.providers._kit.threads import SdkCall, SdkThreads
from podium.testing import agent_request

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Outgoing:
    """An SDK's outgoing request, as a botocore or httpx hook sees it: something with headers."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {"content-type": "application/json"}


def test_a_request_with_a_traceparent_sends_it_and_one_without_sends_no_header() -> None:
    assert call_headers(agent_request("hi", provider="cloud", traceparent=TP)) == {"traceparent": TP}
    assert call_headers(agent_request("hi", provider="cloud")) == {}


async def test_each_call_in_a_shared_pool_sees_only_its_own_headers_and_none_after() -> None:
    threads = SdkThreads(2, name="cloud")
    both = threading.Barrier(2, timeout=5)  # the two calls run at the same time, in two threads

    def call(sdk: SdkCall) -> tuple[dict[str, str], dict[str, str]]:
        both.wait()
        outgoing = Outgoing()
        add_call_headers(outgoing, event_name="before-send.bedrock-runtime.Converse")  # botocore's kwargs
        return sdk.headers, outgoing.headers

    first = {"traceparent": TP}
    second = {"traceparent": TP.replace("b7ad", "0000")}
    seen = await asyncio.gather(threads.run(call, headers=first), threads.run(call, headers=second))

    assert seen[0] == (first, {"content-type": "application/json", **first})
    assert seen[1] == (second, {"content-type": "application/json", **second})
    # the worker threads are free of them once their calls end, and so is a call given none
    assert await threads.run(lambda sdk: current_headers()) == {}
    assert await asyncio.gather(*(threads.run(lambda sdk: current_headers()) for _ in range(4))) == [{}] * 4
    threads.close()


def test_outside_a_call_a_hook_adds_nothing() -> None:
    outgoing = Outgoing()
    add_call_headers(outgoing)
    assert outgoing.headers == {"content-type": "application/json"}


def test_the_headers_last_only_as_long_as_the_call() -> None:
    with sending({"traceparent": TP}):
        assert current_headers() == {"traceparent": TP}
    assert current_headers() == {}
