"""The library's front door: load a workflow, run it (sync or async), read runs back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pluggy

from podium.core.loader import load as _load_file
from podium.core.loader import resolve_inputs
from podium.core.run import Run, fold
from podium.core.spec import Workflow
from podium.core.store import RunStore, open_store
from podium.plugins.manager import ProviderRegistry, build_plugin_manager


def _plugins(plugins: pluggy.PluginManager | None) -> pluggy.PluginManager:
    return plugins if plugins is not None else build_plugin_manager()


def load(path: str | Path, *, plugins: pluggy.PluginManager | None = None) -> Workflow:
    """Read and check a workflow file; raises `WorkflowError` listing every problem, located."""
    registry = ProviderRegistry(_plugins(plugins))
    configs = {name: registry.get(name).Config for name in registry.names()}
    return _load_file(path, providers=registry.names(), provider_configs=configs)


async def arun(
    workflow: Workflow | str | Path,
    inputs: Mapping[str, Any] | None = None,
    *,
    provider: str | None = None,
    store: RunStore | str | Path | None = None,
    plugins: pluggy.PluginManager | None = None,
    run_id: str | None = None,
    settings: Mapping[str, Any] | None = None,
    observers: Iterable[object] = (),
) -> Run:
    """Run a workflow (a `Workflow` or a path) and return its `Run`.

    `store` is a RunStore, a database path, or None for the default (`$PODIUM_DB` or
    `~/.podium/podium.db`). `provider` rebinds every non-function agent to that provider.
    `observers` are objects with a `podium_event(event)` method; they see this run's events only.
    """
    from podium.core.executor import Engine

    pm = _plugins(plugins)
    wf = workflow if isinstance(workflow, Workflow) else load(workflow, plugins=pm)
    resolved = resolve_inputs(wf, inputs or {})
    if provider is not None:
        ProviderRegistry(pm).get(provider)  # a clear error for an unknown name, before anything runs
    own_store = not hasattr(store, "append")
    the_store: RunStore = open_store(store) if own_store else store  # type: ignore[arg-type,assignment]
    try:
        engine = Engine(plugins=pm, store=the_store)
        return await engine.run(
            wf, resolved, provider=provider, run_id=run_id, settings=settings, observers=observers
        )
    finally:
        if own_store:
            the_store.close()


def run(workflow: Workflow | str | Path, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Run:
    """The synchronous form of `arun`, for scripts and notebooks (not inside a running loop)."""
    return asyncio.run(arun(workflow, inputs, **kwargs))


def get_run(run_id: str, *, store: RunStore | str | Path | None = None) -> Run:
    """A run as its events tell it, by id, unique id prefix, or `latest`."""
    own_store = not hasattr(store, "append")
    the_store: RunStore = open_store(store) if own_store else store  # type: ignore[arg-type,assignment]
    try:
        record = the_store.get_run(run_id)
        return fold(the_store.events(record.run_id))
    finally:
        if own_store:
            the_store.close()
