"""`podium worker`, and what `podium run --engine temporal` does: submit the run, then follow it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import click

from podium.core.errors import BadInput, ExtraMissing
from podium.plugins.commands import guard


def require_temporalio() -> None:
    try:
        import temporalio  # noqa: F401
    except ImportError:
        raise ExtraMissing(
            "the temporal engine needs the temporalio package", fix="pip install 'podium[temporal]'"
        ) from None


def add_commands(cli: Any) -> None:
    """Add `podium worker` to `cli`."""

    @cli.command()
    @click.option("--task-queue", default=None, help="The queue to poll (default: [temporal], or podium).")
    @click.option(
        "--concurrency", default=100, show_default=True, type=click.IntRange(1, 100_000),
        help="Most agent calls this worker makes at once.",
    )  # fmt: skip
    @click.option(
        "--temporal-address", default=None, metavar="HOST:PORT",
        help="The Temporal server (default: $TEMPORAL_ADDRESS, [temporal] address, 127.0.0.1:7233).",
    )  # fmt: skip
    @click.option("--namespace", default=None, help="The Temporal namespace (default: default).")
    @click.option("--name", default=None, help="This worker's name in errors (default: host:pid).")
    @click.option(
        "--db", default=None,
        help="The shared run database (default: $PODIUM_DB): a postgresql:// URL for several machines.",
    )  # fmt: skip
    @guard
    def worker(
        task_queue: str | None,
        concurrency: int,
        temporal_address: str | None,
        namespace: str | None,
        name: str | None,
        db: str | None,
    ) -> None:
        """Run podium's workflows and agent calls from a Temporal task queue, until Ctrl-C."""
        require_temporalio()
        from podium.temporal.settings import temporal_settings
        from podium.temporal.worker import serve

        settings = temporal_settings(address=temporal_address, task_queue=task_queue, namespace=namespace)

        def ready(identity: str) -> None:
            click.echo(
                f"worker {identity} polls task queue {settings.task_queue} at {settings.address}"
                f" (at most {concurrency} calls at once); Ctrl-C stops it",
                err=True,
            )

        asyncio.run(serve(settings, db=db, concurrency=concurrency, identity=name, ready=ready))


async def arun_temporal(
    wf: Any,
    inputs: Mapping[str, Any],
    *,
    provider: str | None,
    store: Any,
    run_id: str,
    settings: Any,
    observer: Any,
    emulate: bool,
    address: str | None,
    task_queue: str | None,
    plugins: Any,
    wait: bool = False,
) -> Any:
    """Submit the run to Temporal and follow it live from the store; its Run when it ends, stops
    or waits for a person (the workflow goes on waiting: `podium approve` signals it)."""
    require_temporalio()
    from podium import api
    from podium.core.calls import RunSettings
    from podium.temporal.client import connect, follow, submit
    from podium.temporal.settings import temporal_settings

    where = temporal_settings(address=address, task_queue=task_queue)
    client = await connect(where)  # an address that does not answer: named, before anything runs
    parsed = RunSettings.parse(settings)
    with ExitStack() as stack:
        if emulate:
            from podium.emulate import emulated

            parsed = parsed.merged(RunSettings(emulate=True))
            wf, _ = stack.enter_context(emulated(wf, plugins, provider=provider))
        handle = await submit(
            client, where, wf, inputs, run_id=run_id, provider=provider, run_settings=parsed.to_json()
        )
        hook = getattr(observer, "podium_event", None)

        def on_event(event: Any) -> None:
            if hook is not None:
                hook(event=event)

        def hint(text: str) -> None:
            click.echo(f"warning: {text}", err=True)

        await follow(store, run_id, handle, on_event, task_queue=where.task_queue, hint=hint, wait=wait)
    return api.get_run(run_id, store=store)


def submit_detached(
    wf: Any,
    inputs: Mapping[str, Any],
    *,
    provider: str | None,
    run_id: str,
    settings: Any,
    emulate: bool,
    address: str | None,
    task_queue: str | None,
) -> str:
    """`--detach`: submit the run and return its id (a worker runs it; `podium show` follows it)."""
    require_temporalio()
    if emulate:
        raise BadInput(
            "--emulate runs the emulators in this process, which --detach would end at once",
            fix="follow the run (drop --detach), or run `podium emulate` and point the workflow at it",
        )
    from podium.core.calls import RunSettings
    from podium.temporal.client import connect, submit
    from podium.temporal.settings import temporal_settings

    where = temporal_settings(address=address, task_queue=task_queue)

    async def go() -> None:
        client = await connect(where)
        await submit(
            client, where, wf, inputs, run_id=run_id, provider=provider,
            run_settings=RunSettings.parse(settings).to_json(),
        )  # fmt: skip

    asyncio.run(go())
    import gc

    gc.collect()  # the client and its SDK core go now, not while the interpreter finalizes
    return run_id
