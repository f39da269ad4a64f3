"""One step's life: when, skip, approval, foreach, the call, and the event that settles it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from podium.core import templates
from podium.core.approvals import Approvals
from podium.core.attempts import Attempts
from podium.core.dispatch import LeaseLost
from podium.core.errors import PodiumError, TemplateError, ToolApprovalNeeded
from podium.core.events import EventType, StepStatus
from podium.core.outputs import render_outputs
from podium.core.spec import Step
from podium.core.state import RunState, StepOutcome

# a foreach's items under way at once: four per call slot of the run (room for items in a retry's
# backoff or waiting for a provider's own slot), and never fewer than this
ITEM_WORKERS = 64

log = logging.getLogger("podium")


class Steps:
    """Runs steps to a settled state; a failure is recorded, then raised as a StepOutcome."""

    def __init__(self, state: RunState, attempts: Attempts, approvals: Approvals) -> None:
        self.state = state
        self.attempts = attempts
        self.approvals = approvals

    async def run(self, sid: str, extra: Mapping[str, Any] | None = None) -> StepStatus:
        """Run step `sid` to its end: succeeded, skipped, waiting (an approval) or failed (raised)."""
        state = self.state
        step = state.workflow.steps[sid]
        context: dict[str, Any] = {"inputs": state.inputs, "steps": state.views, **(extra or {})}
        blocked = [
            d
            for d in step.needs
            if state.views[d]["status"] == StepStatus.SKIPPED or state.views[d].get("rejected")
        ]
        try:
            if step.when is not None:
                if not templates.truthy(templates.render(step.when, context, where=f"steps.{sid}.when")):
                    return state.skip(sid, f"when: {step.when!s} was false")
            elif blocked:
                why = "rejected" if state.views[blocked[0]].get("rejected") else "skipped"
                return state.skip(sid, f"needs '{blocked[0]}', which was {why}")
            if step.approval is not None:
                return self.approvals.settle(sid, step, context)
            if "tool" in state.requested.get(sid, {}) and sid not in state.decided:
                return StepStatus.WAITING  # a tool of its call waits for a person: ask nothing again yet
            items: list[Any] | None = None
            if step.foreach is not None:
                value = templates.render(step.foreach, context, where=f"steps.{sid}.foreach")
                if not isinstance(value, list):
                    raise TemplateError(
                        f"steps.{sid}.foreach gave {type(value).__name__}, not a list",
                        fix="make foreach a list, or an expression that yields one",
                    )
                items = value
        except TemplateError as exc:
            state.events.emit(EventType.STEP_STARTED, sid, agent=step.agent, items=None)
            return state.fail(sid, StepOutcome(exc, None))
        # a step alone (a chain's) writes its start with its call's, at once: no turn is asked for
        state.events.add(
            EventType.STEP_STARTED, sid, None,
            {"agent": step.agent, "items": len(items) if items is not None else None},
            hold=items is None and len(state.tasks) <= 1,
        )  # fmt: skip
        try:
            if items is None:
                output, provider, reply_seq = await self.attempts.call(sid, step, context, None, None)
            else:
                done = state.progress.items.get(sid, {})
                results = await self.items(sid, step, context, items, done)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
                output = list(results)
                provider = None
        except StepOutcome as outcome:
            return state.fail(sid, outcome)
        except ToolApprovalNeeded as waiting:
            return self.approvals.ask_for_tool(sid, waiting)
        except LeaseLost:
            raise
        except Exception as exc:  # a bug (ours or a plugin's) still ends the step visibly
            log.exception("step %s failed unexpectedly", sid)
            error = PodiumError(f"internal error: {type(exc).__name__}: {exc}")
            return state.fail(sid, StepOutcome(error, None))
        if items is not None:
            # each item's output is in its ItemSucceeded event: store the list once, there
            return state.succeed(sid, output, items=len(items))
        if reply_seq is not None:
            # the output is the reply text, already in that CallFinished event: store it once
            return state.succeed(sid, output, output_ref=reply_seq, provider=provider)
        return state.succeed(sid, output, output=output, provider=provider)

    async def items(
        self, sid: str, step: Step, context: dict[str, Any], items: list[Any], done: Mapping[int, Any]
    ) -> list[Any]:
        """Every item of a foreach step, each one's output or exception, in order.

        A few workers (`ITEM_WORKERS`, or four per call slot of the run) each take the next item
        when their last one ends: a foreach over 100,000 items holds 64 tasks, not 100,000 (each
        waiting for a call slot, ~9 KB apiece), and starts them a few at a time, not all in one
        turn of the loop. As before, every item runs even when one fails.
        """
        results: list[Any] = [None] * len(items)
        pending = iter(range(len(items)))

        async def work() -> None:
            for i in pending:
                try:
                    results[i] = await self.item(sid, step, context, i, items[i], done)
                except Exception as exc:
                    results[i] = exc

        workers = min(len(items), max(ITEM_WORKERS, 4 * self.state.workflow.defaults.concurrency))
        await asyncio.gather(*(work() for _ in range(workers)))
        return results

    async def item(
        self, sid: str, step: Step, context: dict[str, Any], index: int, item: Any, done: Mapping[int, Any]
    ) -> Any:
        """One item of a foreach step (an item that finished before a resume is kept, not re-paid)."""
        if index in done:
            return done[index]
        task = asyncio.current_task()
        if task is not None:  # a blocked loop is reported by task name: `LoopBlocked` names the item
            task.set_name(f"podium-step-{sid}[{index}]")
        output, provider, reply_seq = await self.attempts.call(sid, step, context, index, item)
        emit = self.state.events.emit
        if reply_seq is not None:
            emit(EventType.ITEM_SUCCEEDED, sid, item=index, output_ref=reply_seq, provider=provider)
        else:
            emit(EventType.ITEM_SUCCEEDED, sid, item=index, output=output, provider=provider)
        return output

    async def handle(self, sid: str, failed: str, outcome: StepOutcome) -> StepStatus:
        """Run an on_failure step, with `failure` in its templates."""
        failure = outcome.describe(failed)
        return await self.run(sid, extra={"failure": failure, "steps": self.state.all_views()})

    def recover(self, failed: str, handler: str) -> None:
        """An on_failure step with `recover: true` succeeded: its output stands for the failed step's."""
        output = self.state.views[handler]["output"]
        self.state.succeed(failed, output, output=output, recovered_by=handler)

    def outputs(self) -> dict[str, Any]:
        """The workflow's outputs, rendered once every step has settled."""
        state = self.state
        return render_outputs(state.workflow.outputs, state.inputs, state.all_views())
