"""The library's front door: load a workflow, run it (sync or async), read runs back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pluggy

from podium.core.loader import load as _load_file
from podium.core.loader import resolve_inputs
from podium.core.run import Run, fold
from podium.core.spec import Workflow
from podium.core.store import RunStore, open_store
from podium.plugins.manager import ProviderRegistry, build_plugin_manager

log = logging.getLogger("podium")


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
    wait: bool = False,
    emulate: bool = False,
) -> Run:
    """Run a workflow (a `Workflow` or a path) and return its `Run`.

    `store` is a RunStore, a database path, or None for the default (`$PODIUM_DB` or
    `~/.podium/podium.db`). `provider` rebinds every non-function agent to that provider.
    `observers` are objects with a `podium_event(event)` method; they see this run's events only.
    `wait` keeps the process waiting at an approval step (else the run returns `waiting`);
    `emulate` runs each cloud the workflow uses on its local emulator (and so will its resume).
    """
    from podium.core.executor import Engine

    pm = _plugins(plugins)
    wf = workflow if isinstance(workflow, Workflow) else load(workflow, plugins=pm)
    resolved = resolve_inputs(wf, inputs or {})
    if provider is not None:
        ProviderRegistry(pm).get(provider)  # a clear error for an unknown name, before anything runs
    the_store, own_store = _own(store)
    merged = {**dict(settings or {}), **({"emulate": True} if emulate else {})}
    try:
        with ExitStack() as stack:
            if emulate:
                wf = stack.enter_context(_emulated(wf, pm, provider))
            engine = Engine(plugins=pm, store=the_store)
            return await engine.run(
                wf, resolved, provider=provider, run_id=run_id, settings=merged,
                observers=observers, wait=wait,
            )  # fmt: skip
    finally:
        if own_store:
            the_store.close()


@contextmanager
def _emulated(wf: Workflow, pm: pluggy.PluginManager, provider: str | None) -> Iterator[Workflow]:
    from podium.emulate import emulated

    with emulated(wf, pm, provider=provider) as (rebound, names):
        if names:
            log.info("emulating %s on 127.0.0.1", ", ".join(names))
        yield rebound


def run(workflow: Workflow | str | Path, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Run:
    """The synchronous form of `arun`, for scripts and notebooks (not inside a running loop)."""
    return asyncio.run(arun(workflow, inputs, **kwargs))


def get_run(run_id: str, *, store: RunStore | str | Path | None = None) -> Run:
    """A run as its events tell it, by id, unique id prefix, or `latest`."""
    the_store, own_store = _own(store)
    try:
        record = the_store.get_run(run_id)
        return fold(the_store.events(record.run_id))
    finally:
        if own_store:
            the_store.close()


def _own(store: RunStore | str | Path | None) -> tuple[RunStore, bool]:
    if hasattr(store, "append"):
        return store, False  # type: ignore[return-value]
    return open_store(store), True  # type: ignore[arg-type]


async def aresume(
    run_id: str,
    *,
    store: RunStore | str | Path | None = None,
    plugins: pluggy.PluginManager | None = None,
    file: str | Path | None = None,
    allow_changed: bool = False,
    settings: Mapping[str, Any] | None = None,
    observers: Iterable[object] = (),
    wait: bool = False,
    emulate: bool = False,
) -> Run:
    """Resume a run that failed, stopped, was cancelled, crashed, or waits for an approval.

    Only steps with no finished event run; finished ones keep their outputs and are not paid
    for again. The workflow file is the one the run started from (or `file`); if it changed
    since, resume refuses unless `allow_changed`, and then only unfinished steps use the new
    definition. A run that already succeeded is returned as it is.
    """
    from podium.core.errors import BadInput
    from podium.core.executor import Engine

    the_store, own = _own(store)
    try:
        record = the_store.get_run(run_id)
        if record.status == "succeeded":
            return fold(the_store.events(record.run_id))
        path = Path(file) if file is not None else (Path(record.file) if record.file else None)
        if path is None or not path.is_file():
            raise BadInput(
                f"run {record.run_id}: its workflow file {path or '(none recorded)'} is missing",
                fix="restore the file, or point at it with --file PATH",
            )
        pm = _plugins(plugins)
        wf = load(path, plugins=pm)
        changed = record.file_hash is not None and wf.file_hash != record.file_hash
        if changed and not allow_changed:
            raise BadInput(
                f"run {record.run_id}: {path} has changed since the run started",
                fix="resume with --allow-changed to run the unfinished steps with the new file"
                " (finished steps keep their results), or restore the original file",
            )
        engine = Engine(plugins=pm, store=the_store)
        first = the_store.events(record.run_id, limit=1)[0].data
        with ExitStack() as stack:
            if emulate or first.get("settings", {}).get("emulate"):
                wf = stack.enter_context(_emulated(wf, pm, first.get("provider_override")))
            return await engine.resume(
                record.run_id, wf, settings=settings, observers=observers, wait=wait, changed=changed
            )
    finally:
        if own:
            the_store.close()


def resume(run_id: str, **kwargs: Any) -> Run:
    """The synchronous form of `aresume`."""
    return asyncio.run(aresume(run_id, **kwargs))


def _append_or_post(
    store: RunStore,
    run_id: str,
    event: tuple[Any, str | None, dict[str, Any]],
    post: tuple[str, dict[str, Any]],
) -> bool:
    """Append `event` to a run no live process drives (holding its lease meanwhile), or post `post`
    to the run's inbox for the process that drives it. True when the event was appended."""
    from podium.core.events import Event
    from podium.core.lease import owner_id

    me = owner_id()
    if store.acquire_lease(run_id, me).owner != me:
        store.post(run_id, *post)
        return False
    try:
        type_, step, data = event
        store.append(Event(run_id, store.last_seq(run_id) + 1, type_, step, None, data))
    finally:
        store.release_lease(run_id, me)
    return True


def decide(
    run_id: str,
    step: str,
    decision: str,
    *,
    by: str | None = None,
    comment: str | None = None,
    fields: Mapping[str, Any] | None = None,
    store: RunStore | str | Path | None = None,
) -> str:
    """Approve or reject a waiting approval step. Returns 'recorded' or 'sent'.

    'recorded': the decision is an event in the run's log (no process was driving the run; a
    `resume` continues it). 'sent': a live process drives the run (`--wait`) and will apply it.
    """
    from podium.core.errors import BadInput, InputError
    from podium.core.events import EventType, StepStatus
    from podium.core.loader import suggest

    if decision not in ("approved", "rejected"):
        raise ValueError(decision)
    the_store, own = _own(store)
    try:
        record = the_store.get_run(run_id)
        run = fold(the_store.events(record.run_id))
        if record.status in ("succeeded", "cancelled"):
            raise BadInput(
                f"run {record.run_id} has {record.status}; step '{step}' is not waiting for approval",
                fix="`podium runs --waiting` lists the runs that wait for a person",
            )
        found = run.steps.get(step)
        if found is None:
            raise BadInput(
                f"run {record.run_id} has no step '{step}'{suggest(step, run.steps)}",
                fix=f"steps: {', '.join(run.steps)}",
            )
        waiting = found.status == StepStatus.WAITING and found.approval and not found.approval.get("decision")
        if not waiting:
            state = "already decided" if found.approval and found.approval.get("decision") else found.status
            raise BadInput(
                f"step '{step}' of run {record.run_id} is not waiting for approval ({state})",
                fix="`podium runs --waiting` lists the runs that wait for a person",
            )
        spec = (found.approval or {}).get("request", {}).get("fields", {})
        given = dict(fields or {})
        for name in given:
            if name not in spec:
                raise InputError(
                    f"step '{step}' asks for no field '{name}'{suggest(name, spec)}",
                    fix=f"fields it asks for: {', '.join(spec) or 'none'}",
                )
        for name, field_spec in spec.items():
            if name not in given:
                if field_spec.get("required", True):
                    raise InputError(
                        f"step '{step}' needs the field '{name}' ({field_spec.get('type', 'string')})",
                        fix=f"add --field {name}=VALUE",
                    )
                continue
            from podium.core.loader import coerce_input
            from podium.core.spec import Input

            given[name] = coerce_input(name, Input(type=field_spec.get("type", "string")), given[name])
        payload = {"decision": decision, "by": by, "comment": comment, "fields": given}
        appended = _append_or_post(
            the_store,
            record.run_id,
            (EventType.APPROVAL_DECIDED, step, payload),
            ("decision", {"step": step, **payload}),
        )
        return "recorded" if appended else "sent"
    finally:
        if own:
            the_store.close()


def cancel(run_id: str, *, by: str | None = None, store: RunStore | str | Path | None = None) -> str:
    """Cancel a run. Returns 'cancelled', 'requested' (a live process will stop), or its final status."""
    from podium.core.events import EventType

    the_store, own = _own(store)
    try:
        record = the_store.get_run(run_id)
        if record.status in ("succeeded", "failed", "cancelled"):
            return record.status
        data = {"status": "cancelled", "outputs": {}, "cancelled_by": by}
        appended = _append_or_post(
            the_store, record.run_id, (EventType.RUN_FINISHED, None, data), ("cancel", {"by": by})
        )
        return "cancelled" if appended else "requested"
    finally:
        if own:
            the_store.close()


def deploy(
    workflow: Workflow | str | Path,
    *,
    provider: str,
    settings: Mapping[str, Any] | None = None,
    plugins: pluggy.PluginManager | None = None,
    echo: Any = None,
) -> list[Any]:
    """Create or update a workflow's managed agents on `provider`; returns one `Deployment` per agent.

    `settings` override the workflow's ``providers.<provider>`` section (``{"region": "eu-west-1"}``);
    `echo(line)` hears progress. The provider records the agents' ids in ``podium-lock.json`` next to
    the workflow, where later runs against the same target find them.
    """
    from pydantic import ValidationError

    from podium.core.calls import ProviderEnv
    from podium.core.errors import BadInput

    pm = _plugins(plugins)
    wf = workflow if isinstance(workflow, Workflow) else load(workflow, plugins=pm)
    cls = ProviderRegistry(pm).get(provider)
    if not cls.can_deploy:
        raise BadInput(
            f"provider '{provider}' has no managed agents to deploy",
            fix="deploy to a cloud provider (bedrock, vertex, azure)",
        )
    try:
        config = cls.Config.model_validate({**wf.providers.get(provider, {}), **dict(settings or {})})
    except ValidationError as exc:
        raise BadInput(
            f"providers.{provider}: "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    env = ProviderEnv(workflow=wf.name, base_dir=wf.base_dir, mock=wf.mock)
    return cls(config, env).deploy(wf, echo=echo)
