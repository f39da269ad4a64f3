"""The DAG loop: start each step when its needs have settled, route failures to on_failure steps,
pause for approvals, and end the run with the one event that says how it ended."""

from __future__ import annotations

import asyncio
import contextlib

from podium.core.approvals import Approvals
from podium.core.dispatch import LeaseLost
from podium.core.errors import PodiumError, PolicyError, StepError, TemplateError
from podium.core.events import EventType, RunStatus, StepStatus
from podium.core.state import RunState, StepOutcome
from podium.core.steps import Steps


class Scheduler:
    """Drives one run's steps to the end (or to a pause for a person) and records how it ended."""

    def __init__(self, state: RunState, steps: Steps, approvals: Approvals, owner: str) -> None:
        self.state = state
        self.steps = steps
        self.approvals = approvals
        self.owner = owner
        self.started: set[str] = set()
        self.deferred: list[str] = []  # steps held back while a failure is being handled
        self.failure: tuple[str, StepOutcome] | None = None
        # step tasks that ended, in the order they ended, and the future the loop sleeps on: one
        # callback per task, where `asyncio.wait` would add and remove one on every pending task
        # each time it is called (a fan-out of 1,000 wakes it many times)
        self.ended: list[asyncio.Task[StepStatus]] = []
        self.wakeup: asyncio.Future[None] | None = None
        # a step that ends alone (a chain) is settled in its task's done callback, and the steps
        # it releases started there: one turn of the loop a step instead of two. Only while the
        # loop below waits on its tasks; what that raises is raised there (`error`)
        self.inline = False
        self.error: BaseException | None = None
        settled = set(state.views)
        needs = state.plan.graph.needs  # (the graph's steps: all but on_failure handlers)
        self.waiting = {sid: set(deps) - settled for sid, deps in needs.items() if sid not in settled}

    def start(self, sid: str, *, handler_for: tuple[str, StepOutcome] | None = None) -> None:
        state = self.state
        if handler_for is None and (self.failure is not None or state.cancel_requested):
            self.deferred.append(sid)
            return
        self.started.add(sid)
        coro = self.run_step(sid) if handler_for is None else self.steps.handle(sid, *handler_for)
        task = asyncio.create_task(coro, name=f"podium-step-{sid}")
        task.add_done_callback(self.task_ended)
        state.tasks[task] = sid

    async def run_step(self, sid: str) -> StepStatus:
        """Run step `sid` in its task; then, while the run has no other task and the step releases
        exactly one step, settle it here and run that one in the same task (`in_place`)."""
        status = await self.steps.run(sid)
        while (follower := self.in_place(sid, status)) is not None:
            sid = follower
            status = await self.steps.run(sid)
        return status

    def in_place(self, sid: str, status: StepStatus) -> str | None:
        """Settle `sid`, which ended with `status`, and take up the one step it releases, in this
        task: a chain's next step starts in the turn its predecessor ended, without a task of its
        own, a done callback and a turn of the loop. None (and nothing done) unless `sid` ran alone
        (as `task_ended` would settle it inline), ended as a step that releases others does
        (succeeded or skipped, handling no failure), and releases exactly one step; the task then
        ends, and the scheduler settles it as any other."""
        state = self.state
        if (
            not self.inline
            or self.error is not None
            or self.failure is not None
            or state.cancel_requested
            or len(state.tasks) != 1
            or (status is not StepStatus.SUCCEEDED and status is not StepStatus.SKIPPED)
            or sid in state.failures
        ):
            return None
        dependants = state.plan.graph.dependants.get(sid, ())
        waiting, started = self.waiting, self.started
        follower = None
        for dep in dependants:  # the steps `release(sid)` would start: one, or none is taken here
            pending = waiting.get(dep)
            if pending is not None and dep not in started and pending <= {sid}:
                if follower is not None:
                    return None
                follower = dep
        if follower is None:
            return None
        task = asyncio.current_task()
        if task is None or state.tasks.get(task) != sid:
            return None
        for dep in dependants:  # as `release` does, but the one step released is started here
            pending = waiting.get(dep)
            if pending is not None:
                pending.discard(sid)
        started.add(follower)
        state.tasks[task] = follower
        task.set_name(f"podium-step-{follower}")
        # `sid`'s settling event is written with the follower's first events (its call's, at once),
        # or, if it makes no call, with the next event that asks for a flush (at the latest, this
        # task's end: `drain`); nothing acts on it before
        return follower

    def task_ended(self, task: asyncio.Task[StepStatus]) -> None:
        self.ended.append(task)
        if self.inline and self.error is None and len(self.state.tasks) == 1:
            # it ran alone: nothing else can end in this turn to be settled (and written) with it
            try:
                self.drain()
            except BaseException as exc:  # raised by the scheduler's loop, as if it had settled it
                self.error = exc
            if self.state.tasks and self.error is None:
                return  # the steps it released run on; the scheduler sleeps on
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)

    def drain(self) -> None:
        """Settle the step tasks that ended, in the order they ended."""
        done, self.ended = self.ended, []
        events = self.state.events
        if not events.hold_settled:
            # what the ended steps wrote is durable before any step that needs them starts
            events.flush()
        tasks = self.state.tasks
        for task in done:
            self.settled(tasks.pop(task), task)
        if events.hold_settled:
            # written with the first events of the steps just released (their tasks run first),
            # before any of them makes a call: see `Dispatcher`
            events.flush_soon()

    def release(self, sid: str) -> None:
        """`sid` has settled: start every step that was waiting only for it."""
        for dep in self.state.plan.graph.dependants.get(sid, ()):
            pending = self.waiting.get(dep)
            if pending is None:
                continue
            pending.discard(sid)
            if not pending and dep not in self.started:
                self.start(dep)

    def restore_escalation(self) -> None:
        """A resumed run that waits on an on_failure approval: restore the failure it is about,
        rather than calling the failed step again before the person's decision is applied."""
        state = self.state
        wf = state.workflow
        for failed_sid, data in state.progress.failed.items():
            fstep = wf.steps.get(failed_sid)
            handler = (fstep.on_failure if fstep else None) or wf.on_failure
            if handler and handler in state.requested and handler not in state.views and self.failure is None:
                error = PodiumError(data.get("message", ""), fix=data.get("fix"))
                error.kind = data.get("kind", "error")  # type: ignore[attr-defined]
                self.failure = (failed_sid, StepOutcome(error, data.get("provider")))
                state.failures[handler] = self.failure
                state.awaiting.add(handler)
                self.started.update((failed_sid, handler))

    async def run(self) -> None:
        """Schedule until every step has settled, the run fails, is cancelled, or waits for a person."""
        state = self.state
        tasks = state.tasks
        self.restore_escalation()
        try:
            for sid, deps in self.waiting.items():
                if not deps and sid not in self.started:
                    self.start(sid)
            while True:
                self.inline = True
                while tasks:
                    if not self.ended:
                        self.wakeup = asyncio.get_running_loop().create_future()
                        await self.wakeup
                    if self.error is not None:
                        error, self.error = self.error, None
                        raise error
                    self.drain()
                self.inline = False
                escalating = any(sid in state.failures for sid in state.awaiting)
                if (
                    state.cancel_requested
                    or not state.awaiting
                    or (self.failure is not None and not escalating)
                ):
                    break
                # Only approvals are left: apply the decisions we have, or wait for one.
                for sid in sorted(state.awaiting):
                    if sid in state.decided:
                        state.awaiting.discard(sid)
                        self.start(sid, handler_for=state.failures.get(sid))
                if tasks:
                    continue
                state.events.emit(EventType.RUN_WAITING, steps=sorted(state.awaiting), wait=state.wait)
                state.events.flush()
                if not state.wait:
                    return
                await self.wait_for_decision()
        except asyncio.CancelledError:
            self.inline = False
            await self.stop_tasks()
            state.events.emit(EventType.RUN_FINISHED, status=str(RunStatus.CANCELLED), outputs={})
            raise
        except LeaseLost:
            self.inline = False
            raise
        except BaseException as exc:
            self.inline = False
            await self.stop_tasks()
            state.events.emit(
                EventType.RUN_FINISHED, status=str(RunStatus.FAILED), outputs={},
                error={"step": None, "kind": "internal", "message": f"{type(exc).__name__}: {exc}"},
            )  # fmt: skip
            raise
        if state.lost:
            raise LeaseLost
        self.finish()

    def settled(self, sid: str, task: asyncio.Task[StepStatus]) -> None:
        """A step's task ended: route its outcome."""
        state = self.state
        wf = state.workflow
        try:
            if task.cancelled():
                raise asyncio.CancelledError
            status = task.result()
        except asyncio.CancelledError:
            if state.cancel_requested or state.lost:
                return  # podium's own cancel: the run ends cancelled (or another process drives it)
            # cancelled by none of podium's own (a hook, or code the step ran, cancelled its task):
            # a failure, never a step left running in a run that goes on to succeed
            self.fail(sid, self.cancelled_outside(sid))
            return
        except StepOutcome as outcome:
            self.fail(sid, outcome)
            return
        if status is StepStatus.WAITING:
            state.awaiting.add(sid)
            return
        if sid in state.failures:
            failed, _ = state.failures.pop(sid)
            # (a rejected approval as a handler does not succeed: it fails, and the failure stands)
            if status is StepStatus.SUCCEEDED and wf.steps[sid].recover:
                self.steps.recover(failed, sid)
                self.failure = None
                for later in self.deferred:
                    self.start(later)
                self.deferred.clear()
                self.release(failed)
            return
        self.release(sid)

    def fail(self, sid: str, outcome: StepOutcome) -> None:
        """Route a step's definitive failure: to its on_failure handler, else it fails the run."""
        state = self.state
        wf = state.workflow
        if sid in state.failures:  # the on_failure step itself failed
            self.failure = self.failure or state.failures.pop(sid)
            return
        handler = wf.steps[sid].on_failure or wf.on_failure
        if handler and handler not in self.started and self.failure is None:
            self.failure = (sid, outcome)
            state.failures[handler] = self.failure
            self.start(handler, handler_for=self.failure)
        elif self.failure is None:
            self.failure = (sid, outcome)

    def cancelled_outside(self, sid: str) -> StepOutcome:
        """Write the StepFailed of a step whose task something other than podium cancelled."""
        error = StepError(
            f"step '{sid}' was cancelled, but the run was not: a hook, or code the step ran,"
            " cancelled its task",
            fix="let asyncio.CancelledError through only when podium cancels the run (podium cancel"
            " RUN); raise an exception to fail a step",
        )
        outcome = StepOutcome(error, None)
        with contextlib.suppress(StepOutcome):  # raised for the scheduler: this is the scheduler
            self.state.fail(sid, outcome)
        return outcome

    async def wait_for_decision(self) -> None:
        """--wait: this process stays, listed as waiting, until the heartbeat brings a decision."""
        state = self.state
        state.wake.clear()
        self.approvals.apply_timeouts()
        while not state.lost and not state.cancel_requested and not (state.awaiting & set(state.decided)):
            await state.wake.wait()
            state.wake.clear()
        if state.lost:
            raise LeaseLost
        if not state.cancel_requested:
            state.events.emit(
                EventType.RUN_RESUMED, owner=self.owner, file_hash=state.workflow.file_hash, changed=False
            )

    async def stop_tasks(self) -> None:
        tasks = self.state.tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def finish(self) -> None:
        """The run's last event: cancelled, failed (or stopped by a policy), or succeeded."""
        state = self.state
        if state.cancel_requested:
            state.events.emit(
                EventType.RUN_FINISHED, status=str(RunStatus.CANCELLED), outputs={},
                cancelled_by=state.cancel_requested,
            )  # fmt: skip
        elif self.failure is not None:
            self.finish_failed(*self.failure)
        else:
            try:
                outputs = self.steps.outputs()
            except TemplateError as exc:
                self.finish_failed(None, StepOutcome(exc, None))
            else:
                state.events.emit(EventType.RUN_FINISHED, status=str(RunStatus.SUCCEEDED), outputs=outputs)

    def finish_failed(self, step: str | None, outcome: StepOutcome) -> None:
        error = outcome.describe(step)
        if isinstance(outcome.error, PolicyError):
            self.state.events.emit(EventType.RUN_STOPPED, step, reason=outcome.error.message, error=error)
        else:
            self.state.events.emit(
                EventType.RUN_FINISHED, status=str(RunStatus.FAILED), outputs={}, error=error
            )
