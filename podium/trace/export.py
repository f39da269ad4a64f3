"""A stored run's trace, exported: its spans (priced, redacted) written as JSONL or HTML, or sent over
OTLP; and the record of where a run's trace file went, for `podium show`.

The library's way in is `run_spans` (the spans, ready to export) and `write_trace` (to a file, in
the format its extension or `fmt` says); `podium trace` and `podium run --trace` use both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from podium.core.errors import BadInput, ExportFailed
from podium.trace.redact import Redactor
from podium.trace.spans import PROVIDER_NAMES, Span, spans_of

if TYPE_CHECKING:
    from podium.core.events import Event
    from podium.core.spec import Workflow
    from podium.core.store import RunStore
    from podium.core.store.base import RunRecord
    from podium.plugins.manager import Plugins

Format = Literal["jsonl", "html", "otlp"]
FORMATS: tuple[str, ...] = ("jsonl", "html", "otlp")
FILE_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".html": "html", ".htm": "html"}
JSONL_SCHEMA = "podium.trace/1"


def span_attributes(plugins: Plugins | None) -> Callable[[Event], dict[str, Any]] | None:
    """What the plugins add to each event's span (`podium_span_attributes`), merged, as one callable."""
    if plugins is None:
        return None
    hook = plugins.hook.podium_span_attributes

    def attributes(event: Event) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for extra in reversed(hook(event=event)):  # the first-registered plugin has the last word
            if extra:
                merged.update(extra)
        return merged

    return attributes


def provider_names(plugins: Plugins | None) -> dict[str, str]:
    """``gen_ai.provider.name`` of each installed provider: a provider class's `gen_ai_provider_name`."""
    names = dict(PROVIDER_NAMES)
    if plugins is None:
        return names
    registry = plugins.providers
    for name in registry.names():
        declared = getattr(registry.get(name), "gen_ai_provider_name", None)
        if isinstance(declared, str) and declared:
            names[name] = declared
    return names


def redacted(spans: Iterable[Span], environ: Mapping[str, str] | None = None) -> list[Span]:
    """The spans with every secret redacted (credential shapes, secret-named fields, secret env values)."""
    redactor = Redactor.from_environment(environ)
    return [redactor.span(s) for s in spans]


def run_spans(
    store: RunStore,
    run_id: str,
    *,
    plugins: Plugins | None = None,
    content: bool = False,
    environ: Mapping[str, str] | None = None,
) -> list[Span]:
    """A stored run's spans, priced by the plugins and redacted, ready to export.

    `run_id` may be an id, a unique prefix or `latest` (an unknown one is a RunNotFound that lists
    the recent runs). Prompts, replies and outputs are included only with `content`.
    """
    record = store.get_run(run_id)
    spans = spans_of(
        store.events(record.run_id),
        content=content,
        attributes=span_attributes(plugins),
        provider_names=provider_names(plugins),
    )
    if record.status == "running":
        lease = store.lease(record.run_id)
        if not lease.driven:  # killed: its events say running, but nothing drives it
            # the run, and every step or call left open by the dead process: none of them runs
            spans = [
                _interrupted(s, record.run_id) if s.kind == "run" or s.end_time is None else s for s in spans
            ]
    return redacted(spans, environ)


def _interrupted(span: Span, run_id: str) -> Span:
    return span.model_copy(
        update={
            "attributes": {**span.attributes, "podium.status": "interrupted"},
            "status": "error",
            "status_message": f"interrupted: no process drives it (podium resume {run_id} goes on)",
        }
    )


# --- JSONL ---------------------------------------------------------------------------------------


def span_json(span: Span) -> dict[str, Any]:
    """One span as the JSONL line's object (the field names docs/trace.md documents)."""
    return {
        "schema": JSONL_SCHEMA,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start_time": span.start_time.astimezone(UTC).isoformat(),
        "end_time": None if span.end_time is None else span.end_time.astimezone(UTC).isoformat(),
        "duration_ms": None if span.duration_ms is None else round(span.duration_ms, 3),
        "status": span.status,
        "status_message": span.status_message,
        "attributes": span.attributes,
        "events": [
            {"name": e.name, "time": e.time.astimezone(UTC).isoformat(), "attributes": e.attributes}
            for e in span.events
        ],
    }


def write_jsonl(spans: Iterable[Span], out: IO[str]) -> int:
    """Write one span a line; returns how many."""
    count = 0
    for span in spans:
        out.write(json.dumps(span_json(span), ensure_ascii=False, default=str, separators=(",", ":")))
        out.write("\n")
        count += 1
    return count


# --- files ---------------------------------------------------------------------------------------


def format_of(path: str | Path, fmt: str | None = None) -> str:
    """The format to write `path` in: `fmt` if given, else by its extension (a clear error if neither)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise BadInput(f"--format {fmt}: not a trace format", fix=f"use one of {', '.join(FORMATS)}")
        if fmt == "otlp":
            raise BadInput("the otlp format is sent to a collector, not written to a file", fix="drop -o")
        return fmt
    suffix = Path(path).suffix.lower()
    found = FILE_FORMATS.get(suffix)
    if found is None:
        raise BadInput(
            f"{path}: cannot tell the trace format from the extension '{suffix or '(none)'}'",
            fix="name the file .jsonl or .html (podium trace also takes --format jsonl|html)",
        )
    return found


def check_output(path: str | Path) -> Path:
    """`path` if a trace can be written there: its folder exists and it is not a folder itself."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise BadInput(f"{path} is a folder", fix="give a file name, e.g. trace.html")
    if not target.parent.exists():
        raise BadInput(
            f"{path}: the folder {target.parent} does not exist",
            fix=f"create it first (mkdir -p {target.parent}), or write the trace elsewhere",
        )
    return target


def render(
    spans: Sequence[Span], fmt: str, *, title: str | None = None, workflow: Workflow | None = None
) -> str:
    """The spans as one document in `fmt` (jsonl or html; html draws `workflow`'s steps too)."""
    if fmt == "html":
        from podium.trace.html import render_html

        return render_html(spans, title=title, workflow=workflow)
    import io

    buffer = io.StringIO()
    write_jsonl(spans, buffer)
    return buffer.getvalue()


def workflow_of(record: RunRecord) -> Workflow | None:
    """The workflow a run ran, read from its file if that is still the file the run started with.

    For the step graph of a report; None when the file moved, changed or no longer reads. Only the
    file is read: no function module is imported, no provider is asked.
    """
    if not record.file:
        return None
    from podium.core.errors import PodiumError
    from podium.core.loader import parse

    path = Path(record.file)
    try:
        raw = path.read_bytes()
        if record.file_hash and hashlib.sha256(raw).hexdigest() != record.file_hash:
            return None
        return parse(raw.decode("utf-8"), file=str(path), base_dir=path.parent, check_functions=False)
    except (OSError, UnicodeDecodeError, PodiumError):
        return None


def write_trace(
    store: RunStore,
    run_id: str,
    path: str | Path,
    *,
    fmt: str | None = None,
    plugins: Plugins | None = None,
    content: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Write a stored run's trace to `path` (its format from `fmt` or the extension); remember it for
    `podium show`. The file appears whole or not at all."""
    kind = format_of(path, fmt)
    target = check_output(path)
    record = store.get_run(run_id)
    spans = run_spans(store, record.run_id, plugins=plugins, content=content, environ=environ)
    text = render(spans, kind, title=f"{record.workflow} · {record.run_id}", workflow=workflow_of(record))
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ExportFailed(
            f"cannot write {path}: {exc.strerror or exc}", fix="check the path and its permissions"
        ) from None
    remember(store, record.run_id, target.resolve(), kind)
    return target


# --- where a run's trace files went (for `podium show`) --------------------------------------------

_DDL = """CREATE TABLE IF NOT EXISTS trace_files (
    run_id TEXT NOT NULL, path TEXT NOT NULL, format TEXT NOT NULL, written_at TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
)"""


def remember(store: RunStore, run_id: str, path: Path, fmt: str) -> None:
    """Record that run `run_id`'s trace was written to `path` (derived data: `runs delete` drops it)."""
    with store.derived_tables() as db:
        db.execute(_DDL)
        db.execute(
            "INSERT INTO trace_files (run_id, path, format, written_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (run_id, path)"
            " DO UPDATE SET format=excluded.format, written_at=excluded.written_at",
            (run_id, str(path), fmt, datetime.now(UTC).isoformat()),
        )


def trace_files(store: RunStore, run_id: str) -> list[dict[str, str]]:
    """The trace files written for a run, oldest first: path, format, written_at."""
    with store.derived_tables() as db:
        db.execute(_DDL)
        rows = db.execute(
            "SELECT path, format, written_at FROM trace_files WHERE run_id=? ORDER BY written_at", (run_id,)
        ).fetchall()
    return [{"path": p, "format": f, "written_at": w} for p, f, w in rows]
