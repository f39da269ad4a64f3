"""The emulators' limits (issue 16, finding 10): a body cap, a bounded request log, a 400 for a bad
Content-Length, and a listen backlog that takes a burst of connections. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import re
import select
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from podium.providers._kit.emulator import LOG_TEXT, CloudEmulator, Route
from podium.providers._kit.http import BACKLOG, MAX_BODY, EmulatorServer, HttpRequest, HttpResponse, _Server


class Said(CloudEmulator):
    """One operation, Say: logs what it was sent (as a cloud logs a prompt) and answers its length."""

    provider = "said"

    def routes(self) -> Sequence[Route]:
        return [Route("POST", re.compile(r"^/say$"), "Say", self.say)]

    def say(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        detail["input"] = request.body.decode()
        detail["turns"] = [{"input": request.body.decode()}]
        return HttpResponse(
            200, {"Content-Type": "application/json"}, json.dumps({"n": len(request.body)}).encode()
        )

    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> HttpResponse:
        body = {"__type": code, "message": message}  # the cloud's own error format
        return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


@pytest.fixture
def said() -> Iterator[Said]:
    with Said() as emulator:
        yield emulator


def test_a_body_over_the_cap_gets_a_413_in_the_services_format_and_never_reaches_the_handler(
    said: Said,
) -> None:
    assert said.max_body == MAX_BODY == 32 * 1024 * 1024  # the default
    said.max_body = 1000
    with httpx.Client(base_url=said.endpoint_url) as client:
        at_cap = client.post("/say", content=b"x" * 1000)
        over = client.post("/say", content=b"x" * 5000)
        after = client.post("/say", content=b"ok")  # the client goes on (on a new connection)
    assert at_cap.status_code == 200 and at_cap.json() == {"n": 1000}
    assert over.status_code == 413
    assert over.json()["__type"] == "RequestEntityTooLarge" and "5000 bytes" in over.json()["message"]
    assert after.status_code == 200
    assert said.count("Say") == 2  # the refused body was never served


def _raw(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


@pytest.mark.parametrize("length", ["abc", "-5", "12x"])
def test_a_content_length_that_is_not_a_number_gets_a_400_not_a_dropped_connection(
    said: Said, length: str
) -> None:
    reply = _raw(
        said.endpoint_url, f"POST /say HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nhello".encode()
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), reply
    assert json.loads(body)["__type"] == "BadRequest" and length in json.loads(body)["message"]
    assert said.count() == 0


def test_the_request_log_keeps_the_last_exchanges_with_texts_cut_and_counts_every_one(said: Said) -> None:
    said.log_size = 20
    prompt = "p" * 100_000
    with httpx.Client(base_url=said.endpoint_url) as client:
        for i in range(60):
            assert client.post("/say", content=f"{i}:{prompt}".encode()).json()["n"] == len(prompt) + len(
                f"{i}:"
            )
    kept = said.requests
    assert said.count("Say") == said.count() == 60  # counts stay exact
    assert len(kept) == 20 and [e.detail["input"].split(":")[0] for e in kept] == [
        str(i) for i in range(40, 60)
    ]
    assert all(e.status == 200 for e in kept)
    # what the log retains is bounded: 20 exchanges, each text cut to LOG_TEXT characters
    retained = sum(len(json.dumps(e.detail)) for e in kept)
    assert retained < 20 * (2 * LOG_TEXT + 500)
    assert kept[-1].detail["input"].endswith("more characters not kept)")
    assert kept[-1].detail["turns"][0]["input"].startswith("59:ppp")


def test_a_short_text_is_logged_whole(said: Said) -> None:
    with httpx.Client(base_url=said.endpoint_url) as client:
        client.post("/say", content=b"hello")
    assert said.requests[-1].detail == {"input": "hello", "turns": [{"input": "hello"}]}


def test_the_listen_backlog_takes_a_burst_of_connections_that_are_not_yet_accepted() -> None:
    server = _Server(("127.0.0.1", 0), lambda request: HttpResponse(200))  # listening, accepting nothing
    burst = 120  # within the backlog (the kernel queues backlog + 1)
    clients: list[socket.socket] = []
    try:
        assert server.request_queue_size == BACKLOG >= 128
        for _ in range(burst):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(server.server_address)
            clients.append(sock)
        pending = list(clients)
        while pending:  # each connects as soon as the kernel queues it; one that is dropped never does
            _, writable, _ = select.select([], pending, [], 3)
            if not writable:
                break
            pending = [s for s in pending if s not in writable]
        server.socket.setblocking(False)
        accepted = 0
        while True:
            try:
                conn, _ = server.socket.accept()
            except BlockingIOError:
                break
            conn.close()
            accepted += 1
        assert accepted == burst  # socketserver's backlog of 5 queued 6 and dropped the rest's SYNs
    finally:
        for sock in clients:
            sock.close()
        server.server_close()


def test_an_emulator_server_alone_refuses_in_plain_json() -> None:
    with EmulatorServer(lambda request: HttpResponse(200, body=b"ok"), max_body=10) as server:
        reply = httpx.post(f"{server.url}/x", content=b"y" * 11)
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "RequestEntityTooLarge"
