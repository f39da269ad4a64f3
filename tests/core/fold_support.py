"""A run's log written by hand for the fold's tests: `log(ev(type, step, attempt, **data), ...)`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from podium.core.events import Event, EventType

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def at(seq: int) -> datetime:
    """When the event numbered `seq` happened: one second apart from T0."""
    return T0 + timedelta(seconds=seq)


def log(*entries: tuple[Any, ...], run_id: str = "r1") -> list[Event]:
    """Events numbered from 1, one second apart: each entry is (type, step, attempt, data)."""
    return [
        Event(run_id, seq, type_, step, attempt, data, at=at(seq))
        for seq, (type_, step, attempt, data) in enumerate(entries, start=1)
    ]


def ev(type_: EventType, step: str | None = None, attempt: int | None = None, **data: Any) -> tuple[Any, ...]:
    return (type_, step, attempt, data)
