"""The library's front door: load a workflow, run it (sync or async), read, decide, cancel and prune runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from podium.core.calls import RunSettings
from podium.core.loader import load as _load_file
from podium.core.loader import resolve_inputs
from podium.core.replay import fold
from podium.core.run import Run
from podium.core.spec import Workflow
from podium.core.store import RunRecord, RunStore, open_store
from podium.plugins.manager import Plugins

if TYPE_CHECKING:
    from podium.config import Configured

log = logging.getLogger("podium")
T = TypeVar("T")

PluginsLike = Plugins | pluggy.PluginManager | None


class Inputs(dict[str, Any]):
    """A run's inputs, already checked and typed against its workflow (what `checked_inputs` returns)."""


def checked_inputs(workflow: Workflow, given: Mapping[str, Any] | None = None) -> Inputs:
    """Check `given` against the workflow's inputs, apply defaults and types; InputError if wrong."""
    if isinstance(given, Inputs):
        return given
    if given is not None and not isinstance(given, Mapping):
        from podium.core.errors import InputError

        raise InputError(
            f"inputs must be a mapping of input name to value, not {type(given).__name__}",
            fix=f"pass e.g. {{{next(iter(workflow.inputs), 'topic')!r}: ...}}",
        )
    return Inputs(resolve_inputs(workflow, given or {}))


def with_provider_settings(
    workflow: Workflow, overrides: Mapping[str, Mapping[str, Any]] | None, *, plugins: PluginsLike = None
) -> Workflow:
    """`workflow` with some `providers.<name>` settings laid over its own (`podium run --set`),
    checked against each provider's settings model: a bad one is bad input naming the setting."""
    if not overrides:
        return workflow
    from pydantic import ValidationError

    from podium.core.errors import InputError, validation_problems

    registry = Plugins.of(plugins).providers
    merged = {name: dict(values) for name, values in workflow.providers.items()}
    for name, values in overrides.items():
        cls = registry.get(name)  # an unknown provider is bad input, with the installed ones listed
        merged[name] = {**merged.get(name, {}), **dict(values)}
        try:
            cls.Config.model_validate(merged[name])
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise InputError(
                f"--set for {name}: {problems}", fix=f"see the settings of providers.{name} in the docs"
            ) from None
    return workflow.model_copy(update={"providers": merged})


def configure(
    workflow: Workflow | str | Path,
    *,
    profile: str | None = None,
    config: str | Path | None = None,
    provider: str | None = None,
    provider_settings: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
    plugins: PluginsLike = None,
    use_default: bool = True,
) -> Configured:
    """A workflow with a ``podium.toml`` profile, the environment and the CLI's flags applied.

    Precedence, strongest first: flags (`provider`, `provider_settings`), then the environment
    (``PODIUM_PROVIDER``, ``PODIUM_<PROVIDER>_<KEY>``; `environ`, default `os.environ`), then the
    workflow file, then the profile's defaults. The profile is `profile`, else ``PODIUM_PROFILE``,
    else the file's ``default_profile`` (when `use_default`); the file is `config`, else the nearest
    podium.toml from the workflow's folder upwards, else ``~/.podium/podium.toml``. The result says
    where each value came from (`podium config show`) and lists warnings.
    """
    import os

    from podium.config import configure as _configure

    the_plugins = Plugins.of(plugins)
    wf = workflow if isinstance(workflow, Workflow) else load(workflow, plugins=the_plugins)
    return _configure(
        wf,
        registry=the_plugins.providers,
        profile=profile,
        config=config,
        provider=provider,
        provider_settings=provider_settings,
        environ=os.environ if environ is None else environ,
        use_default=use_default,
    )


def _configured_run(
    wf: Workflow,
    plugins: Plugins,
    *,
    profile: str | None,
    config: str | Path | None,
    provider: str | None,
    provider_settings: Mapping[str, Mapping[str, Any]] | None,
    use_default: bool = True,
) -> tuple[Workflow, str | None, RunSettings]:
    """The workflow, provider override and settings (the profile's name) a run starts or resumes with."""
    configured = configure(
        wf, profile=profile, config=config, provider=provider, provider_settings=provider_settings,
        plugins=plugins, use_default=use_default,
    )  # fmt: skip
    for warning in configured.warnings:
        log.warning("warning: %s", warning)
    named: dict[str, Any] = {}
    if configured.profile is not None:
        named = {"profile": configured.profile, "config": str(configured.config_file)}
    return configured.workflow, configured.provider, RunSettings(**named)


def load(path: str | Path, *, plugins: PluginsLike = None) -> Workflow:
    """Read and check a workflow file; raises `WorkflowError` listing every problem, located."""
    from podium.config.resolve import provider_models

    registry = Plugins.of(plugins).providers
    return _load_file(path, providers=registry.names(), **provider_models(registry))


async def arun(
    workflow: Workflow | str | Path,
    inputs: Mapping[str, Any] | None = None,
    *,
    provider: str | None = None,
    store: RunStore | str | Path | None = None,
    plugins: PluginsLike = None,
    run_id: str | None = None,
    settings: RunSettings | Mapping[str, Any] | None = None,
    observers: Iterable[object] = (),
    wait: bool = False,
    emulate: bool = False,
    provider_settings: Mapping[str, Mapping[str, Any]] | None = None,
    profile: str | None = None,
    config: str | Path | None = None,
    model_classes: Iterable[str | Path] = (),
) -> Run:
    """Run a workflow (a `Workflow` or a path) and return its `Run`.

    `store` is a RunStore, a database path, or None for the default (`$PODIUM_DB` or
    `~/.podium/podium.db`). `provider` rebinds every non-function agent to that provider.
    `settings` (`budget`, `prices`, and any plugin's own) are checked before anything runs.
    `observers` are objects with a `podium_event(event)` method; they see this run's events only.
    `wait` keeps the process waiting at an approval step (else the run returns `waiting`);
    `emulate` runs each cloud the workflow uses on its local emulator (and so will its resume).
    `provider_settings` lay settings over the workflow's `providers.<name>` for this call only
    (`podium run --set bedrock.region=eu-west-1`); they are not recorded, so secrets stay out of
    the store: give them again to `resume`. `model_classes` are model-class files laid over
    podium's table (after $PODIUM_MODEL_CLASSES): an agent's `model: fast` becomes each provider's
    model for `fast` unless the workflow's `providers.<name>.models` maps it; a class with no model
    on a provider some step runs on is a WorkflowError before anything runs.

    A workflow given as a path is configured as `configure` says (a ``podium.toml`` profile, the
    environment); a `Workflow` only when `profile` or `config` is given. The profile's name, never
    its values, is recorded, and a resume applies it again.
    """
    from podium.core.engine import Engine

    the_plugins = Plugins.of(plugins)
    parsed = RunSettings.parse(settings)
    if isinstance(workflow, Workflow) and profile is None and config is None:
        wf = with_provider_settings(workflow, provider_settings, plugins=the_plugins)
    else:
        loaded = workflow if isinstance(workflow, Workflow) else load(workflow, plugins=the_plugins)
        wf, provider, named = _configured_run(
            loaded, the_plugins, profile=profile, config=config, provider=provider,
            provider_settings=provider_settings,
        )  # fmt: skip
        parsed = named.merged(parsed)
    resolved = checked_inputs(wf, inputs)
    if provider is not None:
        the_plugins.providers.get(provider)  # a clear error for an unknown name, before anything runs
    wf = with_model_classes(wf, provider=provider, plugins=the_plugins, model_classes=model_classes)
    if emulate:
        parsed = parsed.merged(RunSettings(emulate=True))
    the_store, own_store = _own(store)
    try:
        with ExitStack() as stack:
            if parsed.emulate:
                wf = stack.enter_context(_emulated(wf, the_plugins, provider))
            engine = Engine(plugins=the_plugins, store=the_store)
            return await engine.run(
                wf, resolved, provider=provider, run_id=run_id, settings=parsed,
                observers=observers, wait=wait,
            )  # fmt: skip
    finally:
        if own_store:
            the_store.close()


@contextmanager
def _emulated(wf: Workflow, plugins: Plugins, provider: str | None) -> Iterator[Workflow]:
    from podium.emulate import emulated

    with emulated(wf, plugins, provider=provider) as (rebound, names):
        if names:
            log.info("emulating %s on 127.0.0.1", ", ".join(names))
        yield rebound


def with_model_classes(
    workflow: Workflow,
    *,
    provider: str | None = None,
    plugins: PluginsLike = None,
    model_classes: Iterable[str | Path] = (),
    only: str | None = None,
) -> Workflow:
    """`workflow` with the model-class table (podium's, $PODIUM_MODEL_CLASSES, then `model_classes`
    files) under its providers' `models:`, beneath the workflow's own entries. A class with no model
    on a provider some step may run on (with `provider` rebinding them, as `run --provider` does;
    or on `only`) is a WorkflowError naming the class, the cloud and the table to extend."""
    from podium.resolve import Resolver
    from podium.resolve import model_classes as table

    resolver = Resolver(workflow, table(model_classes), Plugins.of(plugins))
    resolver.check(provider, bindings=False, only=only)
    return resolver.laid()


def validate(
    workflow: Workflow | str | Path,
    *,
    provider: str | None = None,
    plugins: PluginsLike = None,
    model_classes: Iterable[str | Path] = (),
) -> list[Any]:
    """Check, without running anything, that every agent's model and binding resolves on `provider`
    (as `run --provider` would rebind it), or on each provider the workflow's steps use.

    Raises WorkflowError listing every problem (file, line, field, fix): a model class with no model
    on the provider, an agent with neither a binding nor a model on a cloud, a local step with no
    function, mock reply or endpoint. Returns one `Resolution` per agent and provider: what it is
    bound to (a managed agent, a model, a function, a mock) and where that came from.
    """
    from podium.resolve import Resolver
    from podium.resolve import model_classes as table

    the_plugins = Plugins.of(plugins)
    wf = workflow if isinstance(workflow, Workflow) else load(workflow, plugins=the_plugins)
    if provider is not None:
        the_plugins.providers.get(provider)
    resolver = Resolver(wf, table(model_classes), the_plugins)
    resolver.check(provider)
    return resolver.resolved(provider)


def _to_the_end(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `make()` gives to its end, from synchronous code.

    Outside an event loop (a script), with `asyncio.run`. Inside one (a notebook's cell, an async
    app calling the sync API), `asyncio.run` refuses, so the coroutine runs on an event loop of its
    own in a worker thread while this thread waits, in a copy of this thread's context. Ctrl-C (a
    notebook's interrupt, or the cancel `asyncio.run` makes of it) while it waits cancels the run,
    as it would outside a loop: the run is recorded cancelled, then the interrupt goes on.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    import contextvars
    import threading

    started = threading.Event()
    # waited on, not `worker.join()`: a join that a KeyboardInterrupt cuts short marks the thread
    # ended though it runs on (CPython < 3.13), and a second join then returns at once
    done = threading.Event()
    running: dict[str, Any] = {}
    ended: dict[str, Any] = {}

    async def main() -> T:
        running["loop"], running["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await make()

    def work() -> None:
        try:
            ended["value"] = asyncio.run(main())
        except BaseException as exc:  # handed to the waiting thread, which raises it
            ended["error"] = exc
        finally:
            started.set()
            done.set()

    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(work,), name="podium-run", daemon=True)
    worker.start()
    # an app run by `asyncio.run` hears Ctrl-C as its main task being cancelled (its loop's SIGINT
    # handler), not as a KeyboardInterrupt here: the wait looks for that too
    caller = asyncio.current_task()
    try:
        while not done.wait(0.1):
            if caller is not None and caller.cancelling():
                raise asyncio.CancelledError
    except (KeyboardInterrupt, asyncio.CancelledError):
        started.wait()
        if "task" in running:
            running["loop"].call_soon_threadsafe(running["task"].cancel)
        done.wait()
        raise
    if "error" in ended:
        raise ended["error"]
    return ended["value"]  # type: ignore[no-any-return]


def run(workflow: Workflow | str | Path, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Run:
    """The synchronous form of `arun`, for scripts and notebooks (inside a running event loop it
    runs on a loop of its own in a worker thread; `await arun(...)` there avoids the thread)."""
    return _to_the_end(lambda: arun(workflow, inputs, **kwargs))


def get_run(run_id: str, *, store: RunStore | str | Path | None = None) -> Run:
    """A run as its events tell it, by id, unique id prefix, or `latest`.

    A run whose events say `running` but that no live process drives (it was killed, or its
    machine went down) is `interrupted`: `resume` continues it.
    """
    with _opened(store) as the_store:
        record = the_store.get_run(run_id)
        return observed(fold(the_store.events(record.run_id)), the_store)


def status_of(record: RunRecord, store: RunStore) -> str:
    """A run's status as a person should see it: `interrupted` for a `running` run that no live
    process drives (its lease expired, or its process is gone from this host), else as recorded."""
    if record.status != "running":
        return record.status
    lease = store.lease(record.run_id)
    return "running" if lease.driven else "interrupted"


def observed(run: Run, store: RunStore) -> Run:
    """`run` with the status a person should see (see `status_of`): an interrupted run's steps that
    were in flight when its process died are `interrupted` too, not `running`."""
    from podium.core.events import RunStatus, StepStatus

    if run.status is RunStatus.RUNNING:
        lease = store.lease(run.run_id)
        if not lease.driven:
            run.status = RunStatus.INTERRUPTED
            for step in run.steps.values():
                if step.status is StepStatus.RUNNING:
                    step.status = StepStatus.INTERRUPTED
    return run


def _own(store: RunStore | str | Path | None) -> tuple[RunStore, bool]:
    if hasattr(store, "append"):
        return store, False  # type: ignore[return-value]
    return open_store(store), True  # type: ignore[arg-type]


@contextmanager
def _opened(store: RunStore | str | Path | None) -> Iterator[RunStore]:
    """The store given, or the one a path names (closed afterwards)."""
    the_store, own = _own(store)
    try:
        yield the_store
    finally:
        if own:
            the_store.close()


async def aresume(
    run_id: str,
    *,
    store: RunStore | str | Path | None = None,
    plugins: PluginsLike = None,
    file: str | Path | None = None,
    allow_changed: bool = False,
    settings: RunSettings | Mapping[str, Any] | None = None,
    observers: Iterable[object] = (),
    wait: bool = False,
    emulate: bool = False,
    provider_settings: Mapping[str, Mapping[str, Any]] | None = None,
    profile: str | None = None,
    config: str | Path | None = None,
    model_classes: Iterable[str | Path] = (),
) -> Run:
    """Resume a run that failed, stopped, was cancelled, crashed, or waits for an approval.

    Only steps with no finished event run; finished ones keep their outputs and are not paid
    for again. The workflow file is the one the run started from (or `file`); if it changed
    since, resume refuses unless `allow_changed`, and then only unfinished steps use the new
    definition. A run that already succeeded is returned as it is. The run's events are read
    once, after this process has taken the run's lease. Give `model_classes` (and
    `provider_settings`) as the run was started with them: they are not recorded.

    The run keeps the ``podium.toml`` profile it started with (read again from its file), unless
    `profile` (or `config`) names another; `provider_settings` and the environment apply as on `arun`.
    """
    from podium.core.engine import Engine
    from podium.core.errors import BadInput

    parsed = RunSettings.parse(settings)
    with _opened(store) as the_store:
        record = the_store.get_run(run_id)
        if record.status == "succeeded":
            return fold(the_store.events(record.run_id))
        path = Path(file) if file is not None else (Path(record.file) if record.file else None)
        if path is None or not path.is_file():
            raise BadInput(
                f"run {record.run_id}: its workflow file {path or '(none recorded)'} is missing",
                fix="restore the file, or point at it with --file PATH",
            )
        the_plugins = Plugins.of(plugins)
        wf = load(path, plugins=the_plugins)
        changed = record.file_hash is not None and wf.file_hash != record.file_hash
        if changed and not allow_changed:
            raise BadInput(
                f"run {record.run_id}: {path} has changed since the run started",
                fix="resume with --allow-changed to run the unfinished steps with the new file"
                " (finished steps keep their results), or restore the original file",
            )
        engine = Engine(plugins=the_plugins, store=the_store)
        with engine.claimed(record.run_id) as claim, ExitStack() as stack:
            began = RunSettings.parse(claim.started.get("settings"))
            wf, _, named = _configured_run(
                wf, the_plugins, profile=profile or began.profile, provider=None,
                config=config if config is not None else (began.config if not profile else None),
                provider_settings=provider_settings, use_default=False,
            )  # fmt: skip
            if named.profile != began.profile:
                parsed = named.merged(parsed)  # another profile than the run began with: record it
            wf = with_model_classes(
                wf, provider=claim.started.get("provider_override"), plugins=the_plugins,
                model_classes=model_classes,
            )  # fmt: skip
            if emulate or began.emulate:
                wf = stack.enter_context(_emulated(wf, the_plugins, claim.started.get("provider_override")))
            return await engine.resume(
                claim, wf, settings=parsed, observers=observers, wait=wait, changed=changed
            )


def resume(run_id: str, **kwargs: Any) -> Run:
    """The synchronous form of `aresume` (inside a running event loop, as `run`)."""
    return _to_the_end(lambda: aresume(run_id, **kwargs))


def decide(
    run_id: str,
    step: str,
    decision: str,
    *,
    by: str | None = None,
    comment: str | None = None,
    fields: Mapping[str, Any] | None = None,
    store: RunStore | str | Path | None = None,
    plugins: PluginsLike = None,
) -> str:
    """Approve or reject a waiting approval step. Returns 'recorded' or 'sent'.

    'recorded': the decision is an event in the run's log (no process was driving the run; a
    `resume` continues it), seen by every plugin's `podium_event`. 'sent': a live process drives
    the run (`--wait`) and will apply it.
    """
    from podium.core.approvals import check_decision
    from podium.core.dispatch import append_or_post
    from podium.core.events import EventType

    with _opened(store) as the_store:
        record = the_store.get_run(run_id)
        given = check_decision(fold(the_store.events(record.run_id)), step, decision, fields or {})
        payload = {"decision": decision, "by": by, "comment": comment, "fields": given}
        if (engine := _temporal_engine(the_store, record.run_id)) is not None:
            from podium.temporal.client import signal_decision

            signal_decision(engine, {"step": step, **payload})  # its workflow records it
            return "sent"
        appended = append_or_post(
            the_store,
            Plugins.of(plugins),
            record.run_id,
            (EventType.APPROVAL_DECIDED, step, payload),
            ("decision", {"step": step, **payload}),
        )
        return "recorded" if appended else "sent"


def cancel(
    run_id: str,
    *,
    by: str | None = None,
    store: RunStore | str | Path | None = None,
    plugins: PluginsLike = None,
) -> str:
    """Cancel a run. Returns 'cancelled', 'requested' (a live process will stop), or its final status."""
    from podium.core.dispatch import append_or_post
    from podium.core.events import EventType

    with _opened(store) as the_store:
        record = the_store.get_run(run_id)
        if record.status in ("succeeded", "failed", "cancelled"):
            return record.status
        if (engine := _temporal_engine(the_store, record.run_id)) is not None:
            from podium.temporal.client import cancel_run

            cancel_run(engine, by)  # Temporal's cancellation; its workflow records RunFinished
            return "requested"
        data = {"status": "cancelled", "outputs": {}, "cancelled_by": by}
        appended = append_or_post(
            the_store,
            Plugins.of(plugins),
            record.run_id,
            (EventType.RUN_FINISHED, None, data),
            ("cancel", {"by": by}),
        )
        return "cancelled" if appended else "requested"


def _temporal_engine(store: RunStore, run_id: str) -> dict[str, Any] | None:
    """Where a Temporal run runs (its RunStarted says so); None for a local run."""
    first = store.events(run_id, limit=1)
    engine = first[0].data.get("engine") if first else None
    return engine if isinstance(engine, dict) and engine.get("name") == "temporal" else None


def waiting(run_id: str, *, store: RunStore | str | Path | None = None) -> list[dict[str, Any]]:
    """What a waiting run asks of a person: each waiting approval step's message, fields, deadline."""
    run = get_run(run_id, store=store)
    out = []
    for sid, step in run.steps.items():
        if step.status == "waiting" and step.approval:
            request = step.approval.get("request", {})
            out.append(
                {
                    "step": sid,
                    "message": request.get("message"),
                    "deadline": request.get("deadline"),
                    "fields": request.get("fields", {}),
                    "decision": step.approval.get("decision"),
                }
            )
    return out


def _driven(store: RunStore, record: RunRecord) -> bool:
    """Whether a live process drives the run now (its lease is held and fresh): a running run, or
    a waiting one that a `--wait` process keeps."""
    lease = store.lease(record.run_id)
    return lease.driven


def delete_runs(run_ids: Iterable[str], *, store: RunStore | str | Path | None = None) -> list[RunRecord]:
    """Erase runs and everything derived from them; refuses (RunBusy) a run a live process drives.

    Every id is checked before anything is deleted. Returns the deleted runs' records.
    """
    from podium.core.errors import RunBusy

    with _opened(store) as the_store:
        records = [the_store.get_run(run_id) for run_id in run_ids]
        for record in records:
            if _driven(the_store, record):
                raise RunBusy(
                    f"run {record.run_id} is being driven by {the_store.lease(record.run_id).owner}",
                    fix=f"cancel it first: podium cancel {record.run_id}",
                )
        for record in records:
            the_store.delete_run(record.run_id)
        return records


def gc(
    older_than: float,
    *,
    keep_failed: bool = False,
    dry_run: bool = False,
    store: RunStore | str | Path | None = None,
) -> list[RunRecord]:
    """Delete runs not updated for `older_than` seconds (never one a live process drives), then
    compact the store. `keep_failed` keeps failed and stopped runs. Returns the runs (to be) deleted."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    kept = {"failed", "stopped"} if keep_failed else set()
    with _opened(store) as the_store:
        doomed = [
            record
            for record in the_store.runs()
            if record.updated_at < cutoff and record.status not in kept and not _driven(the_store, record)
        ]
        if not dry_run and doomed:
            for record in doomed:
                the_store.delete_run(record.run_id)
            vacuum = getattr(the_store, "vacuum", None)
            if vacuum is not None:
                vacuum()
        return doomed


def deploy(
    workflow: Workflow | str | Path,
    *,
    provider: str,
    settings: Mapping[str, Any] | None = None,
    plugins: PluginsLike = None,
    echo: Any = None,
    emulate: bool = False,
    model_classes: Iterable[str | Path] = (),
) -> list[Any]:
    """Create or update a workflow's managed agents on `provider`; returns one `Deployment` per agent.

    `settings` override the workflow's ``providers.<provider>`` section (``{"region": "eu-west-1"}``);
    `echo(line)` hears progress. The provider records the agents' ids in ``podium-lock.json`` next to
    the workflow, where later runs against the same target find them. With `emulate`, the deploy
    goes to a fresh local emulator of the cloud, to see what it would create, and the lock file is
    left as it was. An agent's model class (`model: fast`) is deployed as `provider`'s model for it
    (see `arun`'s `model_classes`).
    """
    if emulate:
        return _deploy_emulated(
            workflow, provider=provider, settings=settings, plugins=plugins, echo=echo,
            model_classes=model_classes,
        )  # fmt: skip
    from pydantic import ValidationError

    from podium.core.calls import ProviderEnv
    from podium.core.errors import BadInput, validation_problems

    the_plugins = Plugins.of(plugins)
    wf = workflow if isinstance(workflow, Workflow) else load(workflow, plugins=the_plugins)
    cls = the_plugins.providers.get(provider)
    if not cls.can_deploy:
        raise BadInput(
            f"provider '{provider}' has no managed agents to deploy",
            fix="deploy to a cloud provider (bedrock, vertex, azure)",
        )
    wf = with_model_classes(
        wf, provider=provider, plugins=the_plugins, model_classes=model_classes, only=provider
    )
    try:
        config = cls.Config.model_validate({**wf.providers.get(provider, {}), **dict(settings or {})})
    except ValidationError as exc:
        raise BadInput(f"providers.{provider}: {validation_problems(exc)}") from None
    env = ProviderEnv(workflow=wf.name, base_dir=wf.base_dir, mock=wf.mock)
    return cls(config, env).deploy(wf, echo=echo)


def _deploy_emulated(
    workflow: Workflow | str | Path,
    *,
    provider: str,
    settings: Mapping[str, Any] | None,
    plugins: PluginsLike,
    echo: Any,
    model_classes: Iterable[str | Path],
) -> list[Any]:
    """A deploy to a fresh emulator of `provider`: what a real one would create; the lock file is kept."""
    the_plugins = Plugins.of(plugins)
    wf = workflow if isinstance(workflow, Workflow) else load(workflow, plugins=the_plugins)
    lock = wf.base_dir / "podium-lock.json"
    before = lock.read_bytes() if lock.is_file() else None
    try:
        with _emulated(wf, the_plugins, provider) as rebound:
            emulator = rebound.providers.get(provider, {})
            merged = {**emulator, **dict(settings or {})}

            def say(line: str) -> None:  # nothing is recorded: the lock file is put back below
                if echo is not None and not line.startswith("recorded in "):
                    echo(line)

            return deploy(
                rebound, provider=provider, settings=merged, plugins=the_plugins, echo=say,
                model_classes=model_classes,
            )  # fmt: skip
    finally:  # an emulator's agents are gone when it stops: keep no entry for them
        if before is None:
            lock.unlink(missing_ok=True)
        else:
            lock.write_bytes(before)
