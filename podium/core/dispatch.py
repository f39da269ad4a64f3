"""The one event writer: each event is appended to the store (durable), then dispatched to observers.

Nothing writes a run's events past it: the driving process uses a `Dispatcher`, and another
process that records a decision or a cancel uses `append_or_post`, so `podium_event` observers
(cost, trace, the live view) see every event of every run, whoever wrote it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from podium.core.events import Event, EventType
from podium.core.lease import owner_id
from podium.core.redact import redact_error_fields
from podium.core.store import RunStore

log = logging.getLogger("podium")


class EventHook(Protocol):
    """Where events go once they are durable: the `podium_event` hook of every plugin."""

    def event(self, *, event: Event) -> None: ...


class LeaseLost(Exception):
    """Another process took over the run's lease: this one must stop writing its events."""


class Dispatcher:
    """Writes one run's events in order: append, then `podium_event`, then this run's observers.

    A hook may ask for an event while another is being dispatched (`warn`); it is written once the
    current one has been dispatched, so every observer sees events in `seq` order.
    """

    def __init__(
        self,
        store: RunStore,
        hook: EventHook | None,
        run_id: str,
        *,
        seq: int = 0,
        observers: Iterable[Callable[..., Any]] = (),
    ) -> None:
        self.store = store
        self.hook = hook
        self.run_id = run_id
        self.seq = seq
        self.observers = list(observers)
        self.lost = False
        self._dispatching = False
        self._deferred: list[tuple[EventType, str | None, dict[str, Any]]] = []

    def emit(
        self, type_: EventType, step: str | None = None, attempt: int | None = None, **data: Any
    ) -> Event:
        """Append one event (durable before anything acts on it) and dispatch it."""
        if self.lost:
            raise LeaseLost
        self.seq += 1
        # an error's words may carry a URL's password or an echoed key: never into the store
        event = Event(self.run_id, self.seq, type_, step, attempt, redact_error_fields(data))
        self.store.append(event)
        outer = not self._dispatching
        self._dispatching = True
        try:
            self._dispatch(event)
        finally:
            if outer:
                self._dispatching = False
        while outer and self._deferred:  # events a hook asked for while this one was dispatched
            type_, step, data = self._deferred.pop(0)
            self.emit(type_, step, **data)
        return event

    def _dispatch(self, event: Event) -> None:
        if self.hook is not None:
            try:
                self.hook.event(event=event)
            except Exception:  # an observer's bug must not break the run, nor pass unseen
                log.warning("a podium_event observer failed on %s", event.type, exc_info=True)
        for observe in self.observers:
            try:
                observe(event=event)
            except Exception:
                log.warning("a run observer failed on %s", event.type, exc_info=True)

    def warn(self, message: str, *, step: str | None = None, **data: Any) -> None:
        """Record a BudgetWarning; from inside a hook, once the current event is dispatched."""
        if self.lost:
            return
        data = {"message": message, **data}
        if self._dispatching:
            self._deferred.append((EventType.BUDGET_WARNING, step, data))
        else:
            self.emit(EventType.BUDGET_WARNING, step, **data)


def append_or_post(
    store: RunStore,
    hook: EventHook | None,
    run_id: str,
    event: tuple[EventType, str | None, dict[str, Any]],
    post: tuple[str, dict[str, Any]],
) -> bool:
    """From outside the run: write `event` when no live process drives the run, else post `post`.

    The event is written (and dispatched) while this process holds the run's lease, so it cannot
    interleave with a driver's; a run that a live process drives gets `post` in its inbox instead,
    which that process applies at its next heartbeat. True when the event was written here.
    """
    me = owner_id()
    if store.acquire_lease(run_id, me).owner != me:
        store.post(run_id, *post)
        return False
    try:
        type_, step, data = event
        Dispatcher(store, hook, run_id, seq=store.last_seq(run_id)).emit(type_, step, **data)
    finally:
        store.release_lease(run_id, me)
    return True
