"""The Engine: runs and resumes workflows, one driving process per run, from the plugins it is handed."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from podium.core import snapshot
from podium.core.approvals import Approvals
from podium.core.attempts import Attempts
from podium.core.calls import AgentRequest, RunContext, RunSettings
from podium.core.clock import Clock, SystemClock, new_run_id
from podium.core.dispatch import Dispatcher, LeaseLost
from podium.core.errors import RunBusy
from podium.core.events import Event, EventType, RunStatus
from podium.core.lease import Heartbeat, lease_timing, owner_id
from podium.core.plan import Plan, ProviderLookup
from podium.core.replay import History, Progress, Row, RunFold, collector_held, read_rows
from podium.core.run import Run
from podium.core.scheduler import Scheduler
from podium.core.spec import Workflow
from podium.core.state import RunState
from podium.core.steps import Steps
from podium.core.store import RunStore

__all__ = ["Claim", "Engine", "EnginePlugins", "new_run_id"]

log = logging.getLogger("podium")

# how a run can stop that a resume goes on from (it saves a snapshot of its fold there)
_RESUMABLE = (RunStatus.FAILED, RunStatus.STOPPED, RunStatus.WAITING, RunStatus.CANCELLED)


class EnginePlugins(Protocol):
    """What the engine needs of its plugins; `podium.plugins.manager.Plugins` is one, built at the edge."""

    @property
    def providers(self) -> ProviderLookup: ...

    def before_call(self, *, run: RunContext, step: str, request: AgentRequest) -> None: ...

    def event(self, *, event: Event) -> None: ...


@dataclass(frozen=True, slots=True)
class Claim:
    """A run this process has taken the lease of, with its events read (once) and folded.

    `fold` holds what they told (the resume's result goes on from it); `events` are the same
    events as Event objects, read again only if a reader asks for them (see `History`).
    """

    run_id: str
    owner: str
    fold: RunFold
    progress: Progress
    events: Sequence[Event]

    @property
    def started(self) -> dict[str, Any]:
        """What the run's RunStarted recorded (settings, provider_override, inputs, …)."""
        return self.progress.started


class Engine:
    """Runs and resumes workflows. One engine can drive many runs, one after another or at once.

    The seams are explicit: the store (where events go), the plugins (providers and hooks), and
    the clock (so tests control time). `heartbeat` is how often a driving process renews its lease
    on a run (from a thread, so a blocked event loop cannot lose it) and reads the run's inbox
    (approvals, cancel requests); `lease_ttl` how long a lease lasts unrenewed. Both default to
    `PODIUM_HEARTBEAT_SECONDS` / `PODIUM_LEASE_SECONDS`, else 1 s and 30 s.
    """

    def __init__(
        self,
        *,
        plugins: EnginePlugins,
        store: RunStore,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        heartbeat: float | None = None,
        lease_ttl: float | None = None,
    ) -> None:
        self.plugins = plugins
        self.store = store
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        if heartbeat is None or lease_ttl is None:
            default_ttl, default_beat = lease_timing()
            heartbeat = default_beat if heartbeat is None else heartbeat
            lease_ttl = default_ttl if lease_ttl is None else lease_ttl
        self.heartbeat = heartbeat
        self.lease_ttl = lease_ttl

    async def run(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        provider: str | None = None,
        run_id: str | None = None,
        settings: RunSettings | Mapping[str, Any] | None = None,
        observers: Iterable[object] = (),
        wait: bool = False,
    ) -> Run:
        """Run `workflow` and return the Run: succeeded, failed, stopped, or waiting for approval.

        Inputs must already be resolved (`loader.resolve_inputs`). `provider` rebinds every agent
        that is not a python function. `observers` see only this run's events. With `wait`, an
        approval step keeps this process waiting for the decision instead of returning `waiting`.
        Cancelling the awaiting task records the run as cancelled.
        """
        driver = _Driver(
            self,
            Plan(workflow, self.plugins.providers, provider),
            run_id or new_run_id(),
            dict(inputs or {}),
            RunSettings.parse(settings),
            observers,
            wait=wait,
        )
        return await driver.drive()

    @contextmanager
    def claimed(self, run_id: str) -> Iterator[Claim]:
        """Take the run's lease (refused while a live process drives it) and read its events once."""
        owner = owner_id()
        lease = self.store.acquire_lease(run_id, owner, self.lease_ttl)
        if lease.owner != owner:
            raise RunBusy(
                f"run {run_id} is being driven by process {lease.owner}",
                fix="wait for it to finish, or stop it with `podium cancel`",
            )
        try:
            with collector_held():
                # from the run's snapshot, if it stopped with one, then the events after it
                folded = snapshot.load(self.store, run_id) or RunFold(run_id)
                folded.feed(read_rows(self.store, run_id, after=folded.seq))
                history = History(self.store, run_id, folded.seq)
                claim = Claim(run_id, owner, folded, folded.progress(), history)
            yield claim
        finally:
            self.store.release_lease(run_id, owner)

    async def resume(
        self,
        run: str | Claim,
        workflow: Workflow,
        *,
        settings: RunSettings | Mapping[str, Any] | None = None,
        observers: Iterable[object] = (),
        wait: bool = False,
        changed: bool = False,
    ) -> Run:
        """Continue a run from its events: only steps with no finished event run again.

        Finished steps keep their outputs and usage and are neither re-called nor re-billed; a
        call that was in flight when the run stopped is re-issued under the same idempotency key;
        a call that finished but was never recorded as a step's output is used, not repeated.
        Callers check the workflow file (`changed` says it differs from the one the run began
        with). `run` is a run id, or a `claimed` run (whose lease the caller holds).
        """
        if isinstance(run, str):
            with self.claimed(run) as claim:
                return await self.resume(
                    claim, workflow, settings=settings, observers=observers, wait=wait, changed=changed
                )
        started = run.started
        merged = RunSettings.parse(started.get("settings")).merged(RunSettings.parse(settings))
        driver = _Driver(
            self,
            Plan(workflow, self.plugins.providers, started.get("provider_override")),
            run.run_id,
            dict(started.get("inputs", {})),
            merged,
            observers,
            wait=wait,
            claim=run,
        )
        return await driver.drive(changed=changed)


class _Driver:
    """One run while this process drives it: wires the state to its scheduler, steps and heartbeat."""

    def __init__(
        self,
        engine: Engine,
        plan: Plan,
        run_id: str,
        inputs: dict[str, Any],
        settings: RunSettings,
        observers: Iterable[object],
        *,
        wait: bool,
        claim: Claim | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = claim.owner if claim is not None else owner_id()
        # what the run's events told before this process: its result goes on from there
        self.fold = _LiveFold(claim.fold if claim is not None else RunFold(run_id))
        prog = claim.progress if claim is not None else Progress()
        events = Dispatcher(
            engine.store,
            engine.plugins,
            run_id,
            seq=prog.seq,
            observers=[o.podium_event for o in observers if hasattr(o, "podium_event")],
            on_durable=self.fold.written,
            batched=True,
            hold_settled=True,  # a step's end is written with its dependants' start (`drain`)
        )
        history = claim.events if claim is not None else ()
        context = RunContext(run_id, plan.workflow, engine.store, settings, events.warn, history)
        self.state = RunState(
            plan, run_id, inputs, events, context, prog, resumed=claim is not None, wait=wait
        )
        self.state.restore()
        self.approvals = Approvals(self.state)
        self.attempts = Attempts(
            self.state, before_call=engine.plugins.before_call, clock=engine.clock, rng=engine.rng
        )
        self.steps = Steps(self.state, self.attempts, self.approvals)

    async def drive(self, *, changed: bool = False) -> Run:
        state, store = self.state, self.engine.store
        wf = state.workflow
        settings = self.settings.to_json()
        if state.resumed:
            state.events.emit(
                EventType.RUN_RESUMED, owner=self.owner, file_hash=wf.file_hash, changed=changed,
                settings=settings, settled=len(state.views),  # a count: a list would grow each resume
            )  # fmt: skip
        else:
            state.emit_started(settings)
            state.events.flush()  # the run's index line, whose lease is taken next
            lease = store.acquire_lease(state.run_id, self.owner, self.engine.lease_ttl)
            if lease.owner != self.owner:  # only if someone guessed a fresh run id
                raise RunBusy(f"run {state.run_id} is driven by {lease.owner}")
        lease = Heartbeat(
            lambda: store.renew_lease(state.run_id, self.owner, self.engine.lease_ttl),
            every=self.engine.heartbeat,
            on_lost=self.lose,
            loop=asyncio.get_running_loop(),
            step_of=self.step_of,
            run_id=state.run_id,
        )
        lease.start()
        heartbeat = asyncio.create_task(self.beat(), name=f"podium-heartbeat-{state.run_id}")
        try:
            self.read_inbox()
            await Scheduler(state, self.steps, self.approvals, self.owner).run()
            return self.result()
        except LeaseLost:
            log.warning("run %s: another process took the lease; this one stops", state.run_id)
            for task in state.tasks:
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)
            return self.result()
        finally:
            lease.stop()
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self.attempts.aclose()
            self.flush_quietly()  # what a cancelled or failed run queued last (its RunFinished)
            if not state.lost:
                store.release_lease(state.run_id, self.owner)

    async def beat(self) -> None:
        """Read the inbox and apply approval timeouts, until the run ends (the lease is renewed
        by the `Heartbeat` thread, which calls `lose` if another process took it)."""
        state, engine = self.state, self.engine
        while not state.lost:
            await asyncio.sleep(engine.heartbeat)
            self.read_inbox()
            self.approvals.apply_timeouts()

    def step_of(self, task: asyncio.Task[Any] | None) -> str | None:
        """The step (or `step[item]`) a task of this run works for; None for the run's own tasks."""
        if task is None:
            return None
        sid = self.state.tasks.get(task)
        name = task.get_name()
        return sid or (name.removeprefix("podium-step-") if name.startswith("podium-step-") else None)

    def lose(self) -> None:
        """Another process holds the run's lease now: stop writing, and stop the steps."""
        self.state.events.lost = True
        self.state.interrupt()

    def read_inbox(self) -> None:
        """Apply what other processes sent this run: a cancel request, or an approval decision."""
        for message in self.engine.store.take(self.state.run_id):
            if message.kind == "cancel":
                self.state.cancel_requested = message.data.get("by") or "a cancel request"
                self.state.interrupt()
            elif message.kind == "decision":
                self.approvals.receive(message.data)

    def flush_quietly(self) -> None:
        try:
            self.state.events.flush()
        except Exception:  # the store refused a batch: the error already ended the run
            log.warning("run %s: its last events were not written", self.state.run_id, exc_info=True)

    def result(self) -> Run:
        """The run as its events tell it: the fold of those a resume read before went on with
        each event as it was written (`_LiveFold`); any it did not see are read back."""
        self.state.events.flush()
        store, run_id = self.engine.store, self.state.run_id
        with collector_held():
            live = self.fold
            if not live.broken:
                try:
                    folded = live.feed()
                except Exception:
                    log.warning("run %s: its result is folded again from its events", run_id, exc_info=True)
            if live.broken:  # (a fold that raised, or an event it missed) fold the log again
                folded = snapshot.load(store, run_id) or RunFold(run_id)
            folded.feed(read_rows(store, run_id, after=folded.seq))
            if folded.head is not None and folded.head["status"] in _RESUMABLE and not self.state.lost:
                snapshot.save(store, folded)  # where a resume will start from
            return folded.run(self.state.workflow.steps, last=True)


_PAGE = 512  # events fed to the fold at once
_SCALARS = frozenset((str, int, float, bool, type(None)))
# the events whose every field the fold keeps is made by the engine, of plain JSON values (a
# step's output excepted: see `_LiveFold`); any other event is folded as the store holds it. A
# CallFinished's `usage` is a Usage's dump (counts), its `bound_to` a validated dict of strings;
# its `native` (a provider's own values, kept by a snapshot while the reply is unconsumed) must
# be absent: a cloud call's event is decoded, for a few µs
_ENGINE_MADE = frozenset((EventType.CALL_STARTED, EventType.STEP_STARTED, EventType.STEP_SKIPPED))
_OUTPUT_OF = {EventType.CALL_FINISHED: "reply", EventType.STEP_SUCCEEDED: "output",
              EventType.ITEM_SUCCEEDED: "output"}  # fmt: skip


class _LiveFold:
    """The run's fold, fed its events as they are written (the dispatcher's `on_durable`), so that
    the result is made from it at the end instead of reading every event back and folding them
    again.

    The fold must be the one the stored events give (`show`, a resume and the snapshot read
    those): an event whose values could come back from JSON otherwise (a tuple as a list, a
    non-string key as a string: a user's value, such as a reply, an output or the inputs) is
    folded as its JSON text decodes. Only events of plain values, the many of every step, are
    folded as they are. They are fed a page at a time (a call of `RunFold.feed` per event cost
    as much as reading them back). An event not seen in order leaves the fold `broken`: the
    result is then folded from the log, as before this class.
    """

    __slots__ = ("broken", "fold", "next", "rows")

    def __init__(self, fold: RunFold) -> None:
        self.fold = fold
        self.next = fold.seq + 1
        self.rows: list[Row] = []
        self.broken = False

    def written(self, batch: list[tuple[Event, str]]) -> None:
        """Take a batch of events the store has just made durable (with their JSON text)."""
        if self.broken:
            return
        try:
            self.take(batch)
        except Exception:  # (the result is then folded from the log: never the run's failure)
            self.broken = True
            log.warning("run %s: folding its events failed", self.fold.run_id, exc_info=True)

    def take(self, batch: list[tuple[Event, str]]) -> None:
        rows, engine_made, output_of, scalars = self.rows, _ENGINE_MADE, _OUTPUT_OF, _SCALARS
        for event, text in batch:
            if event.seq != self.next:
                self.broken = True
                return
            self.next += 1
            t, data = event.type, event.data
            if t not in engine_made:
                field = output_of.get(t)
                if (
                    field is None
                    or data.get(field).__class__ not in scalars
                    or (t is EventType.CALL_FINISHED and data.get("native") is not None)
                ):
                    data = json.loads(text)
            rows.append((event.seq, event.at, t, event.step, event.attempt, data))
        if len(rows) >= _PAGE:
            self.feed()

    def feed(self) -> RunFold:
        """The fold, with every event seen so far fed to it."""
        rows, self.rows = self.rows, []
        try:
            self.fold.feed(rows)
        except BaseException:
            self.broken = True
            raise
        return self.fold
