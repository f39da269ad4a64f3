"""The cost plugin's commands: `podium cost` (spend from the ledger) and `podium prices` (the catalog)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160
    return console


def add_commands(cli: Any) -> None:
    """Add `podium cost` and `podium prices` to the `podium` click group."""
    import click

    from podium.plugins.commands import echo_json, guard

    fmt_option = click.option(
        "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
    )
    prices_option = click.option(
        "--prices",
        "price_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="A price file (YAML) whose entries override or add to the catalog; repeatable.",
    )

    @cli.command("cost")
    @click.argument("run_ids", metavar="[RUN]...", nargs=-1)
    @click.option("-w", "--workflow", help="Only this workflow's runs.")
    @click.option("--since", help="Only calls since: 7d, 24h, 2w, or a date (2026-11-01).")
    @click.option(
        "--by", help="Group by some of workflow,run,provider,model,agent,step,day; or 'call' for every call."
    )
    @fmt_option
    @click.option(
        "--as-provider",
        "as_providers",
        multiple=True,
        metavar="PROVIDER[,PROVIDER...]",
        help="Also price the same usage on these providers' equivalent models (bedrock,vertex,azure);"
        " a column each; repeatable.",
    )
    @click.option(
        "--model-classes", "class_files", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
        help="A model-class file laid over podium's table, as `podium run` takes it: --as-provider prices"
        " a class's model as that class's model on the other provider; repeatable.",
    )  # fmt: skip
    @prices_option
    @click.option("--db", type=click.Path(dir_okay=False), help="Run database (default: $PODIUM_DB).")
    @click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
    @guard
    def cost(
        run_ids: tuple[str, ...],
        workflow: str | None,
        since: str | None,
        by: str | None,
        fmt: str,
        as_providers: tuple[str, ...],
        class_files: tuple[str, ...],
        price_files: tuple[str, ...],
        db: str | None,
        as_json: bool,
    ) -> None:
        """Spend per workflow, run, provider, model, agent, step or day (RUN: runs by id, unique
        prefix or 'latest'; several side by side, grouped by run)."""
        from podium.core.store import RunRecord, open_store
        from podium.cost.catalog import default_config, load_catalog
        from podium.cost.ledger import LedgerRow, ledger_rows
        from podium.cost.report import (
            build_report,
            check_as_providers,
            parse_as_providers,
            parse_by,
            parse_since,
            render_table,
            to_csv,
            to_json,
        )

        dims = parse_by(by, "workflow")  # and a bad --by fails before anything is read
        start = parse_since(since)
        catalog = load_catalog(price_files, config=default_config())
        targets = parse_as_providers(as_providers)
        check_as_providers(catalog, targets)  # a mistyped name fails before the ledger is synced
        classes = None
        if targets:
            from podium.cost.model_classes import process_model_classes

            # the same table `podium run` resolves classes with: podium's, $PODIUM_MODEL_CLASSES, then ours
            classes = process_model_classes(class_files)
        store = open_store(db)
        try:
            if run_ids:
                records: dict[str, RunRecord] = {}
                for run_id in run_ids:
                    record = store.get_run(run_id)
                    records.setdefault(record.run_id, record)  # `latest` and its id are one run
                rows: list[LedgerRow] = []
                for record in records.values():
                    rows += ledger_rows(store, catalog, run_id=record.run_id, since=start)
                # one run: its steps; several: side by side, a line each
                dims = parse_by(by, "step" if len(records) == 1 else "run")
                named = ", ".join(f"{r.run_id} ({r.workflow})" for r in records.values())
                title = f"cost of run{'s' if len(records) > 1 else ''} {named}"
            else:
                rows = ledger_rows(store, catalog, workflow=workflow, since=start)
                title = "cost by " + ", ".join(dims) + (f" of {workflow}" if workflow else "")
        finally:
            store.close()
        if start is not None:
            title += f" since {start:%Y-%m-%d %H:%M} UTC"
        report = build_report(rows, dims, catalog=catalog, as_provider=targets, classes=classes, title=title)
        fmt = "json" if as_json else fmt
        if fmt == "json":
            echo_json(to_json(report))
        elif fmt == "csv":
            click.echo(to_csv(report), nl=False)
        else:
            _console().print(render_table(report))

    @cli.command("prices")
    @click.option("--provider", help="A podium provider (bedrock, vertex, azure, local) or a catalog id.")
    @click.option("--model", help="A model id (or part of one); shows its price history too.")
    @click.option("--at", "at_text", help="Prices in effect on this date (default: today).")
    @prices_option
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
    @guard
    def prices(
        provider: str | None,
        model: str | None,
        at_text: str | None,
        price_files: tuple[str, ...],
        fmt: str,
        as_json: bool,
    ) -> None:
        """List the prices that apply, and where each came from (genai-prices, podium, your files)."""
        from podium.cost.catalog import default_config, load_catalog
        from podium.cost.report import parse_since

        catalog = load_catalog(price_files, config=default_config())
        at = parse_since(at_text, option="--at")
        listing = catalog.listing(provider, model, at)
        if provider is None and model is None:
            listing = [entry for entry in listing if not entry.origin.startswith("genai-prices")]
        resolved = None
        if provider is not None and model is not None:
            from datetime import UTC, datetime

            resolved = catalog.rate(provider, model, at or datetime.now(UTC))
        if as_json or fmt == "json":
            data: dict[str, Any] = {"prices": [entry.to_json() for entry in listing]}
            if resolved is not None:
                data["applies"] = _quote_json(resolved)
            echo_json(data)
            return
        _console().print(_prices_table(listing, provider, model, resolved))


def _quote_json(quote: Any) -> dict[str, Any]:
    from podium.cost.catalog import Rate

    if not isinstance(quote, Rate):
        return {"provider": quote.provider, "model": quote.model, "priced": False, "reason": quote.reason}
    return {
        "provider": quote.provider,
        "model": quote.model,
        "priced": True,
        "catalog_provider": quote.catalog_provider,
        "catalog_model": quote.catalog_model,
        "input_mtok": _s(quote.input_mtok),
        "output_mtok": _s(quote.output_mtok),
        "cache_read_mtok": _s(quote.cache_read_mtok),
        "cache_write_mtok": _s(quote.cache_write_mtok),
        "request_usd": str(quote.request_usd),
        "session_usd": str(quote.session_usd),
        "effective_from": quote.effective_from.isoformat() if quote.effective_from else None,
        "tiered": quote.tiered,
        "origin": quote.origin,
        "source": quote.source,
    }


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _prices_table(listing: list[Any], provider: str | None, model: str | None, resolved: Any) -> Any:
    from rich.console import Group
    from rich.text import Text

    from podium.cost.catalog import Rate, money
    from podium.plugins.commands import FittedTable

    parts: list[Any] = []
    if resolved is not None:
        if isinstance(resolved, Rate):
            parts.append(
                Text(
                    f"{provider} {model} is priced as {resolved.catalog_provider} {resolved.catalog_model}:"
                    f" {resolved.describe()}\n  from {resolved.origin} ({resolved.source})",
                    style="bold",
                )
            )
        elif listing:  # a search that found prices: say which to use, not "unpriced"
            parts.append(
                Text(
                    f"'{model}' is not itself a {provider} model id; {len(listing)} price"
                    f"{'s' if len(listing) != 1 else ''} below match it: use one of their ids",
                    style="dim",
                )
            )
        else:
            parts.append(Text(f"{provider} {model}: unpriced — {resolved.reason}", style="yellow"))
    columns = [
        ("provider", "left"), ("model", "left"), ("in", "right"), ("out", "right"),
        ("cached", "right"), ("cache write", "right"), ("fee", "right"), ("from", "left"),
        ("to", "left"), ("origin", "left"), ("note / source", "left"),
    ]  # fmt: skip
    rows = []
    for entry in listing:
        fee = ""
        if entry.request_usd is not None:
            fee = f"{money(entry.request_usd)}/request"
        elif entry.session_usd is not None:
            fee = f"{money(entry.session_usd)}/session"
        rows.append(
            [
                entry.provider, entry.model,
                money(entry.input_mtok) if entry.input_mtok is not None else "",
                money(entry.output_mtok) if entry.output_mtok is not None else "",
                money(entry.cache_read_mtok) if entry.cache_read_mtok is not None else "",
                money(entry.cache_write_mtok) if entry.cache_write_mtok is not None else "",
                fee,
                entry.effective_from.isoformat() if entry.effective_from else "",
                entry.effective_to.isoformat() if entry.effective_to else "",
                entry.origin,
                " — ".join(x for x in (entry.note, entry.source) if x),
            ]
        )  # fmt: skip
    # one line a price: the note gives way (the whole text is in --json), the numbers never do
    table = FittedTable(
        columns, rows, flex="note / source", most=80,
        optional=("to", "origin", "cache write", "from", "provider", "cached", "fee"),
        title=f"prices{f' for {provider}' if provider else ''}", title_justify="left",
    )  # fmt: skip
    parts.append(table)
    parts.append(Text("token prices are US dollars per million tokens", style="dim"))
    if provider is None and model is None:
        parts.append(
            Text(
                "these are podium's and your own entries; genai-prices' thousands more are listed with"
                " --provider (bedrock, vertex, azure, openai, …) or --model",
                style="dim",
            )
        )
    if provider == "local":
        parts.append(
            Text(
                "local has no prices of its own: a local model is priced as its native provider"
                " (gpt-… → openai, claude-… → anthropic, gemini-… → google), else as Bedrock, Vertex or"
                " Azure; map logical names (fast, smart) to real ids under providers.local.models",
                style="dim",
            )
        )
    return Group(*parts)
