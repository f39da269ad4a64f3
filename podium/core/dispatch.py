"""The one event writer: each event is appended to the store (durable), then dispatched to observers.

Nothing writes a run's events past it: the driving process uses a `Dispatcher`, and another
process that records a decision or a cancel uses `append_or_post`, so `podium_event` observers
(cost, trace, the live view) see every event of every run, whoever wrote it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from podium.core.events import Event, EventType
from podium.core.lease import owner_id
from podium.core.redact import redact_error_fields
from podium.core.store import RunStore

log = logging.getLogger("podium")


# a step's settling events that `hold_settled` writes with the first events of the steps it releases
_SETTLING = frozenset({EventType.STEP_SUCCEEDED, EventType.STEP_SKIPPED})


class EventHook(Protocol):
    """Where events go once they are durable: the `podium_event` hook of every plugin.

    A hook may also offer `event_handlers()`: its implementations as calls of their own, asked
    for once per batch (see `podium.plugins.manager.Plugins`).
    """

    def event(self, *, event: Event) -> None: ...


class LeaseLost(Exception):
    """Another process took over the run's lease: this one must stop writing its events."""


class Dispatcher:
    """Writes one run's events in order: append, then `podium_event`, then this run's observers.

    Unbatched (the default), each event is written and dispatched as it is emitted. Batched (the
    engine's driver), the events emitted in one turn of the event loop are written together, in
    one store transaction, and then dispatched in `seq` order: `emit` queues the event and the
    loop's next turn flushes the queue. Whoever acts on an event waits for it to be durable
    first (`durable`, or `flush` from the scheduler), so a killed process still loses only what
    nothing had acted on. Batches are written in `seq` order, so an event being durable means
    every event before it is too.

    A hook may ask for an event while others are being dispatched (`warn`); it is written once
    the current batch has been dispatched, so every observer sees events in `seq` order.

    With `hold_settled` (the local engine's driver), a step's settling event (StepSucceeded,
    StepSkipped) does not ask for a turn's flush of its own: the scheduler settles the step,
    starts the steps it releases, and then asks for one (`flush_soon`), so the released steps'
    first events (StepStarted, CallStarted) are written in the same transaction. Nothing acts on
    the settling event before then: no hook sees it, and a released step makes no call before
    its CallStarted, and so the settling event before it, is durable. A chain step then commits
    twice (its CallStarted with its predecessor's end; its CallFinished), not three times.
    """

    def __init__(
        self,
        store: RunStore,
        hook: EventHook | None,
        run_id: str,
        *,
        seq: int = 0,
        observers: Iterable[Callable[..., Any]] = (),
        batched: bool = False,
        now: Callable[[], datetime] | None = None,
        hold_settled: bool = False,
        on_durable: Callable[[list[tuple[Event, str]]], None] | None = None,
    ) -> None:
        self.store = store
        self.hook = hook
        self.run_id = run_id
        self.seq = seq
        self.committed = seq  # the last seq written to the store
        self.observers = list(observers)
        self.batched = batched
        # when an event happened; None: the system clock (Temporal's workflow code passes its own)
        self.now = now
        self.lost = False
        self.hold_settled = hold_settled
        self.on_durable = on_durable  # given each batch once durable, before the hooks (a driver's fold)
        self._pending: list[tuple[Event, str]] = []
        self._append_many = getattr(store, "append_many", None)  # (`write_batch`, asked once)
        self._ends_call = False  # a CallFinished/CallFailed waits in `_pending`
        self._scheduled: asyncio.Handle | None = None  # the loop's turn that will flush the queue
        self._flushing = False
        self._failed: BaseException | None = None  # a batch the store refused: the run cannot go on

    def emit(
        self, type_: EventType, step: str | None = None, attempt: int | None = None, **data: Any
    ) -> Event:
        """Append one event (durable before anything acts on it) and dispatch it.

        Batched, the event is queued for the loop's next turn; `durable(event)` waits for it.
        """
        return self.add(type_, step, attempt, data)

    def add(
        self,
        type_: EventType,
        step: str | None,
        attempt: int | None,
        data: dict[str, Any],
        *,
        now: bool = False,
        hold: bool = False,
    ) -> Event:
        """`emit`, with the event's data as a dict. With `now` (batched), what is queued is written
        at once instead of at the loop's next turn: for an event its emitter waits for next and no
        other task is likely to join it (a chain's call), so no turn is scheduled only to be
        cancelled. Inside a flush (a hook's event) it is queued as `emit` queues it. With `hold`,
        the event asks for no turn's flush of its own, as a settling one with `hold_settled`: its
        emitter writes it with what it emits next in this turn (a chain step's StepStarted, with
        its CallStarted), or another event's flush does; nothing acts on it before."""
        if self.lost:
            raise LeaseLost
        if self._failed is not None:
            raise self._failed
        self.seq += 1
        # an error's words may carry a URL's password or an echoed key: never into the store
        event = Event(self.run_id, self.seq, type_, step, attempt, redact_error_fields(data))
        if self.now is not None:
            event = Event(event.run_id, event.seq, type_, step, attempt, event.data, self.now())
        self._pending.append((event, event.data_json()))  # encoded once: the store takes the text
        if type_ is EventType.CALL_FINISHED or type_ is EventType.CALL_FAILED:
            self._ends_call = True
        if not self.batched or (now and not self._flushing):
            self.flush()
        elif self._scheduled is None and not hold and not (self.hold_settled and type_ in _SETTLING):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop to wait for: write it now
                self.flush()
            else:
                self._scheduled = loop.call_soon(self._flush_soon)
        return event

    def flush_soon(self) -> None:
        """Write what is queued at the loop's next turn: after the tasks created before this call
        have run their first step (and queued their first events, to be written with these)."""
        if not self._pending or self._scheduled is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
        else:
            self._scheduled = loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._scheduled = None
        try:
            self.flush()
        except BaseException as exc:  # kept: raised to whoever emits or waits next
            log.debug("writing run %s's events failed", self.run_id, exc_info=True)
            if not isinstance(exc, Exception):
                raise

    def flush(self) -> None:
        """Write every queued event in one transaction, then dispatch them; until none is left.

        Events that hooks emit while a batch is dispatched form the next batch. A writer that
        lost its lease drops what it had queued: another process drives the run now.
        """
        if self._flushing:
            return  # a hook's event: the flush under way writes it after the current batch
        if self._failed is not None:
            raise self._failed
        self._flushing = True
        try:
            if self._scheduled is not None:  # this flush writes what that turn was to write
                self._scheduled.cancel()
                self._scheduled = None
            while self._pending:
                batch, self._pending = self._pending, []
                self._ends_call = False
                if self.lost:
                    return
                try:
                    if self._append_many is not None:
                        self._append_many(batch)
                    else:
                        write_batch(self.store, batch)
                except BaseException as exc:
                    if self.batched:
                        self._failed = exc
                    raise
                self.committed = batch[-1][0].seq
                if self.on_durable is not None:
                    self.on_durable(batch)
                self._dispatch(batch)
        finally:
            self._flushing = False

    def is_durable(self, event: Event) -> bool:
        """Whether `event` is in the store already (and dispatched): then `durable` need not be
        awaited (an event written at once, `add(now=True)`, usually is)."""
        return self.committed >= event.seq

    async def durable(self, event: Event) -> None:
        """Wait until `event` is in the store (and dispatched): before anything acts on it.

        Yielding once lets the other tasks of this turn queue their events: the loop's next turn
        writes them all, and this task resumes after that.
        """
        while self.committed < event.seq:
            if self.lost:
                raise LeaseLost
            if self._failed is not None:
                raise self._failed
            if self._scheduled is None:  # nothing will flush on its own (or a hook's event queued)
                self.flush()
                continue
            await asyncio.sleep(0)

    def deliver_ended_calls(self) -> None:
        """Write and dispatch now if a call's end is queued: policies that hooks apply before the
        next call (budgets) read what calls have cost, so they must have seen every ended call."""
        if self._ends_call and not self._flushing:
            self.flush()

    def _dispatch(self, batch: list[tuple[Event, str]]) -> None:
        """Each event of a durable batch, in order, to every hook implementation, then to this
        run's observers; one that raises is logged, and the others still see the event."""
        hook = self.hook
        handlers = getattr(hook, "event_handlers", None)
        calls: list[Callable[..., Any]] = (
            handlers() if handlers is not None else [hook.event] if hook is not None else []
        )
        deliver(batch, calls, self.observers)

    def warn(self, message: str, *, step: str | None = None, **data: Any) -> None:
        """Record a BudgetWarning; from inside a hook, once the current batch is dispatched."""
        if self.lost:
            return
        self.emit(EventType.BUDGET_WARNING, step, **{"message": message, **data})


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


def write_batch(store: Any, batch: list[tuple[Event, str]]) -> None:
    """Append a batch of encoded events: in one transaction where the store can (`append_many`)."""
    append_many = getattr(store, "append_many", None)
    if append_many is not None:
        append_many(batch)
    else:
        for event, _ in batch:
            store.append(event)


def deliver(
    batch: list[tuple[Event, str]],
    hooks: list[Callable[..., Any]],
    observers: Sequence[Callable[..., Any]] = (),
) -> None:
    """Each event of a durable batch, in order, to every `podium_event` implementation, then to
    the run's observers; one that raises is logged, and the others still see the event."""
    for event, _ in batch:
        for call in hooks:
            try:
                call(event=event)
            except Exception:  # an observer's bug must not break the run, nor pass unseen
                log.warning("a podium_event observer failed on %s", event.type, exc_info=True)
        for observe in observers:
            try:
                observe(event=event)
            except Exception:
                log.warning("a run observer failed on %s", event.type, exc_info=True)
