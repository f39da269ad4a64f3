"""The command line, thin over the library. Exit codes: 0 done, 1 failed or stopped, 2 bad input."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from podium import __version__
from podium.plugins.commands import echo_json, fail, guard, parse_pairs

if TYPE_CHECKING:
    from podium.core.run import Run
    from podium.core.store import SQLiteStore
    from podium.plugins.manager import Plugins


class _State:
    plugins: Plugins | None = None


def _plugins() -> Plugins:
    """The plugins, loaded once per command."""
    if _State.plugins is None:
        from podium.plugins.manager import load_plugins

        _State.plugins = load_plugins()
    return _State.plugins


_fail = fail
_guard = guard
_echo_json = echo_json


def _open_store(db: str | None) -> SQLiteStore:
    from podium.core.store import open_store

    return open_store(db)


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Run database (default: $PODIUM_DB or ~/.podium/podium.db).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
classes_option = click.option(
    "--model-classes", "class_files", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
    help="A model-class file laid over podium's table (model: fast → each cloud's model); repeatable.",
)  # fmt: skip
set_option = click.option(
    "--set", "sets", multiple=True, metavar="PROVIDER.KEY=VALUE",
    help="Override a providers.<name> setting for this command, e.g. --set bedrock.region=eu-west-1.",
)  # fmt: skip


def profile_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--profile NAME` and `--config FILE`: a podium.toml profile, on the commands that configure a run."""
    fn = click.option(
        "--config", "config_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
        help="The podium.toml to read (default: the nearest from the workflow's folder up, then"
        " ~/.podium/podium.toml).",
    )(fn)  # fmt: skip
    return click.option(
        "--profile", default=None, metavar="NAME",
        help="A profile of podium.toml: its providers' settings and agents' bindings (also: PODIUM_PROFILE).",
    )(fn)  # fmt: skip


def trace_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--trace FILE`, `--otlp`, `--otlp-endpoint URL` and `--include-content`, on the commands that
    drive a run."""
    fn = click.option(
        "--include-content", is_flag=True, help="The trace includes prompts, replies and outputs."
    )(fn)
    fn = click.option(
        "--otlp-endpoint", default=None, metavar="URL",
        help="The OTLP/HTTP collector for --otlp (default: $OTEL_EXPORTER_OTLP_ENDPOINT).",
    )(fn)  # fmt: skip
    fn = click.option(
        "--otlp", is_flag=True,
        help="Send the run's spans to an OTLP collector as they happen (also: PODIUM_OTLP=1 or a URL).",
    )(fn)  # fmt: skip
    return click.option(
        "--trace", type=click.Path(), default=None, metavar="FILE",
        help="When the run ends, write its trace to FILE: .jsonl (spans) or .html (a report).",
    )(fn)  # fmt: skip


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="podium")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """podium: run agent workflows on managed cloud agent services, or locally, from one file."""


# --- run ------------------------------------------------------------------------------------


def _parse_inputs(pairs: tuple[str, ...], inputs_file: str | None) -> dict[str, Any]:
    from podium.core.errors import InputError

    values: dict[str, Any] = {}
    if inputs_file:
        try:
            loaded = json.loads(Path(inputs_file).read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"--inputs {inputs_file}: cannot read a JSON object ({exc})",
                fix='give a JSON file such as {"topic": "tides"}',
            ) from None
        if not isinstance(loaded, dict):
            raise InputError(f"--inputs {inputs_file}: must hold a JSON object")
        values.update(loaded)
    values.update(parse_pairs(pairs, "-i", "topic=tides"))
    return values


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "pairs", multiple=True, metavar="KEY=VALUE", help="An input value.")
@click.option("--inputs", "inputs_file", type=click.Path(dir_okay=False), help="Inputs as JSON.")
@click.option(
    "--provider", help="Run every agent on this provider (functions stay local; also: PODIUM_PROVIDER)."
)
@click.option("--emulate", is_flag=True, help="Run each cloud the workflow uses on its local emulator.")
@click.option("--budget", type=str, default=None, metavar="USD", help="Most this run may spend.")
@click.option("--wait", is_flag=True, help="At an approval step, wait for the decision instead of exiting.")
@set_option
@profile_options
@classes_option
@trace_options
@db_option
@json_option
@click.option("-q", "--quiet", is_flag=True, help="No progress view.")
@click.option(
    "--engine", type=click.Choice(["local", "temporal"]), default="local", show_default=True,
    help="Where the run is driven: this process, or Temporal workers (`podium worker`).",
)  # fmt: skip
@click.option("--temporal-address", default=None, metavar="HOST:PORT", help="--engine temporal: the server.")
@click.option("--task-queue", default=None, help="--engine temporal: the workers' task queue.")
@click.option("--detach", is_flag=True, help="--engine temporal: submit, print the run id, and return.")
@_guard
def run(
    file: str,
    pairs: tuple[str, ...],
    inputs_file: str | None,
    provider: str | None,
    emulate: bool,
    budget: str | None,
    wait: bool,
    sets: tuple[str, ...],
    profile: str | None,
    config_file: str | None,
    class_files: tuple[str, ...],
    trace: str | None,
    otlp: bool,
    otlp_endpoint: str | None,
    include_content: bool,
    db: str | None,
    as_json: bool,
    quiet: bool,
    engine: str,
    temporal_address: str | None,
    task_queue: str | None,
    detach: bool,
) -> None:
    """Run a workflow file and print its outputs (exit 1 if it fails, stops or waits)."""
    from podium import api
    from podium.core.clock import new_run_id
    from podium.core.errors import WorkflowError

    traced = _trace_target(trace)  # a bad path is bad input before anything runs
    pm = _plugins()
    configured = _configured(file, profile, config_file, provider, sets)
    wf, provider = configured.workflow, configured.provider
    inputs = api.checked_inputs(wf, _parse_inputs(pairs, inputs_file))
    settings = _settings(budget, configured)
    # model classes resolve (or fail, exit 2) before a run id is taken or the live view starts
    try:
        wf = api.with_model_classes(wf, provider=provider, plugins=pm, model_classes=class_files)
    except WorkflowError as exc:
        raise configured.with_sources(exc) from None
    run_id = new_run_id()
    live = _live_export(otlp, otlp_endpoint, include_content)

    if engine == "temporal":  # submitted to Temporal; followed from the store, as a local run's view
        from podium.temporal import commands as on_temporal

        where = {"address": temporal_address, "task_queue": task_queue}
        if detach:
            on_temporal.submit_detached(
                wf, inputs, provider=provider, run_id=run_id, settings=settings, emulate=emulate, **where
            )
            click.echo(run_id)
            return

        def start_temporal(store: Any, progress: Any) -> Any:
            return on_temporal.arun_temporal(
                wf, inputs, provider=provider, store=store, run_id=run_id, settings=settings,
                observer=progress, emulate=emulate, plugins=pm, wait=wait, **where,
            )  # fmt: skip

        _drive(
            start_temporal, list(wf.steps), run_id, db=db, as_json=as_json, quiet=quiet, trace=traced,
            content=include_content, live=live,
            interrupted=f"stopped following run {run_id}; it goes on on Temporal's workers"
            f" (podium show {run_id}; podium cancel {run_id})",
        )  # fmt: skip
        return

    def start(store: Any, progress: Any) -> Any:
        return api.arun(
            wf, inputs, provider=provider, store=store, plugins=pm, run_id=run_id,
            settings=settings, observers=[progress], wait=wait, emulate=emulate,
            model_classes=class_files,
        )  # fmt: skip

    _drive(
        start, list(wf.steps), run_id, db=db, as_json=as_json, quiet=quiet, trace=traced,
        content=include_content, live=live,
    )  # fmt: skip


def _live_export(otlp: bool, endpoint: str | None, content: bool) -> dict[str, Any] | None:
    """The live OTLP export `--otlp` / `--otlp-endpoint` / PODIUM_OTLP ask for (its endpoint and
    whether to include content), checked before the run starts so that a bad setting runs nothing."""
    import os

    setting = os.environ.get("PODIUM_OTLP", "").strip()
    off = setting.lower() in ("", "0", "false", "no", "off")
    if not (otlp or endpoint) and off:
        return None
    option = "--otlp-endpoint"
    if endpoint is None and not off and setting.lower() not in ("1", "true", "yes", "on"):
        endpoint, option = setting, "PODIUM_OTLP"  # PODIUM_OTLP=http://collector:4318
    from podium.trace.follow import checked_endpoint

    checked_endpoint(endpoint, option=option)  # none anywhere, or a bad one: runs nothing
    return {"endpoint": endpoint, "content": content}


def _trace_target(trace: str | None) -> tuple[str, str] | None:
    """`--trace FILE` checked before the run: (path, format), or None."""
    if trace is None:
        return None
    from podium.trace.export import check_output, format_of

    kind = format_of(trace)
    check_output(trace)
    return trace, kind


def _write_trace(store: Any, run_id: str, target: tuple[str, str], content: bool) -> None:
    """Write the run's trace where `--trace` said; a failure is reported, and the run's result stands."""
    from podium.core.errors import PodiumError
    from podium.trace.export import write_trace

    try:  # the run's summary then names the file (the trace plugin's piece)
        write_trace(store, run_id, target[0], fmt=target[1], plugins=_plugins(), content=content)
    except PodiumError as exc:
        click.echo(f"warning: the trace was not written: {exc.message}", err=True)


def _debug() -> bool:
    """Whether `podium --debug` was given (tracebacks are shown)."""
    context = click.get_current_context(silent=True)
    return bool(context and context.find_root().params.get("debug"))


def _summaries(run: Run, store: Any) -> list[Any]:
    """The plugins' pieces of a run's summary (hook `podium_run_summary`), from the store the run was
    read from; none if the hook fails."""
    try:
        parts = _plugins().hook.podium_run_summary(run=run, store=store)
    except Exception:  # a plugin's piece is a courtesy: the run's own summary still prints
        import logging

        logging.getLogger("podium.plugins").debug("no run summary for %s", run.run_id, exc_info=True)
        return []
    return [part for part in parts if part is not None]


def _with_summaries(data: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
    """Add each plugin's piece to a run's JSON (`cost` from the cost plugin; null when none priced it)."""
    own = set(data)  # a plugin's piece never replaces the run's own fields
    data["cost"] = None
    for part in parts:
        if part.name not in own:
            data[part.name] = part.data
    return data


def _drive(
    start: Callable[[Any, Any], Any],
    steps: list[str],
    run_id: str,
    *,
    db: str | None,
    as_json: bool,
    quiet: bool,
    trace: tuple[str, str] | None = None,
    content: bool = False,
    live: dict[str, Any] | None = None,
    resumed: bool = False,
    interrupted: str | None = None,
) -> None:
    """Run a coroutine that drives a run, with the progress view, its spans sent live by a follower
    process if asked; write its trace if asked; print the result; exit."""
    import asyncio

    from podium import api
    from podium.cli_view import LiveView, print_run

    store = _open_store(db)
    follower = None
    try:
        if live is not None:  # a process of its own reads the run's events from the store and sends them
            from podium.trace.follow import FollowExport, resume_point

            after = resume_point(store, run_id) if resumed else 0
            follower = FollowExport(getattr(store, "url", store.path), run_id, after=after, **live)
            follower.start()
        try:
            with LiveView(steps, enabled=not (as_json or quiet)) as view:
                result = asyncio.run(start(store, view))
        except KeyboardInterrupt:  # Ctrl-C: the engine recorded the run as cancelled; show it
            result = api.get_run(run_id, store=store)
            click.echo(
                interrupted or f"cancelled: run {run_id} (resume with: podium resume {run_id})", err=True
            )
        finally:
            if follower is not None:
                follower.close()  # the last spans, sent within a bounded time (a dead collector: at once)
        if trace is not None:
            _write_trace(store, result.run_id, trace, content)
        parts = _summaries(result, store)
    finally:
        store.close()
    if as_json:
        _echo_json(_with_summaries(result.to_json(), parts))
    else:
        print_run(result, steps, summaries=parts, debug=_debug())
    sys.exit(0 if result.ok else 1)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--allow-changed", is_flag=True, help="Resume even if the workflow file has changed.")
@click.option("--file", "file", type=click.Path(dir_okay=False), help="The workflow file, if it moved.")
@click.option("--budget", type=str, default=None, metavar="USD", help="A new budget for the run.")
@click.option("--wait", is_flag=True, help="At an approval step, wait for the decision instead of exiting.")
@click.option("--emulate", is_flag=True, help="Run each cloud the workflow uses on its local emulator.")
@set_option
@profile_options
@classes_option
@trace_options
@db_option
@json_option
@click.option("-q", "--quiet", is_flag=True, help="No progress view.")
@_guard
def resume(
    run_id: str,
    allow_changed: bool,
    file: str | None,
    budget: str | None,
    wait: bool,
    emulate: bool,
    sets: tuple[str, ...],
    profile: str | None,
    config_file: str | None,
    class_files: tuple[str, ...],
    trace: str | None,
    otlp: bool,
    otlp_endpoint: str | None,
    include_content: bool,
    db: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Continue a run from where it stopped: finished steps are neither re-run nor re-paid."""
    from podium import api
    from podium.core.replay import fold

    traced = _trace_target(trace)
    store = _open_store(db)
    try:
        record = store.get_run(run_id)
        # the whole log only to show a finished run; else just the first event, for the step list
        events = store.events(record.run_id, limit=None if record.status == "succeeded" else 1)
    finally:
        store.close()
    if record.status == "succeeded":
        done = fold(events)
        if as_json:
            _echo_json(done.to_json())
        else:
            click.echo(f"run {record.run_id} already succeeded; nothing to resume")
        sys.exit(0)
    pm = _plugins()
    settings = _settings(budget)
    live = _live_export(otlp, otlp_endpoint, include_content)

    def start(store: Any, progress: Any) -> Any:
        return api.aresume(
            record.run_id, store=store, plugins=pm, file=file, allow_changed=allow_changed,
            settings=settings, observers=[progress], wait=wait, emulate=emulate,
            provider_settings=overrides, profile=profile, config=config_file, model_classes=class_files,
        )  # fmt: skip

    overrides = _provider_sets(sets, events[0].data.get("provider_override") if events else None)
    steps = list(events[0].data.get("steps", [])) if events else []
    _drive(
        start, steps, record.run_id, db=db, as_json=as_json, quiet=quiet, trace=traced,
        content=include_content, live=live, resumed=True,
    )  # fmt: skip


def _decision_command(decision: str) -> Callable[..., None]:
    verb = "approve" if decision == "approved" else "reject"

    @click.argument("run_id", metavar="RUN")
    @click.argument("step")
    @click.option("--comment", help="Why; later steps can read it.")
    @click.option("--by", help="Who decides (default: $USER).")
    @click.option("--field", "pairs", multiple=True, metavar="NAME=VALUE", help="A field the step asks for.")
    @click.option("--resume", "then_resume", is_flag=True, help="Resume the run right away.")
    @db_option
    @_guard
    def command(
        run_id: str,
        step: str,
        comment: str | None,
        by: str | None,
        pairs: tuple[str, ...],
        then_resume: bool,
        db: str | None,
    ) -> None:
        import getpass

        from podium import api

        who = by or getpass.getuser()
        store = _open_store(db)
        try:
            record = store.get_run(run_id)
            outcome = api.decide(
                record.run_id,
                step,
                decision,
                by=who,
                comment=comment,
                fields=parse_pairs(pairs, "--field", "reason='looks good'"),
                store=store,
                plugins=_plugins(),
            )
        finally:
            store.close()
        if outcome == "sent":
            click.echo(f"{decision}: step {step} of run {record.run_id} (sent to the process driving it)")
            return
        click.echo(f"{decision}: step {step} of run {record.run_id} by {who}")
        if then_resume:
            ctx = click.get_current_context()
            ctx.invoke(resume, run_id=record.run_id, db=db)
        else:
            click.echo(f"continue with: podium resume {record.run_id}")

    command.__doc__ = f"{verb.capitalize()} a waiting approval step (RUN may be 'latest')."
    return command


cli.command("approve")(_decision_command("approved"))
cli.command("reject")(_decision_command("rejected"))


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--by", help="Who cancels (default: $USER).")
@db_option
@_guard
def cancel(run_id: str, by: str | None, db: str | None) -> None:
    """Cancel a run; a process driving it stops at its next heartbeat."""
    import getpass

    from podium import api

    store = _open_store(db)
    try:
        record = store.get_run(run_id)
        outcome = api.cancel(record.run_id, by=by or getpass.getuser(), store=store, plugins=_plugins())
        ended = outcome == record.status  # it had already ended, cancelled or otherwise
    finally:
        store.close()
    if ended:
        verb = "was already cancelled" if outcome == "cancelled" else f"has already {outcome}"
        click.echo(f"run {record.run_id} {verb}; nothing to cancel")
    elif outcome == "requested":
        click.echo(f"cancel requested: the process driving run {record.run_id} stops within seconds")
    else:
        click.echo(f"cancelled: run {record.run_id}")


def _provider_sets(pairs: tuple[str, ...], provider: str | None) -> dict[str, dict[str, str]]:
    """`--set bedrock.region=eu-west-1` (or `--set region=…` with `--provider`) by provider."""
    from podium.core.errors import InputError

    out: dict[str, dict[str, str]] = {}
    for key, value in parse_pairs(pairs, "--set", "bedrock.region=eu-west-1").items():
        name, dot, setting = key.partition(".")
        if not dot:
            if provider is None:
                raise InputError(
                    f"--set {key}=…: which provider's setting?", fix=f"write it as --set bedrock.{key}=…"
                )
            name, setting = provider, key
        out.setdefault(name, {})[setting] = value
    return out


def _settings(budget: str | None, configured: Any = None) -> Any:
    """The run's settings from its flags, parsed once (a bad --budget is bad input, exit 2), with the
    name of the profile it runs under (never the profile's values)."""
    from podium.core.calls import RunSettings

    given: dict[str, Any] = {"budget": budget} if budget is not None else {}
    if configured is not None and configured.profile is not None:
        given.update(profile=configured.profile, config=str(configured.config_file))
    return RunSettings.parse(given, where="--budget")


def _configured(
    file: str, profile: str | None, config_file: str | None, provider: str | None, sets: tuple[str, ...]
) -> Any:
    """The workflow under its profile, the environment and the flags (`api.configure`); its warnings
    said on stderr."""
    from podium import api

    pm = _plugins()
    configured = api.configure(
        api.load(file, plugins=pm), profile=profile, config=config_file, provider=provider,
        provider_settings=_provider_sets(sets, provider), plugins=pm,
    )  # fmt: skip
    for warning in configured.warnings:
        click.echo(f"warning: {warning}", err=True)
    return configured


# --- validate -------------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--provider", help="Check every agent as bound to this provider (as run --provider binds it).")
@profile_options
@classes_option
@json_option
@_guard
def validate(
    file: str,
    provider: str | None,
    profile: str | None,
    config_file: str | None,
    class_files: tuple[str, ...],
    as_json: bool,
) -> None:
    """Check a workflow file (schema, graph, templates, providers) and its podium.toml profile, if
    any, without running anything.

    Also checks that every agent's model and binding resolves on each provider its steps use (or on
    --provider): a model class with no model there, or an agent with nothing to run on, is a problem.
    """
    from podium import api
    from podium.core.errors import WorkflowError
    from podium.core.graph import Graph

    try:
        configured = _configured(file, profile, config_file, provider, ())
        wf = configured.workflow
        resolved = api.validate(
            wf, provider=configured.provider, plugins=_plugins(), model_classes=class_files
        )
    except WorkflowError as exc:
        if "configured" in locals():  # the profile's values are named where they were set
            exc = configured.with_sources(exc)
        if as_json:
            _echo_json(
                {
                    "valid": False,
                    "problems": [
                        {
                            "file": p.file, "line": p.line, "column": p.column,
                            "field": p.field, "message": p.message, "fix": p.fix,
                        }
                        for p in exc.problems
                    ],
                }
            )  # fmt: skip
            sys.exit(2)
        _fail(exc)
    from podium.cli_view import plural

    graph = Graph.of(wf.graph_steps)
    levels = graph.levels()
    providers = list(dict.fromkeys(r.provider for r in resolved))
    if as_json:
        _echo_json(
            {"valid": True, "workflow": wf.name, "steps": graph.order(), "levels": levels,
             "handlers": sorted(wf.handlers), "profile": configured.profile,
             "warnings": configured.warnings, "providers": providers,
             "bindings": [r.row() for r in resolved], "problems": []}
        )  # fmt: skip
        return
    # steps that run side by side share brackets: [facts, angles] → [score] → [draft]
    drawn = " → ".join(f"[{', '.join(level)}]" for level in levels)
    handlers = f"; on failure: {', '.join(sorted(wf.handlers))}" if wf.handlers else ""
    under = f" (profile {configured.profile})" if configured.profile else ""
    click.echo(
        f"ok: {file}{under} — workflow '{wf.name}', {plural(len(wf.steps), 'step')}: {drawn}{handlers}"
    )
    for r in resolved:
        what = f"{r.kind} {r.id}" if r.id else r.kind
        via = "" if r.via in (r.kind, "function") else f" ({r.via})"
        click.echo(f"  {r.agent} on {r.provider}: {what}{via}")


# --- runs / show ----------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--limit", default=20, show_default=True, help="Most runs to list.")
@click.option("--status", help="Only runs with this status (running, failed, waiting, …).")
@click.option("--waiting", is_flag=True, help="Only runs waiting for a person, with what they ask.")
@db_option
@json_option
@click.pass_context
@_guard
def runs(
    ctx: click.Context, limit: int, status: str | None, waiting: bool, db: str | None, as_json: bool
) -> None:
    """List recent runs, newest first, with their size in the store."""
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import replace

    from podium import api
    from podium.cli_view import print_runs, print_waiting
    from podium.core.errors import InputError
    from podium.core.events import RunStatus

    if status is not None and status not in set(RunStatus):
        raise InputError(
            f"--status {status}: not a run status", fix=f"use one of: {', '.join(RunStatus)}"
        )  # once: "no runs yet"
    store = _open_store(db)
    try:
        wanted = "waiting" if waiting else status
        stored = "running" if wanted == "interrupted" else wanted  # interrupted: seen, not recorded
        records = [replace(r, status=api.status_of(r, store)) for r in store.runs(limit=limit, status=stored)]
        if wanted is not None:  # as seen: a killed run is interrupted, not running
            records = [r for r in records if r.status == wanted]
        asks = {r.run_id: api.waiting(r.run_id, store=store) for r in records if r.status == "waiting"}
    finally:
        store.close()
    if as_json:
        _echo_json(
            [
                {
                    "run_id": r.run_id, "workflow": r.workflow, "status": r.status,
                    "started_at": r.started_at.isoformat(),
                    "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                    "file": r.file, "size_bytes": r.size_bytes, "events": r.events,
                    **({"waiting": asks[r.run_id]} if r.run_id in asks else {}),
                }
                for r in records
            ]
        )  # fmt: skip
        return
    if waiting:
        print_waiting(records, asks)
    else:
        print_runs(records, status=wanted)


@runs.command("delete")
@click.argument("run_ids", metavar="RUN...", nargs=-1, required=True)
@db_option
@_guard
def runs_delete(run_ids: tuple[str, ...], db: str | None) -> None:
    """Erase runs and everything derived from them (events, index, inbox, cost rows)."""
    from podium import api

    for record in api.delete_runs(run_ids, store=db):
        click.echo(f"deleted: run {record.run_id} ({record.events} events, {record.size_bytes:,} bytes)")


@cli.command()
@click.option("--older-than", "older_than", required=True, metavar="AGE", help="e.g. 30d, 12h, 2w.")
@click.option("--keep-failed", is_flag=True, help="Keep failed and stopped runs (to inspect or resume).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@db_option
@_guard
def gc(older_than: str, keep_failed: bool, dry_run: bool, db: str | None) -> None:
    """Delete runs not updated for AGE (never one a live process drives), then compact the store."""
    from podium import api
    from podium.core.errors import InputError
    from podium.core.spec import MAX_SECONDS, parse_duration

    seconds = parse_duration(older_than)
    if not isinstance(seconds, float):
        raise InputError(f"--older-than {older_than}: not an age", fix="write e.g. 30d, 12h or 2w")
    if seconds > MAX_SECONDS:
        raise InputError(f"--older-than {older_than}: longer than 100 years", fix="write e.g. 3650d")
    doomed = api.gc(seconds, keep_failed=keep_failed, dry_run=dry_run, store=db)
    freed = sum(r.size_bytes for r in doomed)
    if dry_run:
        for record in doomed:
            click.echo(f"would delete: run {record.run_id} ({record.status}, {record.updated_at:%Y-%m-%d})")
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {len(doomed)} run{'s' if len(doomed) != 1 else ''} ({freed:,} bytes of events)")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--events", "with_events", is_flag=True, help="Also print the event log.")
@click.option("--step", "step", metavar="STEP", help="One step in full: prompts, replies, output, errors.")
@db_option
@json_option
@_guard
def show(run_id: str, with_events: bool, step: str | None, db: str | None, as_json: bool) -> None:
    """Show a run: each step's status, output, error, attempts and timing (RUN may be 'latest')."""
    from podium import api
    from podium.cli_view import print_events, print_run, print_step
    from podium.core.errors import BadInput
    from podium.core.loader import suggest
    from podium.core.replay import fold

    store = _open_store(db)
    try:
        record = store.get_run(run_id)
        events = _redacted(store.events(record.run_id))
        result: Run = api.observed(fold(events), store)
        wanted = not (step is not None and as_json)  # one step's JSON has no plugin pieces
        parts = _summaries(result, store) if wanted else []
    finally:
        store.close()
    if step is not None and step not in result.steps:
        raise BadInput(
            f"run {result.run_id} has no step '{step}'{suggest(step, result.steps)}",
            fix=f"steps: {', '.join(result.steps)}",
        )
    if step is not None and not as_json:
        print_step(result, events, step, parts)
        return
    if as_json and step is not None:
        data = result.steps[step].model_dump(mode="json")
        data["events"] = [e.to_dict() for e in events if e.step == step]
        _echo_json(data)
        return
    if as_json:
        data = _with_summaries(result.to_json(), parts)
        if with_events:
            data["events"] = [e.to_dict() for e in events]
        _echo_json(data)
        return
    order = events[0].data.get("steps") if events else None
    print_run(result, order, summaries=parts, debug=_debug())
    if with_events:
        print_events(events)


def _redacted(events: list[Any]) -> list[Any]:
    """Events as `show` prints them: error fields redacted (a database written before podium
    redacted them may still hold a URL's password or an echoed key)."""
    from dataclasses import replace

    from podium.core.redact import redact_error_fields

    return [e if (d := redact_error_fields(e.data)) is e.data else replace(e, data=d) for e in events]


# --- providers ------------------------------------------------------------------------------


@cli.command()
@json_option
def providers(as_json: bool) -> None:
    """List installed providers and the plugins they come from."""
    pm = _plugins()
    registry = pm.providers
    rows = [
        {
            "name": name,
            "plugin": registry.origin(name),
            "description": registry.get(name).description,
        }
        for name in registry.names()
    ]
    failed = pm.report.failed
    if as_json:
        _echo_json({"providers": rows, "failed_plugins": failed})
        return
    from podium.cli_view import print_providers

    print_providers(rows, failed)


from podium.cli_authoring import completes as _completes  # noqa: E402
from podium.cli_authoring import register as _register_authoring_commands  # noqa: E402
from podium.cli_cloud import register as _register_cloud_commands  # noqa: E402
from podium.cli_config import register as _register_config_commands  # noqa: E402

_register_cloud_commands(cli, _plugins)
_register_config_commands(cli, _configured)
_register_authoring_commands(cli, _plugins)


def _register_plugin_commands() -> None:
    try:
        _plugins().hook.podium_register_commands(cli=cli)
    except Exception as exc:  # a broken plugin must not take the CLI down
        click.echo(f"warning: a plugin failed to add commands: {exc}", err=True)


def main() -> None:
    """Console-script entry point."""
    _register_plugin_commands()
    _completes(cli)
    cli(prog_name="podium")


if __name__ == "__main__":
    main()
