"""Talking to Temporal from a command: connect (a server that does not answer is named, with how to
start one), submit a run, follow its events in the store, signal a decision, cancel."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from podium.core.errors import BadInput, PodiumError
from podium.core.events import Event, EventType
from podium.core.spec import Workflow
from podium.core.store import RunStore
from podium.temporal import codec
from podium.temporal.settings import TemporalSettings

CONNECT_SECONDS = 5.0
NO_WORKER_HINT_SECONDS = 10.0
_STOPS_FOLLOWING = (EventType.RUN_FINISHED, EventType.RUN_STOPPED, EventType.RUN_WAITING)


class TemporalUnreachable(BadInput):
    """No Temporal server answers at the address given."""


def workflow_id(run_id: str) -> str:
    return f"podium-{run_id}"


def _quiet_runtime() -> Any:
    """An SDK core of its own with no log forwarding, for a short-lived command (submit, signal,
    cancel): it is dropped with its client, before the interpreter finalizes (a core thread that
    outlives the interpreter's start of finalization aborts it)."""
    from temporalio.runtime import Runtime, TelemetryConfig

    return Runtime(telemetry=TelemetryConfig(logging=None))


async def connect(settings: TemporalSettings, *, worker: bool = False) -> Any:
    """A Temporal client; a server that does not answer is an error naming the address and the fix."""
    from temporalio.client import Client

    runtime = None if worker else _quiet_runtime()
    try:
        return await asyncio.wait_for(
            Client.connect(settings.address, namespace=settings.namespace, runtime=runtime),
            CONNECT_SECONDS,
        )
    except (TimeoutError, RuntimeError, OSError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TemporalUnreachable(
            f"no Temporal server answers at {settings.address} ({why})",
            fix="start one with `temporal server start-dev` (from the podium[temporal] extra), or give"
            " its address with --temporal-address HOST:PORT, TEMPORAL_ADDRESS or [temporal] address"
            " in podium.toml",
        ) from None


async def submit(
    client: Any,
    settings: TemporalSettings,
    wf: Workflow,
    inputs: Mapping[str, Any],
    *,
    run_id: str,
    provider: str | None,
    run_settings: Mapping[str, Any],
    heartbeat_seconds: float | None = None,
) -> Any:
    """Start the run's workflow on `settings.task_queue`; its handle."""
    start = {
        "run_id": run_id,
        "workflow": codec.workflow_ref(wf),
        "inputs": dict(inputs),
        "override": provider,
        "settings": dict(run_settings),
        "address": settings.address,
        # how soon a call on a dead worker is re-issued (PODIUM_TEMPORAL_HEARTBEAT_SECONDS, else 10)
        "heartbeat_seconds": heartbeat_seconds or _env_seconds("PODIUM_TEMPORAL_HEARTBEAT_SECONDS"),
    }
    return await client.start_workflow(
        codec.WORKFLOW_NAME, start, id=workflow_id(run_id), task_queue=settings.task_queue
    )


def _env_seconds(name: str) -> float | None:
    import os

    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value and float(value) > 0 else None
    except ValueError:
        raise BadInput(f"{name}={value!r} is not a number of seconds", fix=f"{name}=10") from None


async def follow(
    store: RunStore,
    run_id: str,
    handle: Any,
    on_event: Callable[[Event], None],
    *,
    task_queue: str,
    every: float = 0.05,
    wait: bool = False,
    hint: Callable[[str], Awaitable[None] | None] | None = None,
) -> None:
    """Feed the run's events from the store to `on_event` as workers write them, until the run
    ends, stops or (unless `wait`) waits for a person. A workflow that closed without ending the
    run is an error."""
    after, began = 0, time.monotonic()
    hinted, checked = False, time.monotonic()
    while True:
        events = store.events(run_id, after=after)
        for event in events:
            on_event(event)
            after = event.seq
            if event.type in _STOPS_FOLLOWING and not (wait and event.type is EventType.RUN_WAITING):
                return
        now = time.monotonic()
        if not hinted and after == 0 and now - began > NO_WORKER_HINT_SECONDS and hint is not None:
            hinted = True
            hint(f"run {run_id} has not started yet: is a worker polling task queue {task_queue}?"
                 " (start one with `podium worker`)")  # fmt: skip
        if now - checked > 1.0:
            checked = now
            description = await handle.describe()
            status = getattr(description.status, "name", str(description.status))
            if status != "RUNNING" and not store.events(run_id, after=after):
                raise PodiumError(
                    f"the Temporal workflow of run {run_id} ended ({status}) without finishing the run",
                    fix=f"see it with `temporal workflow show --workflow-id {workflow_id(run_id)}`",
                )
        await asyncio.sleep(every)


def _settings_of(engine: Mapping[str, Any]) -> TemporalSettings:
    from podium.temporal.settings import temporal_settings

    # the address the run was submitted to, unless this machine names its own (a proxy, a DNS name)
    return temporal_settings(
        address=None, namespace=engine.get("namespace"), task_queue=engine.get("task_queue")
    ).model_copy(update={"address": _address_here(engine)})


def _address_here(engine: Mapping[str, Any]) -> str:
    import os

    return os.environ.get("TEMPORAL_ADDRESS") or str(engine.get("address") or "127.0.0.1:7233")


def signal_decision(engine: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Send a decision to the run's workflow (`podium approve/reject` on a Temporal run)."""

    async def send() -> None:
        client = await connect(_settings_of(engine))
        await client.get_workflow_handle(engine["workflow_id"]).signal(codec.SIGNAL_DECIDE, dict(data))

    asyncio.run(send())
    gc.collect()  # the client and its core go now, not while the interpreter finalizes


def cancel_run(engine: Mapping[str, Any], by: str | None) -> None:
    """Temporal's cancellation of the run's workflow (who asked is signalled first)."""

    async def send() -> None:
        client = await connect(_settings_of(engine))
        handle = client.get_workflow_handle(engine["workflow_id"])
        await handle.signal(codec.SIGNAL_CANCEL_BY, by)
        await handle.cancel()

    asyncio.run(send())
    gc.collect()
