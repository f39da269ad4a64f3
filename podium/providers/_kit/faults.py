"""Faults a test injects into an emulator: throttling, server errors, delays, cut or malformed replies.

Each fault is consumed by the next request it applies to; the cloud's emulator renders it in its
own wire format (the `CloudEmulator` base does the rendering that is the same for every cloud).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

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
