"""A cloud's errors as podium's: a table from error code and HTTP status to the error tree, and retry-after.

Each cloud writes one `ErrorTable` (its service's error codes by kind) and converts its SDK's
exceptions at its boundary with `ErrorTable.classify`; the retry policy then sees only
`Throttled`, `TransientError`, `CallTimeout`, `InvalidRequest` and `AuthError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from podium.core.errors import (
    AuthError,
    CallTimeout,
    InvalidRequest,
    StepError,
    Throttled,
    TransientError,
)
from podium.core.redact import strip_userinfo


def retry_after(value: str | float | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header's delay in seconds: delta-seconds or an HTTP-date; None when absent or unreadable.

    A negative number is no wait (0.0). A date already past says nothing usable (the clocks
    disagree), so it is None, and the retry policy's own backoff applies.
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return seconds if seconds > 0 else None


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    """`retry_after` of the Retry-After header in `headers` (any case)."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            return retry_after(value)
    return None


def _codes(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class ErrorTable:
    """One cloud's error codes by kind, and the HTTP statuses that decide when the code does not.

    `classify` checks, in order: throttled (a code, or 429), auth (a code, or 401/403), timeout (a
    code, or `timeout_statuses`), transient (a code, or a 5xx, or `transient_statuses`); anything
    else is an invalid request, which retrying cannot fix.
    """

    provider: str
    throttled: frozenset[str] = field(default_factory=frozenset)
    transient: frozenset[str] = field(default_factory=frozenset)
    timeout: frozenset[str] = field(default_factory=frozenset)
    auth: frozenset[str] = field(default_factory=frozenset)
    timeout_statuses: frozenset[int] = frozenset({408})
    transient_statuses: frozenset[int] = frozenset()
    auth_fix: str | None = None

    @classmethod
    def of(
        cls,
        provider: str,
        *,
        throttled: Iterable[str] = (),
        transient: Iterable[str] = (),
        timeout: Iterable[str] = (),
        auth: Iterable[str] = (),
        timeout_statuses: Iterable[int] = (408,),
        transient_statuses: Iterable[int] = (),
        auth_fix: str | None = None,
    ) -> ErrorTable:
        """A table from plain lists (sets, tuples) of codes."""
        return cls(
            provider,
            _codes(throttled),
            _codes(transient),
            _codes(timeout),
            _codes(auth),
            frozenset(timeout_statuses),
            frozenset(transient_statuses),
            auth_fix,
        )

    def kind(self, *, status: int = 0, code: str | None = None) -> type[StepError]:
        """The podium error class for a reply with this HTTP status and service error code."""
        code = code or ""
        if code in self.throttled or status == 429:
            return Throttled
        if code in self.auth or status in (401, 403):
            return AuthError
        if code in self.timeout or status in self.timeout_statuses:
            return CallTimeout
        if code in self.transient or status >= 500 or status in self.transient_statuses:
            return TransientError
        return InvalidRequest

    def classify(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        retry_after: float | None = None,
        fix: str | None = None,
    ) -> StepError:
        """The podium error for a failed call; `message` says where and what went wrong."""
        cls = self.kind(status=status, code=code)
        if cls is Throttled or cls is TransientError:
            return cls(message, retry_after=retry_after, fix=fix, provider=self.provider)
        if cls is AuthError:
            return cls(message, fix=fix or self.auth_fix, provider=self.provider)
        return cls(message, fix=fix, provider=self.provider)


def shown_url(url: str | None) -> str:
    """An endpoint as an error message or `show` may name it: without the user and password a
    `base_url` can carry (`http://admin:PASS@host/v1` → `http://host/v1`)."""
    return strip_userinfo(url or "")
