"""`podium trace RUN`: a run's trace as JSONL, an HTML report, or spans sent to an OTLP collector."""

from __future__ import annotations

import sys
from typing import Any


def add_commands(cli: Any) -> None:
    """Add `podium trace` to the `podium` click group."""
    import click

    from podium.plugins.commands import guard, parse_pairs

    @cli.command("trace")
    @click.argument("run_id", metavar="RUN")
    @click.option(
        "--format", "fmt", default=None, metavar="jsonl|otlp|html",
        help="jsonl (one span a line), html (a report), otlp (to a collector); default: from -o, else jsonl.",
    )  # fmt: skip
    @click.option(
        "-o", "--output", type=click.Path(), default=None, help="Write to this file (default: stdout)."
    )
    @click.option("--include-content", is_flag=True, help="Include prompts, replies and outputs.")
    @click.option(
        "--endpoint", default=None, help="OTLP/HTTP collector (default: $OTEL_EXPORTER_OTLP_ENDPOINT)."
    )
    @click.option(
        "--header", "headers", multiple=True, metavar="NAME=VALUE", help="An OTLP header; repeatable."
    )
    @click.option("--db", type=click.Path(dir_okay=False), help="Run database (default: $PODIUM_DB).")
    @guard
    def trace(
        run_id: str,
        fmt: str | None,
        output: str | None,
        include_content: bool,
        endpoint: str | None,
        headers: tuple[str, ...],
        db: str | None,
    ) -> None:
        """Export a run's trace (RUN: an id, a prefix, or 'latest'); secrets are always redacted."""
        from podium.core.errors import BadInput
        from podium.core.store import open_store
        from podium.plugins.manager import load_plugins
        from podium.trace.export import FORMATS, format_of, render, run_spans, workflow_of, write_trace

        if fmt is not None and fmt not in FORMATS:
            raise BadInput(f"--format {fmt}: not a trace format", fix=f"use one of {', '.join(FORMATS)}")
        kind = fmt or (format_of(output) if output else "jsonl")
        if kind == "otlp" and output:
            raise BadInput("--format otlp sends spans to a collector; it writes no file", fix="drop -o")
        if kind != "otlp" and (endpoint or headers):
            raise BadInput("--endpoint and --header are for --format otlp", fix="add --format otlp")
        if output:
            format_of(output, kind)
        plugins = load_plugins()
        store = open_store(db)
        try:
            if kind == "otlp":
                from podium.trace.otlp import export

                spans = run_spans(store, run_id, plugins=plugins, content=include_content)
                sent = export(spans, endpoint=endpoint, headers=parse_pairs(headers, "--header", "x-key=v"))
                click.echo(
                    f"sent {sent} spans of run {spans[0].attributes.get('podium.run_id', run_id)}", err=True
                )
                return
            if output:
                path = write_trace(store, run_id, output, fmt=kind, plugins=plugins, content=include_content)
                click.echo(f"wrote {path}", err=True)
                return
            record = store.get_run(run_id)
            spans = run_spans(store, record.run_id, plugins=plugins, content=include_content)
            title = f"{record.workflow} · {record.run_id}"
            sys.stdout.write(render(spans, kind, title=title, workflow=workflow_of(record)))
        finally:
            store.close()
