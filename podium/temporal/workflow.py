"""The Temporal workflow of a podium run: podium's own scheduler, steps, attempts and approvals,
with three seams replaced so that it is deterministic workflow code.

- the call dispatch (`Attempts.dispatch`) runs the provider's `invoke` as an activity on a worker;
- the event writer queues events, and one task writes them in `seq` order through a local activity
  (the store and the plugins' `podium_event` hooks live on the worker, never in workflow code);
- the clock is Temporal's: `workflow.now()` stamps events and reads approval deadlines, backoff
  sleeps are durable timers, jitter draws from `workflow.random()`.

Retries: podium's policy (attempts, backoff, fallback, repair) runs here, unchanged; an activity
that *answered* with an error never raises, so Temporal does not retry it. Temporal retries only
an activity whose worker died or stopped heartbeating, with the same input: the same attempt
and idempotency key, as a local resume re-issues a call that was in flight.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.exceptions import CancelledError as TemporalCancelled

with workflow.unsafe.imports_passed_through():
    from podium.core.approvals import Approvals
    from podium.core.attempts import Attempts
    from podium.core.calls import AgentRequest, AgentResponse, Provider, RunContext, RunSettings
    from podium.core.dispatch import Dispatcher
    from podium.core.errors import InvalidRequest, PolicyError, TransientError
    from podium.core.events import Event, EventType, RunStatus
    from podium.core.plan import Plan
    from podium.core.replay import Progress
    from podium.core.scheduler import Scheduler
    from podium.core.state import RunState
    from podium.core.steps import Steps
    from podium.temporal import codec

# an activity lost with its worker is started again this many times (then the step fails)
LOST_ACTIVITY_ATTEMPTS = 10
_APPEND_TIMEOUT = timedelta(seconds=60)


class _WorkflowClock:
    """Podium's Clock on Temporal's time: sleeps are durable timers."""

    def monotonic(self) -> float:
        return workflow.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # a Temporal timer inside workflow code


class _Outbox:
    """Where the workflow's Dispatcher 'appends': a queue that `Events.write` empties in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[Event, str]] = []

    def append_many(self, batch: list[tuple[Event, str]]) -> None:
        self.rows.extend(batch)


class Events(Dispatcher):
    """The run's Dispatcher in workflow code: `seq` is given here, the store write is a local
    activity. An event counts as durable (`durable`) once that activity has written it."""

    def __init__(self, run_id: str, owner: str) -> None:
        self.outbox = _Outbox()
        super().__init__(self.outbox, None, run_id, batched=True, now=workflow.now)  # type: ignore[arg-type]
        self.owner = owner
        self.written = 0  # the last seq the store holds
        self.closing = False
        self.status = str(RunStatus.RUNNING)  # as the run's last RunFinished/RunStopped says

    def emit(
        self, type_: EventType, step: str | None = None, attempt: int | None = None, **data: Any
    ) -> Event:
        event = super().emit(type_, step, attempt, **data)
        if type_ is EventType.RUN_FINISHED:
            self.status = str(data.get("status"))
        elif type_ is EventType.RUN_STOPPED:
            self.status = str(RunStatus.STOPPED)
        return event

    def is_durable(self, event: Event) -> bool:
        # written to the outbox is not yet in the store: the local activity that appends it says
        return self.written >= event.seq

    async def durable(self, event: Event) -> None:
        self.flush()
        await workflow.wait_condition(lambda: self.written >= event.seq)

    async def write(self) -> None:
        """Write the queued events, in order, one local activity a batch, until closed and empty."""
        outbox = self.outbox
        while True:
            await workflow.wait_condition(lambda: bool(outbox.rows) or self.closing)
            if not outbox.rows:
                return
            batch, outbox.rows = outbox.rows, []
            await workflow.execute_local_activity(
                codec.APPEND_EVENTS,
                {"run_id": self.run_id, "owner": self.owner, "rows": codec.encode_events(batch)},
                start_to_close_timeout=_APPEND_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=LOST_ACTIVITY_ATTEMPTS),
            )
            self.written = batch[-1][0].seq

    async def drain(self) -> None:
        self.flush()
        self.closing = True
        await workflow.wait_condition(lambda: self.written >= self.seq)


class _Attempts(Attempts):
    """podium's call policy, whose calls are activities; the budget check runs with the call."""

    def __init__(self, state: RunState, start: dict[str, Any]) -> None:
        super().__init__(state, before_call=_no_hook, clock=_WorkflowClock(), rng=workflow.random())
        self.ref = {
            "run_id": state.run_id,
            "workflow": start["workflow"],
            "settings": start.get("settings") or {},
            "override": start.get("override"),
        }
        self.heartbeat = timedelta(seconds=float(start.get("heartbeat_seconds") or 10))

    async def dispatch(self, provider: Provider, request: AgentRequest) -> AgentResponse:
        if request.tools or provider.asks_people:
            raise InvalidRequest(
                f"agent '{request.agent}' uses tools, which the temporal engine does not run yet",
                fix="run this workflow with the local engine (drop --engine temporal)",
                provider=request.provider,
            )
        # the step's own timeout is a workflow timer around this (Attempts.invoke); this bound is
        # only for a worker that took the activity and went silent without a heartbeat timeout
        limit = timedelta(seconds=(request.timeout or 24 * 3600) + 60)
        try:
            result = await workflow.execute_activity(
                codec.CALL_AGENT,
                {"run": self.ref, "request": codec.encode_request(request)},
                start_to_close_timeout=limit,
                heartbeat_timeout=self.heartbeat,
                retry_policy=RetryPolicy(maximum_attempts=LOST_ACTIVITY_ATTEMPTS),
                summary=f"{request.step} attempt {request.attempt}",
            )
        except ActivityError as exc:
            if isinstance(exc.cause, TemporalCancelled):
                raise asyncio.CancelledError from None  # the run's cancel reached the call first
            # lost with its worker LOST_ACTIVITY_ATTEMPTS times (or timed out): a failed attempt
            raise TransientError(
                f"the call's activity failed: {exc.cause or exc}",
                fix="check that `podium worker` processes are up and can reach the provider",
                provider=request.provider,
            ) from None
        for warning in result.get("warnings", ()):
            self.state.events.warn(warning.pop("message", ""), **warning)
        if "error" in result:
            error = codec.decode_error(result["error"])
            if isinstance(error, PolicyError):  # refused before the call: the call ends with it
                self.state.events.emit(
                    EventType.CALL_FAILED, request.step, request.attempt, provider=request.provider,
                    item=request.item, kind=error.kind, message=error.message, retryable=False,
                    delay=None, then="stop",
                )  # fmt: skip
            raise error
        return codec.decode_response(result["response"])


def _no_hook(**_: Any) -> None:
    """Before-call hooks (budgets) read the store: they run in the call's activity instead."""


@workflow.defn(name=codec.WORKFLOW_NAME)
class PodiumRun:
    """One podium run. Its input is what `client.submit` sends; its result the run's status."""

    def __init__(self) -> None:
        self.state: RunState | None = None
        self.approvals: Approvals | None = None
        self.early: list[dict[str, Any]] = []  # decisions signalled before the run was set up
        self.cancelled_by: str | None = None

    @workflow.signal(name=codec.SIGNAL_DECIDE)
    def decide(self, data: dict[str, Any]) -> None:
        """`podium approve/reject RUN STEP`: a person's decision, applied as a local run applies
        one from its inbox (an ApprovalDecided event, then the step settles)."""
        if self.approvals is None:
            self.early.append(data)
        else:
            self.approvals.receive(data)

    @workflow.signal(name=codec.SIGNAL_CANCEL_BY)
    def cancel_by(self, by: str | None) -> None:
        """Who cancels the run: sent just before Temporal's cancellation, recorded on RunFinished."""
        self.cancelled_by = by or "podium cancel"

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        info = workflow.info()
        run_id = start["run_id"]
        owner = f"temporal:{info.workflow_id}"
        wf = codec.workflow_of(start["workflow"])
        plan = Plan(wf, codec.provider_registry(), start.get("override"))
        settings = RunSettings.parse(start.get("settings"))
        events = Events(run_id, owner)
        context = RunContext(run_id, wf, None, settings, events.warn, ())
        state = RunState(
            plan, run_id, dict(start.get("inputs") or {}), events, context, Progress(),
            wait=True, now=workflow.now,
        )  # fmt: skip
        approvals = Approvals(state)
        steps = Steps(state, _Attempts(state, start), approvals)
        self.state, self.approvals = state, approvals
        state.emit_started(
            settings.to_json(),
            engine={
                "name": "temporal",
                "address": start.get("address"),
                "namespace": info.namespace,
                "task_queue": info.task_queue,
                "workflow_id": info.workflow_id,
            },
        )
        writer = asyncio.create_task(events.write())
        deadlines = asyncio.create_task(self.watch_deadlines())
        scheduler = asyncio.create_task(Scheduler(state, steps, approvals, owner).run())
        for data in self.early:
            approvals.receive(data)
        try:
            await asyncio.shield(scheduler)
        except asyncio.CancelledError:
            if scheduler.done():
                raise
            # Temporal's cancellation: as a local run's cancel request, the steps stop, their
            # calls' activities are cancelled, and the run ends cancelled (RunFinished)
            state.cancel_requested = self.cancelled_by or "temporal cancellation"
            state.interrupt()
            await scheduler
        finally:
            deadlines.cancel()
            await events.drain()
            await writer
        return {"run_id": run_id, "status": events.status}

    async def watch_deadlines(self) -> None:
        """Apply approval timeouts when their deadline passes (a durable timer each)."""
        state, approvals = self.state, self.approvals
        assert state is not None and approvals is not None
        while True:
            await workflow.wait_condition(lambda: bool(state.awaiting))
            pending = [
                datetime.fromisoformat(state.requested[sid]["deadline"])
                for sid in state.awaiting
                if state.requested.get(sid, {}).get("deadline") and sid not in state.decided
            ]
            if not pending:
                await workflow.wait_condition(lambda: not state.awaiting or _changed(state))
                continue
            await asyncio.sleep(max(0.0, (min(pending) - workflow.now()).total_seconds()) + 0.001)
            approvals.apply_timeouts()


def _changed(state: RunState) -> bool:
    return any(state.requested.get(sid, {}).get("deadline") for sid in state.awaiting)
