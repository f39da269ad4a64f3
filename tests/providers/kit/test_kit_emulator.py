"""The CloudEmulator base over real HTTP: a tiny route set, the request log, and every kind of fault."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from podium.core.calls import Emulator
from podium.providers._kit.brains import Answer, EchoBrain, ScriptedBrain, Turn
from podium.providers._kit.emulator import CloudEmulator, Route
from podium.providers._kit.http import HttpRequest, HttpResponse


class Tiny(CloudEmulator):
    """Three operations: Echo (JSON), Stream (framed lines), Bug (a handler that raises)."""

    provider = "tiny"

    def routes(self) -> Sequence[Route]:
        return [
            Route("POST", re.compile(r"^/echo$"), "Echo", self.echo),
            Route("GET", re.compile(r"^/stream/(\d+)$"), "Stream", self.stream),
            Route(None, re.compile(r"^/bug$"), "Bug", self.bug),
        ]

    def echo(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        early, fault = self.take_fault("Echo", detail)
        if early is not None:
            return early
        said = request.body.decode()
        detail["said"] = said
        answer = self.brain.answer(Turn(prompt=said))
        body = json.dumps({"said": answer.text, "padding": "x" * 200}).encode()
        return self.reply_with(HttpResponse(200, {"Content-Type": "application/json"}, body), fault)

    def stream(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        early, fault = self.take_fault("Stream", detail)
        if early is not None:
            return early
        frames = [f"frame {i}\n".encode() for i in range(int(match.group(1)))]
        body = self.stream_with(
            frames,
            fault,
            corrupt=lambda frame: b"\xff\xfe garbage\n",
            error=lambda f: f"error {f.code}\n".encode(),
        )
        return HttpResponse(200, {"Content-Type": "text/plain"}, body)

    def bug(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        raise RuntimeError("a bug in the emulator")


@pytest.fixture
def tiny() -> Iterator[Tiny]:
    with Tiny() as running:
        yield running


@pytest.fixture
def http(tiny: Tiny) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiny.endpoint_url, timeout=5) as client:
        yield client


def test_it_starts_on_an_ephemeral_port_of_127_0_0_1_and_stops() -> None:
    emulator = Tiny()
    with emulator:
        assert isinstance(emulator, Emulator)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.endpoint_url)
        assert not emulator.endpoint_url.endswith(":0")
        url = emulator.endpoint_url
        assert httpx.post(f"{url}/echo", content=b"hi").json()["said"] == "hi"
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{url}/echo", content=b"hi", timeout=2)
    with pytest.raises(RuntimeError, match="not running"):
        emulator.endpoint_url  # noqa: B018


def test_two_emulators_get_two_ports() -> None:
    with Tiny() as one, Tiny() as two:
        assert one.endpoint_url != two.endpoint_url


def test_the_request_log_says_what_was_asked_and_answered(tiny: Tiny, http: httpx.Client) -> None:
    http.post("/echo", content=b"first")
    http.get("/nowhere")
    assert [(e.operation, e.method, e.path, e.status) for e in tiny.requests] == [
        ("Echo", "POST", "/echo", 200),
        ("Unknown", "GET", "/nowhere", 404),
    ]
    assert tiny.requests[0].detail == {"said": "first"} and tiny.exchanges == tiny.requests
    assert tiny.count("Echo") == 1 and tiny.count() == 2


def test_the_request_log_keeps_the_traceparent_each_request_came_with(tiny: Tiny, http: httpx.Client) -> None:
    sent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    http.post("/echo", content=b"traced", headers={"traceparent": sent})
    http.post("/echo", content=b"not traced")
    assert [e.traceparent for e in tiny.requests] == [sent, None]


def test_an_unknown_path_is_the_services_404(http: httpx.Client) -> None:
    reply = http.get("/nowhere")
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "NotFound"


def test_throttle_is_a_429_with_retry_after_then_the_next_call_passes(tiny: Tiny, http: httpx.Client) -> None:
    tiny.faults.throttle(retry_after=1.5)
    first = http.post("/echo", content=b"x")
    assert first.status_code == 429 and first.headers["retry-after"] == "1.5"
    assert http.post("/echo", content=b"x").status_code == 200
    assert [(e.status, e.fault) for e in tiny.requests] == [(429, "throttle"), (200, None)]
    assert len(tiny.faults) == 0


def test_a_server_error_has_its_status(tiny: Tiny, http: httpx.Client) -> None:
    tiny.faults.server_error(503, times=2)
    assert [http.post("/echo", content=b"x").status_code for _ in range(3)] == [503, 503, 200]


def test_auth_fault_is_a_403(tiny: Tiny, http: httpx.Client) -> None:
    tiny.faults.deny()
    assert http.post("/echo", content=b"x").status_code == 403


def test_a_fault_for_one_operation_waits_for_it(tiny: Tiny, http: httpx.Client) -> None:
    tiny.faults.throttle(operation="Stream")
    assert http.post("/echo", content=b"x").status_code == 200
    assert http.get("/stream/2").status_code == 429


def test_delay_outlasts_a_client_timeout_then_answers(tiny: Tiny) -> None:
    tiny.faults.delay(0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{tiny.endpoint_url}/echo", content=b"x", timeout=0.1)
    tiny.faults.delay(0.2)
    started = time.perf_counter()
    assert httpx.post(f"{tiny.endpoint_url}/echo", content=b"x", timeout=5).status_code == 200
    assert time.perf_counter() - started >= 0.2


def test_stopping_wakes_a_delayed_request() -> None:
    emulator = Tiny().start()
    emulator.faults.delay(30)
    replies: list[int] = []
    worker = threading.Thread(
        target=lambda: replies.append(httpx.post(f"{emulator.endpoint_url}/echo", timeout=10).status_code)
    )
    worker.start()
    while not emulator.requests:
        time.sleep(0.01)
    emulator.stop()
    worker.join(20)
    # a 503 is only sent to a delay woken by the stop (not woken, it would answer after 30 s)
    assert replies == [503]


class Busy(Tiny):
    """Tiny with an operation that takes a while to answer and cannot be woken early."""

    def routes(self) -> Sequence[Route]:
        return [*super().routes(), Route("POST", re.compile(r"^/busy$"), "Busy", self.busy)]

    def busy(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        time.sleep(0.4)  # a handler at work (not a delay fault: stopping does not wake it)
        return HttpResponse(200, {"Content-Type": "text/plain"}, b"done")


def test_stopping_lets_a_request_being_answered_finish_its_answer() -> None:
    emulator = Busy().start()
    replies: list[int | str] = []

    def ask() -> None:
        try:
            replies.append(httpx.post(f"{emulator.endpoint_url}/busy", timeout=10).status_code)
        except httpx.HTTPError as exc:
            replies.append(type(exc).__name__)

    worker = threading.Thread(target=ask)
    worker.start()
    while not emulator.requests:
        time.sleep(0.01)
    emulator.stop()  # while the handler is still at work
    worker.join(5)
    assert replies == [200]  # its answer, not a connection closed under it


def test_cut_drops_a_stream_after_its_first_frame(tiny: Tiny, http: httpx.Client) -> None:
    tiny.faults.cut(operation="Stream")
    got: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError), http.stream("GET", "/stream/3") as reply:
        got.extend(reply.iter_lines())
    assert got == ["frame 0"]
    assert http.get("/stream/3").text == "frame 0\nframe 1\nframe 2\n"


def test_cut_drops_a_fixed_body_half_way(tiny: Tiny, http: httpx.Client) -> None:
    tiny.faults.cut()
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/echo", content=b"x")


def test_malformed_corrupts_a_frame_or_halves_a_body(tiny: Tiny, http: httpx.Client) -> None:
    tiny.faults.malformed(operation="Stream")
    assert http.get("/stream/3").content == b"frame 0\n\xff\xfe garbage\n"
    tiny.faults.malformed(operation="Echo")
    reply = http.post("/echo", content=b"x")
    assert reply.status_code == 200
    with pytest.raises(ValueError):
        reply.json()


def test_a_stream_error_replaces_the_second_frame(tiny: Tiny, http: httpx.Client) -> None:
    tiny.faults.stream_error("overloaded", operation="Stream")
    assert http.get("/stream/3").text == "frame 0\nerror overloaded\n"


def test_a_handler_bug_is_a_500_not_a_hang(tiny: Tiny, http: httpx.Client) -> None:
    reply = http.get("/bug", timeout=5)
    assert reply.status_code == 500 and "RuntimeError" in reply.json()["error"]["message"]
    assert tiny.requests[-1].status == 500
    assert http.post("/echo", content=b"still up").status_code == 200


def test_the_brain_can_be_a_function_or_a_script(tiny: Tiny, http: httpx.Client) -> None:
    tiny.brain = lambda turn: turn.prompt.upper()
    assert http.post("/echo", content=b"shout").json()["said"] == "SHOUT"
    tiny.brain = lambda turn: Answer("exact", usage=EchoBrain().answer(turn).usage)
    assert http.post("/echo", content=b"x").json()["said"] == "exact"
    scripted = Tiny.for_mock({"a": "from the script"})
    assert isinstance(scripted.brain, ScriptedBrain) and isinstance(Tiny.for_mock(None).brain, EchoBrain)


def test_settings_and_environment_hooks_default_to_the_endpoint(tiny: Tiny) -> None:
    assert tiny.settings() == {"endpoint_url": tiny.endpoint_url} and tiny.environment() == {}
