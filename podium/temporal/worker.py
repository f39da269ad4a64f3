"""`podium worker`: one process that runs podium's workflows and activities from a task queue."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable

from podium.core.store import open_store
from podium.temporal.settings import TemporalSettings

log = logging.getLogger("podium.temporal")


def default_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve(
    settings: TemporalSettings,
    *,
    db: str | None,
    concurrency: int,
    identity: str | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Poll `settings.task_queue` until SIGINT/SIGTERM: run workflows (podium's scheduler) and
    activities (calls, event writes to the store at `db`). At most `concurrency` calls at once."""
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from podium.plugins.manager import Plugins
    from podium.temporal import codec
    from podium.temporal.activities import Activities
    from podium.temporal.client import connect
    from podium.temporal.workflow import PodiumRun

    name = identity or default_identity()
    store = open_store(db)  # a wrong URL, a refused login, a newer schema: refused here, named
    try:
        plugins = Plugins.of(None)
        codec.provider_registry()  # looked up once, before any workflow code asks for it
        # what workflow code imports lazily is imported here, outside the sandbox, so that it
        # passes through as the host's module: an output schema's patterns are matched within a
        # time bound read from the real clock, which the sandbox refuses to a module imported
        # inside it (the bound is a guard, not a branch of the run's logic: only a pattern that
        # backtracks past it could be judged differently on a replay)
        import regex  # noqa: F401

        import podium.core.schema_patterns  # noqa: F401

        client = await connect(settings, worker=True)
        activities = Activities(store, plugins, name)
        # podium's modules (and what they import) pass through the sandbox: they are imported once
        # per worker, not per workflow. Its determinism comes from the seams in `workflow`: no I/O,
        # Temporal's clock and random, events written by activities.
        restrictions = SandboxRestrictions.default.with_passthrough_all_modules()
        runner = SandboxedWorkflowRunner(restrictions=restrictions)
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[PodiumRun],
            activities=[activities.append_events, activities.call_agent],
            workflow_runner=runner,
            max_concurrent_activities=concurrency,
            max_concurrent_local_activities=max(concurrency, 16),
            identity=name,
            # a bug in workflow code fails the run's workflow (its follower says so) rather than
            # retrying its task for ever
            workflow_failure_exception_types=[Exception],
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            if ready is not None:
                ready(name)
            await stop.wait()
        await activities.aclose()
    finally:
        store.close()
