"""`CloudEmulator`: the base of every cloud's local emulator — routes, faults, request log, start and stop.

A cloud's emulator subclasses it and supplies what is its own: `routes()` (method + path regex →
handler, in the service's wire format), how its errors look (`error_response`), and the provider
settings and environment variables that point its SDK at it (`settings()`, `environment()`). The
base serves the routes over real HTTP on 127.0.0.1 (port 0: any free port), logs every request
as an `Exchange`, applies the faults a test queues on `faults`, answers a handler's bug with a 500,
and asks its `brain` what the emulated agents say.

    class FakeCloudEmulator(CloudEmulator):
        provider = "fakecloud"

        def routes(self):
            return [Route("POST", re.compile(r"^/v1/agents/([^/]+):ask$"), "Ask", self.ask)]

        def ask(self, request, match, detail):
            early, fault = self.take_fault("Ask", detail)
            ...
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

from podium.providers._kit.brains import Answer, Brain, CallableBrain, EchoBrain, ScriptedBrain, Turn
from podium.providers._kit.faults import Fault, Faults
from podium.providers._kit.http import CUT, Cut, EmulatorServer, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from podium.providers._kit.tls import Certificates

RouteHandler = Callable[[HttpRequest, re.Match[str], dict[str, Any]], HttpResponse]


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: requests with `method` (None: any) whose path matches `path` go to `handler`.

    The handler gets the request, the path's match, and a `detail` dict whose entries end up in the
    request log (``detail["step"]``, ``detail["usage"]``, …).
    """

    method: str | None
    path: re.Pattern[str]
    operation: str
    handler: RouteHandler


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the emulator served: for tests that count calls and read what was sent.

    `traceparent` is the W3C trace context header the request came with (None: none), so a test
    can check that each call's requests carry its span's. `started` and `finished` are
    `time.monotonic()` when it arrived and when its handler answered (0.0: not yet), so a test can
    tell how many requests were in flight at once.
    """

    operation: str
    method: str
    path: str
    status: int
    fault: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    traceparent: str | None = None
    started: float = 0.0
    finished: float = 0.0


# ids of emulated things (requests, sessions, invocations) are drawn from one generator seeded once:
# `uuid.uuid4()` reads os.urandom, a system call that releases the GIL, and with the client in the
# same process each release hands the GIL to it and back (on a busy machine, a wait for the OS each)
_IDS = random.Random()
os.register_at_fork(after_in_child=_IDS.seed)  # a forked process draws its own ids, not its parent's


def new_id() -> uuid.UUID:
    """A random (version 4) UUID for an emulated resource; not for secrets."""
    return uuid.UUID(int=_IDS.getrandbits(128), version=4)


LOG_SIZE = 10_000  # exchanges the request log keeps: the oldest go first (counts stay exact)
LOG_TEXT = 4096  # characters of a logged text (a prompt, a tool result) kept: memory stays flat


def clip(value: Any, limit: int = LOG_TEXT) -> Any:
    """`value` with every text in it cut to `limit` characters (what is cut is said), for a log to keep."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return f"{value[:limit]}… ({len(value) - limit} more characters not kept)"
    if isinstance(value, dict):
        return {k: clip(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clip(v, limit) for v in value]
    return value


class CloudEmulator:
    """A cloud's service on 127.0.0.1; subclasses add routes, their error format and SDK settings.

    Its request log keeps the last `log_size` exchanges, each text in them cut to `log_text`
    characters (`count` stays exact); a request body over `max_body` bytes is answered with a 413.
    Set them on the class, or on an instance before its requests.
    """

    log_size: int = LOG_SIZE
    log_text: int = LOG_TEXT

    provider: ClassVar[str] = "cloud"  # the podium provider it emulates
    # serve HTTPS with a throwaway CA (`ca_file`) made at construction: for SDKs that refuse to send
    # a bearer token over plain HTTP (azure-core)
    tls: ClassVar[bool] = False

    def __init__(self, brain: Brain | Callable[[Turn], str | Answer] | None = None, *, port: int = 0) -> None:
        self.faults = Faults()
        self.certificates: Certificates | None = None
        context = None
        if self.tls:
            from podium.providers._kit.tls import issue

            self.certificates = issue()
            weakref.finalize(self, self.certificates.remove)
            context = self.certificates.server_context()
        self.server = EmulatorServer(
            self.handle, port=port, name=self.provider, tls=context, refuse=self._refuse
        )
        self._brain: Brain = EchoBrain()
        if brain is not None:
            self.brain = brain
        # by arrival number: a request is logged as it arrives and its entry updated when answered
        self._exchanges: OrderedDict[int, Exchange] = OrderedDict()
        self._arrived = 0
        self._counts: Counter[str] = Counter()
        self._log_lock = threading.Lock()
        self._routes: list[Route] = list(self.routes())

    @classmethod
    def for_mock(cls, mock: Mapping[str, Any] | None = None, *, port: int = 0, **options: Any) -> Self:
        """An emulator (not started) answering from a workflow's ``mock:`` replies, else an echo."""
        brain: Brain = ScriptedBrain(mock, provider=cls.provider) if mock else EchoBrain()
        return cls(brain, port=port, **options)

    @property
    def brain(self) -> Brain:
        """What answers the emulated agents and models; may be swapped while the emulator runs."""
        return self._brain

    @brain.setter
    def brain(self, brain: Brain | Callable[[Turn], str | Answer]) -> None:
        self._brain = brain if hasattr(brain, "answer") else CallableBrain(brain)  # type: ignore[arg-type,assignment]

    # --- what a cloud supplies --------------------------------------------------------------------

    def routes(self) -> Sequence[Route]:
        """The service's operations, tried in order."""
        return ()

    def unrouted(self, request: HttpRequest) -> tuple[str, Callable[[dict[str, Any]], HttpResponse]]:
        """The operation name and handler for a request no route matches (default: the service's 404)."""
        return "Unknown", lambda detail: self.error_response(
            404,
            "NotFound",
            f"podium's {self.provider} emulator does not implement {request.method} {request.path}",
        )

    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> HttpResponse:
        """An error in the service's format (default: ``{"error": {"code", "message"}}`` JSON)."""
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        body = {"error": {"code": code, "message": message, "status": status}}
        return HttpResponse(status, headers, json.dumps(body).encode())

    def fault_response(self, fault: Fault, operation: str) -> HttpResponse:
        """A throttle, server-error or auth fault as the service's error reply."""
        if fault.kind == "throttle":
            return self.error_response(
                429, "Throttled", fault.message or "Too many requests.", retry_after=fault.retry_after
            )
        if fault.kind == "auth":
            return self.error_response(403, "AccessDenied", fault.message or "Access denied.")
        return self.error_response(
            fault.status or 500,
            "InternalError",
            fault.message or "The service encountered an internal error.",
            retry_after=fault.retry_after,
        )

    # the error code a body the service cannot parse gets (each cloud names its own)
    malformed_code = "InvalidRequest"

    def internal_error(self, exc: Exception) -> HttpResponse:
        """A handler's bug, as the service's 500 (the client sees an error, never a hang)."""
        return self.error_response(500, "InternalError", f"emulator error: {type(exc).__name__}")

    def settings(self) -> dict[str, Any]:
        """The ``providers.<name>`` settings that point podium's provider at this emulator."""
        return {"endpoint_url": self.endpoint_url}

    def environment(self) -> dict[str, str]:
        """Environment variables that point the cloud's own SDK (and CLI) at this emulator."""
        return {}

    def client_hint(self) -> str | None:
        """How to make the SDK's client once `environment()` is set, where the environment alone
        is not enough (printed by `podium emulate`); None when it is."""
        return None

    # --- serving ----------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Serve one request (from the server's threads): route it, log it, answer it."""
        operation, serve = self._route(request)
        arrived = Exchange(
            operation, request.method, request.path, 0, traceparent=request.headers.get("traceparent"),
            started=time.monotonic(),
        )  # fmt: skip
        with self._log_lock:  # logged on arrival, so a test sees a request that is still sleeping
            number = self._arrived
            self._arrived += 1
            self._counts[operation] += 1
            self._exchanges[number] = arrived
            while len(self._exchanges) > max(self.log_size, 0):
                self._exchanges.popitem(last=False)
        detail: dict[str, Any] = {}
        try:
            response = serve(detail)
        except RecursionError:
            # JSON nested past the parser's depth: the client's malformed body, not the emulator's bug
            response = self.error_response(
                400, self.malformed_code, "The request body is nested too deeply to be parsed as JSON."
            )
        except Exception as exc:
            response = self.internal_error(exc)
        fault = detail.pop("fault", None)
        answered = replace(
            arrived, status=response.status, fault=fault, detail=clip(detail, self.log_text),
            finished=time.monotonic(),
        )  # fmt: skip
        with self._log_lock:
            if number in self._exchanges:  # (else already dropped from the log by newer requests)
                self._exchanges[number] = answered
        return response

    def _refuse(self, status: int, code: str, message: str) -> HttpResponse:
        """What the server answers, in the service's format, to a request it will not read (a 413)."""
        return self.error_response(status, code, message)

    @property
    def max_body(self) -> int:
        """The largest request body served, in bytes; a larger one gets a 413 (default 32 MiB)."""
        return self.server.max_body

    @max_body.setter
    def max_body(self, size: int) -> None:
        self.server.max_body = size

    def _route(self, request: HttpRequest) -> tuple[str, Callable[[dict[str, Any]], HttpResponse]]:
        for route in self._routes:
            if route.method not in (None, request.method):
                continue
            match = route.path.match(request.path)
            if match is not None:
                return route.operation, lambda detail, r=route, m=match: r.handler(request, m, detail)
        return self.unrouted(request)

    def take_fault(self, operation: str, detail: dict[str, Any]) -> tuple[HttpResponse | None, Fault | None]:
        """The fault queued for this request: ``(reply, None)`` to send instead, or ``(None, fault)``.

        A delay is slept here (a 503 if the emulator stops meanwhile) and the request then goes on;
        a throttle, server error or auth fault is answered at once (`fault_response`); a cut,
        malformed or stream-error fault comes back for the handler to apply to its reply
        (`reply_with` and `stream_with` do it for JSON bodies and framed streams).
        """
        fault = self.faults.take(operation)
        if fault is None:
            return None, None
        detail["fault"] = fault.kind
        if fault.kind == "delay":
            if self.sleep(fault.seconds):
                stopping = Fault("server_error", status=503, message="The emulator is stopping.")
                return self.fault_response(stopping, operation), None
            return None, None
        if fault.kind in ("cut", "malformed", "stream_error"):
            return None, fault
        return self.fault_response(fault, operation), None

    @staticmethod
    def reply_with(response: HttpResponse, fault: Fault | None) -> HttpResponse:
        """A fixed reply with a cut (half sent, then dropped) or malformed (half a body) fault applied."""
        if fault is None or not isinstance(response.body, bytes):
            return response
        if fault.kind == "cut":
            response.cut_after = len(response.body) // 2
        elif fault.kind == "malformed":
            response.body = response.body[: len(response.body) // 2]
        return response

    @staticmethod
    def stream_with(
        frames: Iterable[bytes],
        fault: Fault | None,
        *,
        corrupt: Callable[[bytes], bytes],
        error: Callable[[Fault], bytes],
    ) -> Iterator[bytes | Cut]:
        """A streamed reply whose second frame is cut, `corrupt`-ed, or replaced by an `error` frame."""
        for index, frame in enumerate(frames):
            if index == 1 and fault is not None:
                if fault.kind == "cut":
                    yield CUT
                    return
                if fault.kind == "malformed":
                    yield corrupt(frame)
                    return
                if fault.kind == "stream_error":
                    yield error(fault)
                    return
            yield frame

    # --- life -------------------------------------------------------------------------------------

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        return self.server.url

    @property
    def ca_file(self) -> str | None:
        """The CA certificate file a client must trust to reach a TLS emulator (None: plain HTTP)."""
        return str(self.certificates.ca_file) if self.certificates is not None else None

    def sleep(self, seconds: float) -> bool:
        """Sleep in a handler; True (early) when the emulator is stopping."""
        return self.server.sleep(seconds)

    # --- what was asked ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[Exchange]:
        """The requests served, in order (operation, status, fault, and what was asked): the last
        `log_size` of them, their texts cut to `log_text` characters."""
        with self._log_lock:
            return list(self._exchanges.values())

    exchanges = requests

    def count(self, operation: str | None = None) -> int:
        """Requests served, of one operation or all (every one, also those the log no longer keeps)."""
        with self._log_lock:
            return self._arrived if operation is None else self._counts[operation]
