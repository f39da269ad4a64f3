"""What a worker does for the workflows: append a run's events to the shared store (and hand them
to the plugins' `podium_event` hooks, as the local engine's Dispatcher does), and make one agent
call with the provider's `invoke`, after the plugins' before-call checks (budgets)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from temporalio import activity

from podium.core.calls import Provider, ProviderEnv, RunContext, RunSettings
from podium.core.dispatch import deliver, write_batch
from podium.core.errors import PodiumError, ProviderError, StepError
from podium.core.events import EventType
from podium.core.plan import Plan
from podium.core.spec import Workflow
from podium.core.store import RunStore
from podium.temporal import codec

log = logging.getLogger("podium.temporal")

# a Temporal run's lease: held from its RunStarted to its end, so that `podium approve`/`cancel`
# send their word to the workflow rather than appending to its log, and `podium resume` refuses it
RUN_LEASE_SECONDS = 10 * 365 * 24 * 3600.0
_ENDS = (EventType.RUN_FINISHED, EventType.RUN_STOPPED)


class Activities:
    """The activities of one worker process, over its store and plugins."""

    def __init__(self, store: RunStore, plugins: Any, identity: str) -> None:
        self.store = store
        self.plugins = plugins
        self.identity = identity
        self.workflows: dict[str, tuple[Workflow, Plan]] = {}
        self.providers: dict[tuple[str, str], Provider] = {}

    @activity.defn(name=codec.APPEND_EVENTS)
    async def append_events(self, batch: dict[str, Any]) -> int:
        """Append a batch in one transaction (rows the store already holds are skipped: a retried
        batch, or one written again after a worker died, is written once), then dispatch it."""
        run_id, owner = batch["run_id"], batch["owner"]
        rows = codec.decode_events(run_id, batch["rows"])
        if rows and rows[0][0].seq > 1:
            last = self.store.last_seq(run_id)
            rows = [row for row in rows if row[0].seq > last]
        if not rows:
            return 0
        write_batch(self.store, rows)
        if rows[0][0].type is EventType.RUN_STARTED:
            self.store.acquire_lease(run_id, owner, RUN_LEASE_SECONDS)
        deliver(rows, self.plugins.event_handlers())
        if any(event.type in _ENDS for event, _ in rows):
            self.store.release_lease(run_id, owner)
        return len(rows)

    def planned(self, ref: Mapping[str, Any]) -> tuple[Workflow, Plan]:
        """The run's workflow and plan, made once per configured workflow on this worker."""
        key = ref["workflow"]["key"] + ":" + str(ref.get("override"))
        if key not in self.workflows:
            wf = codec.workflow_of(ref["workflow"])
            self.workflows[key] = (wf, Plan(wf, self.plugins.providers, ref.get("override")))
        return self.workflows[key]

    def provider(self, ref: Mapping[str, Any], name: str) -> Provider:
        wf, plan = self.planned(ref)
        key = (ref["workflow"]["key"], name)
        if key not in self.providers:
            resolved = plan.provider(name)
            if resolved.error is not None:
                raise resolved.error
            assert resolved.cls is not None and resolved.config is not None
            env = ProviderEnv(
                workflow=wf.name, base_dir=wf.base_dir, mock=wf.mock, concurrency=wf.defaults.concurrency
            )
            self.providers[key] = resolved.cls(resolved.config, env)
        return self.providers[key]

    @activity.defn(name=codec.CALL_AGENT)
    async def call_agent(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One attempt of one call. Its reply, or its error as a value (never raised: Temporal
        retries only a call whose worker was lost, and podium's policy decides the rest)."""
        ref = payload["run"]
        request = codec.decode_request(payload["request"])
        warnings: list[dict[str, Any]] = []

        def warn(message: str, *, step: str | None = None, **data: Any) -> None:
            warnings.append({"message": message, "step": step, **data})

        try:
            wf, _ = self.planned(ref)
            settings = RunSettings.parse(ref.get("settings"))
            history: Any = ()
            if settings.budget is not None:
                # another worker may have made this run's earlier calls: the budget reads them all
                history = list(self.store.events(request.run_id))
                _forget_tally(self.plugins, request.run_id)
            context = RunContext(request.run_id, wf, self.store, settings, warn, history)
            self.plugins.before_call(run=context, step=request.step, request=request)
            provider = self.provider(ref, request.provider)
            response = await _with_heartbeat(provider.invoke(request))
        except StepError as exc:
            self.on_worker(exc)
            return {"error": codec.encode_error(exc), "warnings": warnings}
        except PodiumError as exc:
            error = ProviderError(exc.message, fix=exc.fix, provider=request.provider)
            self.on_worker(error)
            return {"error": codec.encode_error(error), "warnings": warnings}
        except asyncio.CancelledError:
            raise  # the step's timeout, or the run's cancel: the workflow records it
        except Exception as exc:  # a provider that did not map its own error
            error = ProviderError(
                f"{request.provider} raised {type(exc).__name__}: {exc}", provider=request.provider
            )
            self.on_worker(error)
            return {"error": codec.encode_error(error), "warnings": warnings}
        return {"response": codec.encode_response(response), "warnings": warnings}

    def on_worker(self, error: StepError) -> None:
        """Say where the call ran: a worker may lack what another has (a module, a credential)."""
        error.message = f"{error.message} (on worker {self.identity})"
        error.args = (error.message,)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            try:
                await provider.aclose()
            except Exception:
                log.warning("closing provider %s failed", provider.name, exc_info=True)


async def _with_heartbeat(call: Any, every: float | None = None) -> Any:
    """Await `call` while heartbeating, so a dead worker's call is noticed and re-issued (and a
    cancel reaches this one)."""
    info = activity.info()
    timeout = info.heartbeat_timeout.total_seconds() if info.heartbeat_timeout else 30.0
    every = every or max(0.05, timeout / 4)
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _forget_tally(plugins: Any, run_id: str) -> None:
    """Make the cost plugin fold this run's spend again from the store's events (the history
    handed to the before-call hook), not from what this worker alone saw."""
    for plugin in plugins.pm.get_plugins():
        meter = getattr(plugin, "_meter", None)
        tallies = getattr(meter, "tallies", None)
        if isinstance(tallies, dict):
            tallies.pop(run_id, None)
