"""What every cloud emulator shares: an HTTP server on 127.0.0.1, injected faults, and the agents' brains.

A cloud's emulator (``podium/providers/<cloud>/emulator.py``) supplies one function that turns an
`HttpRequest` into an `HttpResponse`; this module serves it on an ephemeral port with real HTTP/1.1
(keep-alive, chunked streams that can be cut mid-way), keeps a log of what was asked, queues the
faults a test injects, and answers questions with a `Brain`: the workflow's scripted ``mock:``
replies (the very logic the local provider uses), an echo, or any python callable.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from podium.core.calls import AgentRequest, Message, Usage
from podium.core.errors import InvalidRequest
from podium.core.spec import MockTool
from podium.providers.local.scripted import (
    Script,
    estimate_tokens,
    raise_scripted_error,
    reply_text,
    usage_for,
)

# --- the questions and the brains that answer them ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """One question put to an emulated agent or model, in podium's words.

    `step`, `agent` and `run_id` are known when podium itself is the client (it tags its calls);
    other clients leave them None, and a scripted brain then keys on `agent` alone.
    """

    prompt: str
    messages: tuple[Message, ...] = ()
    instructions: str | None = None
    step: str | None = None
    agent: str | None = None
    run_id: str | None = None
    model: str | None = None
    session_id: str | None = None

    def as_request(self, provider: str) -> AgentRequest:
        """The same question as an AgentRequest, so that usage estimates match the local provider's."""
        return AgentRequest(
            run_id=self.run_id or "emulator",
            step=self.step or "",
            agent=self.agent or "",
            attempt=1,
            provider=provider,
            model=self.model,
            instructions=self.instructions,
            messages=list(self.messages) or [Message(role="user", content=self.prompt)],
            idempotency_key="",
            session_id=self.session_id or "",
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What a brain replied, and the tokens the emulator reports for it; with `tool`, a scripted
    request for a tool call (InvokeAgent returns control) rather than an answer."""

    text: str
    usage: Usage
    tool: MockTool | None = None


class Brain(Protocol):
    """Answers one turn, or raises a podium StepError (Throttled, …) that the emulator sends as the
    service's own error."""

    def answer(self, turn: Turn) -> Answer: ...


class EchoBrain:
    """Replies with the prompt; usage estimated at four characters a token."""

    def answer(self, turn: Turn) -> Answer:
        sent = (turn.instructions or "") + "".join(m.content for m in turn.messages) or turn.prompt
        return Answer(
            text=turn.prompt,
            usage=Usage(input_tokens=estimate_tokens(sent), output_tokens=estimate_tokens(turn.prompt)),
        )


class CallableBrain:
    """A python function as the brain: ``fn(turn)`` returns text or an `Answer`, or raises."""

    def __init__(self, fn: Callable[[Turn], str | Answer]) -> None:
        self.fn = fn

    def answer(self, turn: Turn) -> Answer:
        result = self.fn(turn)
        if isinstance(result, Answer):
            return result
        text = str(result)
        return Answer(
            text=text,
            usage=Usage(input_tokens=estimate_tokens(turn.prompt), output_tokens=estimate_tokens(text)),
        )


class ScriptedBrain:
    """The workflow's ``mock:`` replies, keyed by step, else by agent, exactly as the local provider.

    A reply's ``latency`` is slept here (in the server's thread), its ``error`` is raised as a
    podium error for the emulator to send as the service's own, and its ``usage`` (or the same
    estimate the local provider makes) is what the service reports. A turn with no mock reply goes
    to `fallback`, or fails as a validation error naming the mock key to add.
    """

    def __init__(self, mock: Mapping[str, Any], *, provider: str, fallback: Brain | None = None) -> None:
        self.script = Script(mock)
        self.provider = provider
        self.fallback = fallback
        self._lock = threading.Lock()

    def key_for(self, turn: Turn) -> str | None:
        for key in (turn.step, turn.agent):
            if key is not None and key in self.script.entries:
                return key
        return None

    def answer(self, turn: Turn) -> Answer:
        key = self.key_for(turn)
        if key is None:
            if self.fallback is not None:
                return self.fallback.answer(turn)
            named = " or ".join(repr(k) for k in (turn.step, turn.agent) if k) or "this call"
            raise InvalidRequest(
                f"the emulator has no mock reply for {named}",
                fix=f"add a reply under mock: keyed {named} to the workflow",
                provider=self.provider,
            )
        with self._lock:  # the sequence position is shared by concurrent calls
            reply = self.script.next_reply(key, turn.prompt)
        if reply.latency:
            time.sleep(reply.latency)
        raise_scripted_error(reply, self.provider)
        if reply.tool is not None:
            asked = json.dumps(reply.tool.model_dump(), ensure_ascii=False)
            return Answer(
                text="", usage=usage_for(reply, turn.as_request(self.provider), asked), tool=reply.tool
            )
        text = reply_text(reply)
        return Answer(text=text, usage=usage_for(reply, turn.as_request(self.provider), text))


# --- faults --------------------------------------------------------------------------------------

FaultKind = Literal["throttle", "server_error", "delay", "cut", "malformed", "auth", "stream_error"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure; the cloud's emulator renders it in its own wire format.

    ``throttle`` (429, with ``retry_after`` as a Retry-After header when given), ``server_error``
    (``status`` 500, 502 or 503), ``delay`` (``seconds`` of silence before anything is sent, to
    outlast the client's read timeout), ``cut`` (a streamed reply dropped after its first frame, or
    a body cut half-way), ``malformed`` (a frame with a broken checksum, or a body that is not
    JSON), ``auth`` (403 access denied), ``stream_error`` (an error event inside a 200 stream;
    ``code`` names it). ``operation`` limits it to one operation (``InvokeAgent``, ``Converse``).
    """

    kind: FaultKind
    status: int | None = None
    seconds: float = 0.0
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    operation: str | None = None


class Faults:
    """A queue of faults, each consumed by the next request it applies to (thread-safe)."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()

    def inject(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._queue.extend([fault] * times)

    def take(self, operation: str) -> Fault | None:
        """The first queued fault for `operation` (or for any), removed from the queue."""
        with self._lock:
            for fault in self._queue:
                if fault.operation in (None, operation):
                    self._queue.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)

    # the usual ones, by name

    def throttle(
        self, times: int = 1, *, retry_after: float | None = None, operation: str | None = None
    ) -> None:
        self.inject(Fault("throttle", status=429, retry_after=retry_after, operation=operation), times)

    def server_error(self, status: int = 500, times: int = 1, *, operation: str | None = None) -> None:
        self.inject(Fault("server_error", status=status, operation=operation), times)

    def delay(self, seconds: float, times: int = 1, *, operation: str | None = None) -> None:
        self.inject(Fault("delay", seconds=seconds, operation=operation), times)

    def cut(self, times: int = 1, *, operation: str | None = None) -> None:
        self.inject(Fault("cut", operation=operation), times)

    def malformed(self, times: int = 1, *, operation: str | None = None) -> None:
        self.inject(Fault("malformed", operation=operation), times)

    def deny(self, times: int = 1, *, operation: str | None = None) -> None:
        self.inject(Fault("auth", status=403, operation=operation), times)

    def stream_error(self, code: str, times: int = 1, *, operation: str | None = None) -> None:
        self.inject(Fault("stream_error", code=code, operation=operation), times)


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as the emulator's handler sees it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    url: str


class Cut:
    """Yielded by a streamed body: drop the connection here, with no end to the stream."""


CUT = Cut()
Stream = Iterable[bytes | Cut]


@dataclass(slots=True)
class HttpResponse:
    """A reply: `body` bytes (sent with a Content-Length) or an iterable of frames (sent chunked)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Stream = b""
    cut_after: int | None = None  # bytes: send only this much of a fixed body, then drop


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the emulator served: for tests that count calls and read what was sent."""

    operation: str
    method: str
    path: str
    status: int
    fault: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[HttpRequest], HttpResponse]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: Handler) -> None:
        self.handle_request_fn = handler
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (a timeout test) is not an error worth printing


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms delayed-ACK stalls
    server: _Server
    timeout = 60  # an idle keep-alive connection is closed after this

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = HttpRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            url=f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}",
        )
        try:
            response = self.server.handle_request_fn(request)
        except Exception as exc:  # a bug in an emulator is a 500, never a hung client
            response = HttpResponse(
                500,
                {"Content-Type": "application/json", "x-amzn-ErrorType": "InternalServerException"},
                f'{{"message": "emulator error: {type(exc).__name__}"}}'.encode(),
            )
        self._write(response)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if isinstance(response.body, bytes | bytearray):
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.cut_after is not None:
                self.wfile.write(response.body[: response.cut_after])
                self._drop()
                return
            self.wfile.write(response.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for frame in response.body:
            if isinstance(frame, Cut):
                self._drop()
                return
            if frame:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class EmulatorServer:
    """A threaded HTTP server on 127.0.0.1 (port 0: any free port) serving one handler function."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0, name: str = "emulator"):
        self.handler = handler
        self.host = host
        self.port = port
        self.name = name
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = _Server((self.host, self.port), self.handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"podium-{self.name}-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()  # wakes handlers sleeping through a delay fault
        server.shutdown()
        with server.connections_lock:
            open_connections = list(server.connections)
        for conn in open_connections:  # idle keep-alive connections would otherwise linger
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def sleep(self, seconds: float) -> bool:
        """Sleep in a handler; returns True early if the emulator is stopping."""
        return self.stopping.wait(seconds)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
