"""The kit's HTTP/1.1 on the event loop (`_kit/async_http.py`) against the emulators' real server: TLS,
keep-alive reuse, chunked replies, and each way a reply can fail."""

from __future__ import annotations

import socket
import ssl

import pytest

from podium.providers._kit.async_http import AsyncHttpPool, BrokenReply, ConnectFailed, ReadTimedOut
from podium.providers._kit.http import CUT, EmulatorServer, HttpRequest, HttpResponse
from podium.providers._kit.tls import issue


def _server(tls: ssl.SSLContext | None = None) -> EmulatorServer:
    """A server with four answers: a reversed echo, a chunked stream, a stream cut short, a slow one."""

    def answer(request: HttpRequest) -> HttpResponse:
        if request.path == "/stream":
            return HttpResponse(200, {"Content-Type": "text/plain"}, iter([b"one ", b"two ", b"three"]))
        if request.path == "/cut":
            return HttpResponse(200, {"Content-Type": "text/plain"}, iter([b"one ", CUT]))
        if request.path == "/slow":
            server.sleep(1.0)
        return HttpResponse(200, {"X-Seen": request.headers.get("x-probe", "")}, request.body[::-1])

    server = EmulatorServer(answer, tls=tls)
    return server


def _pool(**kw: object) -> AsyncHttpPool:
    return AsyncHttpPool(**{"size": 4, "connect_timeout": 2.0, "read_timeout": 2.0, **kw})  # type: ignore[arg-type]


async def test_https_keeps_one_connection_alive_for_many_requests_and_reads_chunked_replies() -> None:
    certificates = issue()
    server = _server(certificates.server_context())
    try:
        with server:
            pool = _pool(ssl_context=certificates.client_context)
            first = await pool.request("POST", f"{server.url}/x", {"x-probe": "p"}, b"abc")
            second = await pool.request("POST", f"{server.url}/x", {}, b"")
            streamed = await pool.request("GET", f"{server.url}/stream", {}, b"")
            assert (first.status, first.body, dict(first.headers)["x-seen"]) == (200, b"cba", "p")
            assert second.status == 200 and second.body == b""
            assert streamed.body == b"one two three"
            assert len(server._server.connections) == 1  # type: ignore[union-attr]  # one, reused
            await pool.aclose()
    finally:
        certificates.remove()


async def test_a_cut_reply_a_silent_server_and_a_closed_port_are_each_their_own_failure() -> None:
    server = _server()
    with server:
        pool = _pool(read_timeout=0.2)
        with pytest.raises(BrokenReply):
            await pool.request("GET", f"{server.url}/cut", {}, b"")
        with pytest.raises(ReadTimedOut):
            await pool.request("GET", f"{server.url}/slow", {}, b"")
        assert (await pool.request("POST", f"{server.url}/x", {}, b"ok")).body == b"ko"  # the pool goes on
        await pool.aclose()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ConnectFailed):
        await _pool().request("GET", f"http://127.0.0.1:{port}/", {}, b"")
