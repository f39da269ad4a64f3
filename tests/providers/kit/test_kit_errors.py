"""The error table and the one retry-after parser that every provider uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from podium.core.errors import AuthError, CallTimeout, InvalidRequest, Throttled, TransientError
from podium.providers._kit.errors import ErrorTable, retry_after, retry_after_from

TABLE = ErrorTable.of(
    "cloud",
    throttled={"RATE_LIMITED"},
    transient={"UNAVAILABLE"},
    timeout={"DEADLINE"},
    auth={"UNAUTHENTICATED"},
    auth_fix="log in",
)
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "RATE_LIMITED", Throttled),
        (429, None, Throttled),
        (400, "UNAUTHENTICATED", AuthError),
        (401, None, AuthError),
        (403, None, AuthError),
        (400, "DEADLINE", CallTimeout),
        (408, None, CallTimeout),
        (400, "UNAVAILABLE", TransientError),
        (500, None, TransientError),
        (503, "SOMETHING_ELSE", TransientError),
        (400, None, InvalidRequest),
        (404, "NOT_FOUND", InvalidRequest),
        (429, "UNAUTHENTICATED", Throttled),  # throttling is checked first, as Bedrock always did
    ],
)
def test_a_status_and_code_map_onto_the_error_tree(status: int, code: str | None, kind: type) -> None:
    error = TABLE.classify("where: what", status=status, code=code, retry_after=2.0)
    assert type(error) is kind and error.provider == "cloud" and error.message == "where: what"


def test_retry_after_is_kept_where_a_retry_honours_it_and_auth_gets_the_fix() -> None:
    assert TABLE.classify("x", status=429, retry_after=3.0).retry_after == 3.0
    assert TABLE.classify("x", status=503, retry_after=4.0).retry_after == 4.0
    assert TABLE.classify("x", status=400, retry_after=4.0).retry_after is None
    assert TABLE.classify("x", status=401).fix == "log in"
    assert TABLE.classify("x", status=401, fix="other").fix == "other"


def test_statuses_can_be_rekinded() -> None:
    lenient = ErrorTable.of("local", timeout_statuses=(), transient_statuses=(408,))
    assert lenient.kind(status=408) is TransientError


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        (7, 7.0),
        (None, None),
        ("soon", None),
        ("", None),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), None),  # past: clocks disagree
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, now=NOW) == seconds


def test_retry_after_from_finds_the_header_in_any_case() -> None:
    assert retry_after_from({"Retry-After": "5"}) == 5.0
    assert retry_after_from({"retry-after": "6"}) == 6.0
    assert retry_after_from({"content-type": "x"}) is None
