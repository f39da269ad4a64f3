"""Keep-alive HTTP/1.1 on the event loop (asyncio streams, spoken by h11): a cloud call without a thread.

A provider whose SDK blocks pays a thread hop per call (`threads.SdkThreads`). Where the provider
can build and read the SDK's own requests itself (Bedrock: botocore's serializer, signer and
parsers), it sends them here instead: one request and its whole reply on the run's loop, over
connections kept alive and reused, at most `size` at a time. h11 does the HTTP (framing, chunked
bodies, keep-alive rules); this module only moves its bytes and keeps the connections.

Failures come out as four kinds, for the provider to turn into its SDK's exceptions: the server
could not be reached (`ConnectFailed`, `ConnectTimedOut`: nothing was sent), no byte came for
`read_timeout` seconds (`ReadTimedOut`), or the connection broke or spoke nonsense mid-reply
(`BrokenReply`). A cancelled request closes its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_SIZE = 1 << 16
# an idle keep-alive connection older than this is not reused (servers drop idle ones: AWS after
# ~60 s, the emulators after 60 s): a request on a dropped one would fail for no reason of its own
IDLE_REUSE = 20.0


class HttpFailure(Exception):
    """A request that got no complete reply."""


class ConnectFailed(HttpFailure):
    """The server could not be reached; nothing was sent."""


class ConnectTimedOut(ConnectFailed):
    """No connection within the connect timeout; nothing was sent."""


class ReadTimedOut(HttpFailure):
    """The server went silent for longer than the read timeout."""


class BrokenReply(HttpFailure):
    """The connection closed, or the reply was not valid HTTP, before the reply ended."""


class _Stale(Exception):
    """A reused keep-alive connection the server had closed before any byte of the reply."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A whole reply: status, headers (lower-case names, in order) and the body, de-chunked."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http: h11.Connection
    idle_since: float = 0.0

    def usable(self, now: float) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and now - self.idle_since < IDLE_REUSE
            and self.http.our_state is h11.IDLE
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _LoopState:
    """The connections and the slots of one event loop (asyncio objects belong to one loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.slots = asyncio.Semaphore(size)
        self.idle: dict[tuple[str, str, int], list[_Connection]] = {}

    def close(self) -> None:
        for connections in self.idle.values():
            for connection in connections:
                connection.close()
        self.idle.clear()


class AsyncHttpPool:
    """Keep-alive HTTP/1.1 connections, at most `size` requests at a time, for one provider instance.

    `ssl_context` makes the TLS context for an ``https`` URL (called once, on first need).
    """

    def __init__(
        self,
        *,
        size: int,
        connect_timeout: float,
        read_timeout: float,
        ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context,
    ) -> None:
        self.size = size
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._state: _LoopState | None = None

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            if state is not None and not state.loop.is_closed():
                state.close()
            # (a closed loop's connections are gone with it: its transports cannot be used or closed)
            state = self._state = _LoopState(loop, self.size)
        return state

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpReply:
        """Send one request and read its whole reply (any status); an `HttpFailure` when there is none."""
        split = urlsplit(url)
        scheme = split.scheme.lower()
        host = split.hostname or ""
        port = split.port or _DEFAULT_PORTS.get(scheme, 80)
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
        authority = host if port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
        if ":" in host:  # an IPv6 literal keeps its brackets in the Host header
            authority = f"[{host}]" + ("" if port == _DEFAULT_PORTS.get(scheme) else f":{port}")
        lines = [("host", authority), *headers.items()]
        if not any(name.lower() == "content-length" for name, _ in lines):
            lines.append(("content-length", str(len(body))))
        head = h11.Request(method=method, target=target, headers=lines)
        state = self._loop_state()
        key = (scheme, host, port)
        async with state.slots:
            connection = self._idle(state, key)
            if connection is not None:
                try:
                    return await self._exchange(state, key, connection, head, body, reused=True)
                except _Stale:  # the server had dropped it while idle: once more on a new connection
                    pass
            connection = await self._connect(scheme, host, port)
            return await self._exchange(state, key, connection, head, body, reused=False)

    def _idle(self, state: _LoopState, key: tuple[str, str, int]) -> _Connection | None:
        connections = state.idle.get(key)
        now = state.loop.time()
        while connections:
            connection = connections.pop()
            if connection.usable(now):
                return connection
            connection.close()
        return None

    async def _connect(self, scheme: str, host: str, port: int) -> _Connection:
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = self._ssl_factory()
            context = self._ssl
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host if context else None, limit=_READ_SIZE
                )
        except TimeoutError as exc:
            raise ConnectTimedOut(
                f"no connection to {host}:{port} within {self.connect_timeout:g} s"
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(reader, writer, h11.Connection(h11.CLIENT))

    async def _exchange(
        self,
        state: _LoopState,
        key: tuple[str, str, int],
        connection: _Connection,
        head: h11.Request,
        body: bytes,
        *,
        reused: bool,
    ) -> HttpReply:
        http = connection.http
        kept = False
        try:
            data = http.send(head) or b""
            if body:
                data += http.send(h11.Data(data=body)) or b""
            data += http.send(h11.EndOfMessage()) or b""
            connection.writer.write(data)  # one write: headers and body in one segment
            reply = await self._read(connection, reused=reused)
            if http.our_state is h11.DONE and http.their_state is h11.DONE:
                http.start_next_cycle()
                connection.idle_since = state.loop.time()
                state.idle.setdefault(key, []).append(connection)
                kept = True
            return reply
        except (_Stale, HttpFailure):
            raise
        except h11.ProtocolError as exc:
            raise BrokenReply(f"the reply was not valid HTTP/1.1: {exc}") from exc
        except (OSError, ssl.SSLError, EOFError) as exc:
            raise BrokenReply(f"the connection broke: {exc}") from exc
        finally:
            if not kept:
                connection.close()

    async def _read(self, connection: _Connection, *, reused: bool) -> HttpReply:
        http = connection.http
        loop = asyncio.get_running_loop()
        status = 0
        headers: list[tuple[str, str]] = []
        parts: list[bytes] = []
        got_any = False
        try:
            async with asyncio.timeout(self.read_timeout) as silence:
                while True:
                    event: Any = http.next_event()
                    if event is h11.NEED_DATA:
                        data = await connection.reader.read(_READ_SIZE)
                        if not data and reused and not got_any:
                            raise _Stale
                        got_any = got_any or bool(data)
                        silence.reschedule(loop.time() + self.read_timeout)
                        http.receive_data(data)  # b"": the peer closed; h11 says whether that was early
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers]
                    elif isinstance(event, h11.Data):
                        parts.append(bytes(event.data))
                    elif isinstance(event, h11.EndOfMessage):
                        return HttpReply(status, headers, b"".join(parts))
                    elif isinstance(event, h11.ConnectionClosed):
                        raise BrokenReply("the server closed the connection before replying")
                    # (h11.InformationalResponse, a 100 Continue, is skipped)
        except TimeoutError as exc:
            raise ReadTimedOut(f"no reply for {self.read_timeout:g} s") from exc
        except ConnectionResetError as exc:
            if reused and not got_any:
                raise _Stale from exc
            raise

    async def aclose(self) -> None:
        """Close the idle connections (of the running loop's pool)."""
        state, self._state = self._state, None
        if state is not None and not state.loop.is_closed():
            state.close()
