"""The command line, thin over the library. Exit codes: 0 done, 1 failed or stopped, 2 bad input."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from podium import __version__

if TYPE_CHECKING:
    import pluggy

    from podium.core.run import Run
    from podium.core.store import SQLiteStore


class _State:
    debug = False
    plugins: pluggy.PluginManager | None = None


def _plugins() -> pluggy.PluginManager:
    if _State.plugins is None:
        from podium.plugins.manager import build_plugin_manager

        _State.plugins = build_plugin_manager()
    return _State.plugins


def _fail(exc: BaseException) -> NoReturn:
    """Print a user-facing error (no traceback unless --debug) and exit with its code."""
    from podium.core.errors import PodiumError

    if _State.debug or not isinstance(exc, PodiumError):
        raise exc
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    from podium.core.errors import PodiumError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PodiumError as exc:
            _fail(exc)

    return wrapper


def _open_store(db: str | None) -> SQLiteStore:
    from podium.core.store import open_store

    return open_store(db)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Run database (default: $PODIUM_DB or ~/.podium/podium.db).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="podium")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """podium: run agent workflows on Bedrock, Vertex, Azure or locally, from one file."""
    _State.debug = debug


# --- run ------------------------------------------------------------------------------------


def _parse_inputs(pairs: tuple[str, ...], inputs_file: str | None) -> dict[str, Any]:
    from podium.core.errors import InputError

    values: dict[str, Any] = {}
    if inputs_file:
        try:
            loaded = json.loads(Path(inputs_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"--inputs {inputs_file}: cannot read a JSON object ({exc})",
                fix='give a JSON file such as {"topic": "tides"}',
            ) from None
        if not isinstance(loaded, dict):
            raise InputError(f"--inputs {inputs_file}: must hold a JSON object")
        values.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"-i {pair}: expected key=value", fix="write e.g. -i topic=tides")
        values[key.strip()] = value
    return values


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "pairs", multiple=True, metavar="KEY=VALUE", help="An input value.")
@click.option("--inputs", "inputs_file", type=click.Path(dir_okay=False), help="Inputs as JSON.")
@click.option("--provider", help="Run every agent on this provider (functions stay local).")
@click.option("--emulate", is_flag=True, help="Run each cloud the workflow uses on its local emulator.")
@click.option("--budget", type=str, default=None, metavar="USD", help="Most this run may spend.")
@db_option
@json_option
@click.option("-q", "--quiet", is_flag=True, help="No progress view.")
@_guard
def run(
    file: str,
    pairs: tuple[str, ...],
    inputs_file: str | None,
    provider: str | None,
    emulate: bool,
    budget: str | None,
    db: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run a workflow file and print its outputs (exit 1 if the run fails or stops)."""
    import asyncio
    import contextlib

    from podium import api
    from podium.cli_view import Progress, print_run
    from podium.core.executor import new_run_id
    from podium.core.loader import resolve_inputs

    pm = _plugins()
    wf = api.load(file, plugins=pm)
    inputs = resolve_inputs(wf, _parse_inputs(pairs, inputs_file))
    if provider is not None:
        from podium.plugins.manager import ProviderRegistry

        ProviderRegistry(pm).get(provider)
    settings = {"budget": _parse_budget(budget)} if budget is not None else {}
    store = _open_store(db)
    run_id = new_run_id()
    try:
        with contextlib.ExitStack() as stack:
            if emulate:
                from podium.emulate import emulated

                wf, names = stack.enter_context(emulated(wf, pm, provider=provider))
                if names and not as_json:
                    click.echo(f"emulating: {', '.join(names)} (on 127.0.0.1)", err=True)
            progress = stack.enter_context(Progress(wf, enabled=not (as_json or quiet)))
            result = asyncio.run(
                api.arun(
                    wf, inputs, provider=provider, store=store, plugins=pm,
                    run_id=run_id, settings=settings, observers=[progress],
                )
            )  # fmt: skip
    except KeyboardInterrupt:
        result = api.get_run(run_id, store=store)
        click.echo(f"cancelled: run {run_id} (inspect with: podium show {run_id})", err=True)
        if as_json:
            _echo_json(result.to_json())
        sys.exit(1)
    finally:
        store.close()
    if as_json:
        _echo_json(result.to_json())
    else:
        print_run(result, wf)
    sys.exit(0 if result.ok else 1)


def _parse_budget(text: str) -> Any:
    from decimal import Decimal, InvalidOperation

    from podium.core.errors import InputError

    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or value <= 0:
        raise InputError(
            f"--budget {text}: must be a positive amount of US dollars", fix="e.g. --budget 0.50"
        )
    return value


# --- validate -------------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
@_guard
def validate(file: str, as_json: bool) -> None:
    """Check a workflow file (schema, graph, templates, providers) without running anything."""
    from podium import api
    from podium.core.errors import WorkflowError
    from podium.core.graph import Graph

    try:
        wf = api.load(file, plugins=_plugins())
    except WorkflowError as exc:
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
    order = Graph.of(wf.steps).order()
    if as_json:
        _echo_json({"valid": True, "workflow": wf.name, "steps": order, "problems": []})
        return
    click.echo(f"ok: {file} — workflow '{wf.name}', {len(wf.steps)} steps ({' → '.join(order)})")


# --- runs / show ----------------------------------------------------------------------------


@cli.command()
@click.option("--limit", default=20, show_default=True, help="Most runs to list.")
@click.option("--status", help="Only runs with this status (running, failed, …).")
@db_option
@json_option
@_guard
def runs(limit: int, status: str | None, db: str | None, as_json: bool) -> None:
    """List recent runs, newest first."""
    from podium.cli_view import print_runs

    store = _open_store(db)
    try:
        records = store.runs(limit=limit, status=status)
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
                }
                for r in records
            ]
        )  # fmt: skip
        return
    print_runs(records)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--events", "with_events", is_flag=True, help="Also print the event log.")
@db_option
@json_option
@_guard
def show(run_id: str, with_events: bool, db: str | None, as_json: bool) -> None:
    """Show a run: each step's status, output, error, attempts and timing (RUN may be 'latest')."""
    from podium.cli_view import print_events, print_run
    from podium.core.run import fold

    store = _open_store(db)
    try:
        record = store.get_run(run_id)
        events = store.events(record.run_id)
    finally:
        store.close()
    result: Run = fold(events)
    if as_json:
        data = result.to_json()
        if with_events:
            data["events"] = [e.to_dict() for e in events]
        _echo_json(data)
        return
    print_run(result, None)
    if with_events:
        print_events(events)


# --- providers ------------------------------------------------------------------------------


@cli.command()
@json_option
def providers(as_json: bool) -> None:
    """List installed providers and the plugins they come from."""
    from podium.plugins.manager import ProviderRegistry

    pm = _plugins()
    registry = ProviderRegistry(pm)
    rows = [
        {
            "name": name,
            "plugin": registry.origin(name),
            "description": registry.get(name).description,
        }
        for name in registry.names()
    ]
    failed = pm.podium_load_report.failed  # type: ignore[attr-defined]
    if as_json:
        _echo_json({"providers": rows, "failed_plugins": failed})
        return
    from podium.cli_view import print_providers

    print_providers(rows, failed)


def _register_plugin_commands() -> None:
    try:
        _plugins().hook.podium_register_commands(cli=cli)
    except Exception as exc:  # a broken plugin must not take the CLI down
        click.echo(f"warning: a plugin failed to add commands: {exc}", err=True)


def main() -> None:
    """Console-script entry point."""
    _register_plugin_commands()
    cli(prog_name="podium")


if __name__ == "__main__":
    main()
