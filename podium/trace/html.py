"""The HTML report: a run's spans as one self-contained page (timeline, calls, totals, failures).

`render_html` is a pure function from spans to a document that needs no network when it is viewed:
its CSS and script are inline, pinned by hash in a Content-Security-Policy that allows nothing else,
and the spans ride along as JSON in a ``<script type="application/json">`` element that the page's
own script reads. What agents said is data: it is escaped so that it can never close that element,
and the page puts it on screen as text only. The caller has already redacted the spans and left out
content unless asked for it; this module shows what it is given.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from podium.trace.spans import Span

if TYPE_CHECKING:
    from podium.core.spec import Workflow

# attributes every call repeats from its run: the run's header already says them once
_REPEATED = frozenset({"podium.run_id", "podium.workflow"})
# characters that could end the JSON's <script> element or open an HTML construct inside it; the
# line separators are legal in JSON but not in older JavaScript string literals
_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def render_html(spans: Sequence[Span], *, title: str | None = None, workflow: Workflow | None = None) -> str:
    """One HTML document showing a run's trace: its totals, failures and a timeline of its steps.

    The timeline has a row per step (bars placed by time, so parallel steps overlap side by side),
    expandable to a foreach step's items, attempts, calls, and each call's inner steps and tool
    calls; clicking a row shows its details, with prompt and reply when the spans carry them. Rows
    are drawn only while in view, so a run of 10,000 steps stays quick to open. With the run's
    `workflow`, the page also shows its step graph (`podium graph`'s picture), coloured by status.
    """
    run = next((s for s in spans if s.kind == "run"), None)
    origin = min((s.start_time for s in spans), default=None)
    data = _page_data(spans, run, origin)
    header = _header(spans, run, origin)
    template = _environment().get_template("report.html.j2")
    css, script = _asset("report.css"), _asset("report.js")
    return template.render(
        title=title or f"podium trace — {header['workflow']}",
        header=header,
        css=Markup(css),
        script=Markup(script),
        data=Markup(_script_json(data)),
        graph=Markup(_graph(workflow, spans))
        if workflow and len(workflow.steps) <= MOST_STEPS_DRAWN
        else None,
        csp=f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(script)}'; img-src data:",
    )


# a bigger graph is no picture a person reads in a page (`podium graph` still draws it)
MOST_STEPS_DRAWN = 200


def _graph(workflow: Workflow, spans: Sequence[Span]) -> str:
    """The step graph as inline SVG (every label escaped), each step coloured by its span's status."""
    from podium.picture import as_svg, picture_of

    status: dict[str, str] = {}
    for span in spans:
        if span.kind == "step" and (sid := span.attributes.get("podium.step")):
            label = span.attributes.get("podium.status")
            status[str(sid)] = str(label) if label else ("running" if span.end_time is None else "")
    if any(s.kind == "run" and s.attributes.get("podium.status") == "cancelled" for s in spans):
        # a cancelled run's steps that never started are cancelled too, as `podium show` says
        status = {sid: status.get(sid) or "cancelled" for sid in workflow.steps}
    return as_svg(picture_of(workflow, status={k: v for k, v in status.items() if v}))


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("podium.trace", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@cache
def _asset(name: str) -> str:
    return resources.files("podium.trace").joinpath(name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _script_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return "".join(_UNSAFE.get(c, c) for c in text) if any(c in text for c in _UNSAFE) else text


def _ms(at: datetime | None, origin: datetime | None) -> float | None:
    if at is None or origin is None:
        return None
    return round((at - origin).total_seconds() * 1000, 3)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _rollups(spans: Sequence[Span], parents: list[int]) -> list[dict[str, Any]]:
    """Each span's calls, failed calls, tokens and cost, summed over the calls under it."""
    ups: list[dict[str, Any]] = [
        {"calls": 0, "failed": 0, "in": 0, "out": 0, "cost": Decimal(0), "priced": False, "unpriced": 0}
        for _ in spans
    ]
    for i, span in enumerate(spans):
        if span.kind != "call":
            continue
        a = span.attributes
        cost = _decimal(a.get("podium.cost_usd"))
        own = {
            # as the run's totals count them: calls answered, and calls failed, apart
            "calls": 0 if span.status == "error" else 1,
            "failed": 1 if span.status == "error" else 0,
            "in": _int(a.get("gen_ai.usage.input_tokens")),
            "out": _int(a.get("gen_ai.usage.output_tokens")),
            "cost": cost or Decimal(0),
            "priced": cost is not None,
            "unpriced": 1 if a.get("podium.unpriced") else 0,
        }
        j, seen = i, 0
        # a call adds to itself and each ancestor; `seen` guards against a malformed cycle
        while j >= 0 and seen <= len(spans):
            up = ups[j]
            for name in ("calls", "failed", "in", "out", "unpriced"):
                up[name] += own[name]
            up["cost"] += own["cost"]
            up["priced"] = up["priced"] or own["priced"]
            j, seen = parents[j], seen + 1
    return [
        {
            "calls": u["calls"],
            "failed": u["failed"],
            "in": u["in"],
            "out": u["out"],
            "cost": str(u["cost"]) if u["priced"] else None,
            "unpriced": u["unpriced"],
        }
        for u in ups
    ]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _page_data(spans: Sequence[Span], run: Span | None, origin: datetime | None) -> dict[str, Any]:
    index = {s.span_id: i for i, s in enumerate(spans)}
    parents = [index.get(s.parent_span_id or "", -1) for s in spans]
    parents = [p if p != i else -1 for i, p in enumerate(parents)]
    ups = _rollups(spans, parents)
    ends = [s.end_time or s.start_time for s in spans]
    end = run.end_time if run is not None and run.end_time is not None else max(ends, default=origin)
    rows = []
    for i, s in enumerate(spans):
        attrs = (
            s.attributes if s.kind == "run" else {k: v for k, v in s.attributes.items() if k not in _REPEATED}
        )
        rows.append(
            {
                "p": parents[i],
                "n": s.name,
                "k": s.kind,
                "s": _ms(s.start_time, origin),
                "e": _ms(s.end_time, origin),
                "st": s.status,
                "m": s.status_message,
                "a": attrs,
                "ev": [{"n": ev.name, "t": _ms(ev.time, origin), "a": ev.attributes} for ev in s.events],
                "r": ups[i],
            }
        )
    return {
        "origin": origin.isoformat() if origin else None,
        "end": _ms(end, origin) or 0,
        "run": index.get(run.span_id, -1) if run is not None else -1,
        "spans": rows,
    }


def _header(spans: Sequence[Span], run: Span | None, origin: datetime | None) -> dict[str, Any]:
    """The run's facts for the page's header, rendered on the server so they read without script."""
    a: Mapping[str, Any] = run.attributes if run is not None else {}
    calls = [s for s in spans if s.kind == "call"]
    if "podium.cost_usd" in a:
        cost = _decimal(a.get("podium.cost_usd"))
        cost_text = None if cost is None else str(a["podium.cost_usd"])
        unpriced = _int(a.get("podium.unpriced_calls"))
    else:
        # a run still going has no totals yet: sum what its calls have so far
        costs = [c for c in (_decimal(s.attributes.get("podium.cost_usd")) for s in calls) if c is not None]
        cost_text = str(sum(costs, Decimal(0))) if costs else None
        unpriced = sum(1 for s in calls if s.attributes.get("podium.unpriced"))
    finished = [s for s in calls if s.status != "error"]
    end = run.end_time if run is not None else None
    last = max((s.end_time or s.start_time for s in spans), default=None)
    steps = [s for s in spans if s.kind == "step"]
    open_run = run is None or run.end_time is None
    failed = run is not None and run.status == "error"
    return {
        "workflow": a.get("gen_ai.workflow.name") or a.get("podium.workflow") or "?",
        "run_id": a.get("podium.run_id") or (run.trace_id if run is not None else "?"),
        "status": a.get("podium.status") or ("running" if open_run or run is None else run.status),
        "error": failed,
        "message": run.status_message if failed and run is not None else None,
        "failed_step": a.get("podium.failed_step"),
        "started": origin.isoformat(timespec="seconds") if origin else "?",
        "duration": _duration((end or last) - origin if origin and (end or last) else None),
        "running": open_run,
        "tokens_in": _total(a, calls, "gen_ai.usage.input_tokens"),
        "tokens_out": _total(a, calls, "gen_ai.usage.output_tokens"),
        "calls": a.get("podium.calls", len(finished)),
        "failed_calls": a.get("podium.failed_calls", len(calls) - len(finished)),
        "cost": cost_text,
        "unpriced": unpriced,
        "steps": len(steps),
        "failed_steps": sum(1 for s in steps if s.status == "error"),
        "parallel": _most_at_once(steps, last),
    }


def _total(run: Mapping[str, Any], calls: Sequence[Span], name: str) -> int:
    """The run's total of a count, or (while it runs, before it has totals) the sum over its calls."""
    value = run.get(name)
    return value if isinstance(value, int) else sum(_int(s.attributes.get(name)) for s in calls)


def _duration(took: timedelta | None) -> str:
    if took is None:
        return "?"
    seconds = took.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h {int(minutes)}m {seconds:.0f}s" if hours else f"{int(minutes)}m {seconds:.0f}s"


def _most_at_once(steps: Sequence[Span], last: datetime | None) -> int:
    """The most steps running at one moment: how wide the run's parallel branches got."""
    marks: list[tuple[datetime, int]] = []
    for s in steps:
        end = s.end_time or last or s.start_time
        if end > s.start_time:
            marks += [(s.start_time, 1), (end, -1)]
    most = now = 0
    # an end sorts before a start at the same moment: a step that follows another is not beside it
    for _, change in sorted(marks, key=lambda m: (m[0], m[1])):
        now += change
        most = max(most, now)
    return most
