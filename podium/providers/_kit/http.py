"""The emulators' HTTP server: real HTTP/1.1 on 127.0.0.1, keep-alive, chunked streams that can be cut.

One handler function turns an `HttpRequest` into an `HttpResponse`; the server runs it in a thread
per connection. A handler that raises is answered with a 500, never a hung client. A request the
server will not read is refused before the handler sees it: a body over `max_body` bytes with a
413 (the body is read and dropped in pieces, so memory stays flat and the client gets the answer),
a `Content-Length` that is not a number with a 400. The listen backlog is `BACKLOG`, so bursts of
new connections wait in the kernel's queue instead of having their SYN dropped (a 1 s retry).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


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


Handler = Callable[[HttpRequest], HttpResponse]
# what a refused request is answered with: (status, code, message) -> the reply, in the service's format
Refuse = Callable[[int, str, str], HttpResponse]

MAX_BODY = 32 * 1024 * 1024  # bytes: a request body above it gets a 413
BACKLOG = 128  # connections the kernel queues before accept(): socketserver's default is 5
_DRAIN = 1 << 16


def _refuse_json(status: int, code: str, message: str) -> HttpResponse:
    body = {"error": {"code": code, "message": message, "status": status}}
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


# seconds a stopping emulator gives requests in flight to answer (a woken delay answers in ms; the
# margin is for a loaded machine, where a handler thread can wait seconds to be scheduled)
STOP_GRACE = 5.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        *,
        max_body: int = MAX_BODY,
        refuse: Refuse = _refuse_json,
    ) -> None:
        self.handle_request_fn = handler
        self.max_body = max_body
        self.refuse = refuse
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.scheme = "http"
        # requests being answered: stopping lets them write their answer before it closes connections
        self.answering = 0
        self.answered = threading.Condition()
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
    disable_nagle_algorithm = True  # a stream's frames go in separate writes: no 40 ms delayed-ACK stalls
    # a reply's head and body, and a stream's frames (made all at once by every emulator), leave in one
    # write where they fit: one wake-up of the client per reply instead of one per piece. A cut
    # (`_drop`) flushes what came before it; http.server flushes the rest when the reply ends
    wbufsize = 1 << 16
    server: _Server
    timeout = 60  # an idle keep-alive connection is closed after this

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):  # TLS: the handshake in this thread, not accept()'s
            self.connection.do_handshake()

    def _serve(self) -> None:
        declared = (self.headers.get("Content-Length") or "0").strip()
        # not a number (or a negative one): where the body ends cannot be known
        if not (declared.isascii() and declared.isdigit()):
            self._refused(
                400, "BadRequest", f"Content-Length must be a number of bytes, not {declared[:40]!r}"
            )
            return
        length = int(declared)
        if length > self.server.max_body:
            self._drain(length)  # read and dropped, so that the client (still sending) gets the 413
            self._refused(
                413,
                "RequestEntityTooLarge",
                f"the request body is {length} bytes; this emulator takes at most {self.server.max_body}",
            )
            return
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = HttpRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            url=f"{self.server.scheme}://{self.headers.get('Host', '127.0.0.1')}{self.path}",
        )
        server = self.server
        with server.answered:
            server.answering += 1
        try:
            try:
                response = server.handle_request_fn(request)
            except Exception as exc:  # a bug in an emulator is a 500, never a hung client
                said = {"code": "InternalError", "message": f"emulator error: {type(exc).__name__}"}
                response = HttpResponse(
                    500, {"Content-Type": "application/json"}, json.dumps({"error": said}).encode()
                )
            self._write(response)
        finally:
            with server.answered:
                server.answering -= 1
                server.answered.notify_all()

    def _drain(self, length: int) -> None:
        while length > 0:
            piece = self.rfile.read(min(length, _DRAIN))
            if not piece:
                return
            length -= len(piece)

    def _refused(self, status: int, code: str, message: str) -> None:
        response = self.server.refuse(status, code, message)
        response.headers = {**response.headers, "Connection": "close"}
        self.close_connection = True
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
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class EmulatorServer:
    """A threaded HTTP server on 127.0.0.1 (port 0: any free port) serving one handler function.

    With `tls` (a server `ssl.SSLContext`, see `podium.providers._kit.tls`) it serves HTTPS instead.
    `refuse` formats the 400 and 413 it sends before any handler runs (the service's error format).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "emulator",
        tls: ssl.SSLContext | None = None,
        max_body: int = MAX_BODY,
        refuse: Refuse = _refuse_json,
    ):
        self.handler = handler
        self.refuse = refuse
        self._max_body = max_body
        self.tls = tls
        self.host = host
        self.port = port
        self.name = name
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def max_body(self) -> int:
        """The largest request body served, in bytes; a larger one is answered with a 413."""
        return self._max_body

    @max_body.setter
    def max_body(self, size: int) -> None:
        self._max_body = size
        if self._server is not None:
            self._server.max_body = size

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} emulator is not running")
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls is not None else 'http'}://{host}:{port}"

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = _Server(
            (self.host, self.port), self.handler, max_body=self._max_body, refuse=self.refuse
        )
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            self._server.scheme = "https"
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
        with server.answered:  # ... and lets them send their answer (a 503) before connections close
            server.answered.wait_for(lambda: server.answering == 0, timeout=STOP_GRACE)
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
