"""What the CLI shows people: the live progress of a run, and tables of runs, steps and events."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from podium.core.events import Event, EventType
from podium.core.run import Run, StepResult
from podium.core.store import RunRecord
from podium.plugins import hookimpl
from podium.plugins.commands import FittedTable

_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "skipped": "yellow",
    "running": "cyan",
    "waiting": "magenta",
    "pending": "dim",
    "cancelled": "red",
    "stopped": "magenta",
    "rejected": "red",
    "interrupted": "yellow",
}
_MARK = {
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "↷",
    "running": "…",
    "pending": "·",
    "waiting": "⏸",
    "stopped": "■",
    "rejected": "✗",
    "cancelled": "■",
    "interrupted": "■",
}


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 140  # pipes and CI logs: wide enough for a step table
    return console


def _stdout() -> Console:
    return _console()


def _stderr() -> Console:
    return _console(stderr=True)


def _preview(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def plural(count: int, word: str) -> str:
    """`1 call`, `2 calls`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


_SETTLING = {
    EventType.STEP_SUCCEEDED: "succeeded",
    EventType.STEP_FAILED: "failed",
    EventType.STEP_SKIPPED: "skipped",
    EventType.STEP_REJECTED: "rejected",
}


def _what_follows(data: dict[str, Any]) -> str:
    """What a failed call leads to, in words: only a retry that will happen is called one."""
    then = data.get("then")
    if then is None:  # an event from before podium said: judge by the delay alone
        then = "retry" if data.get("delay") is not None else ""
    if then == "retry":
        delay = data.get("delay")
        return f" (retrying in {delay:.1f}s)" if isinstance(delay, int | float) else " (retrying)"
    if then == "repair":
        return " (asking the agent to fix its reply)"
    if then.startswith("fallback:"):
        return f" (falling back to {then.partition(':')[2]})"
    if then == "fail":
        return " (no retries left)"
    if then == "cancel":
        return ""
    return ""


class LiveView:
    """A podium_event observer that shows each step's state as the run goes.

    On a terminal it is a live table on stderr; elsewhere, one line per step as it ends.
    """

    def __init__(self, steps: Iterable[str], *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console = _stderr()
        self.live_mode = enabled and self.console.is_terminal
        self.steps: dict[str, dict[str, Any]] = {
            sid: {"status": "pending", "provider": "", "calls": 0, "tokens": 0, "note": ""} for sid in steps
        }
        self.started: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}
        self.run_id = ""
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        if self.live_mode:
            self._live = Live(
                get_renderable=self._table, console=self.console, refresh_per_second=8,
                transient=True,
            )  # fmt: skip
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def _table(self) -> Table:
        table = Table(title=f"podium run {self.run_id}", title_justify="left", expand=False)
        for col in ("step", "status", "provider", "calls", "tokens", "time", ""):
            table.add_column(col)
        now = time.monotonic()
        for sid, s in self.steps.items():
            status = s["status"]
            took = self.elapsed.get(sid)
            if took is None and sid in self.started:
                took = now - self.started[sid]
            table.add_row(
                sid,
                Text(f"{_MARK.get(status, '')} {status}", style=_STYLE.get(status, "")),
                s["provider"],
                str(s["calls"] or ""),
                str(s["tokens"] or ""),
                f"{took:.1f}s" if took is not None else "",
                s["note"],
            )
        return table

    @hookimpl
    def podium_event(self, event: Event) -> None:
        if not self.enabled:
            return
        t = event.type
        if t is EventType.RUN_STARTED:
            self.run_id = event.run_id
            return
        if t is EventType.BUDGET_WARNING:
            self.console.print(f"  ! budget warning: {event.data.get('message')}", style="yellow")
            return
        if t is EventType.RUN_FINISHED and event.data.get("status") == "cancelled":
            for s in self.steps.values():  # what was under way is cancelled, not left running
                if s["status"] in ("running", "waiting"):
                    s["status"] = "cancelled"
            return
        sid = event.step
        if sid is None or sid not in self.steps:
            return
        s = self.steps[sid]
        d = event.data
        if t is EventType.STEP_STARTED:
            s["status"] = "running"
            self.started[sid] = time.monotonic()
        elif t is EventType.CALL_STARTED:
            s["calls"] += 1
            s["provider"] = d.get("provider", "")
        elif t is EventType.CALL_FINISHED:
            usage = d.get("usage") or {}
            s["tokens"] += usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
            if d.get("bound_to"):
                s["provider"] = _provider_cell(d.get("provider"), d["bound_to"])
        elif t is EventType.CALL_FAILED:
            after = _what_follows(d)
            s["note"] = _preview(f"{d.get('kind')}: {d.get('message')}{after}", 50)
            if not self.live_mode:
                self.console.print(f"  ! {sid}: {d.get('kind')}: {d.get('message')}{after}")
        elif t in _SETTLING:
            status = _SETTLING[t]
            if t is EventType.STEP_FAILED and d.get("stopped"):
                status = "stopped"
            elif t is EventType.STEP_FAILED and d.get("kind") == "rejected":
                status = "rejected"
            s["status"] = status
            if sid in self.started:
                self.elapsed[sid] = time.monotonic() - self.started[sid]
            if t is EventType.STEP_SKIPPED:
                s["note"] = d.get("reason", "")
            elif t is EventType.STEP_FAILED:
                s["note"] = _preview(d.get("message", ""), 50)
            else:
                s["note"] = ""
            if not self.live_mode:
                took = self.elapsed.get(sid)
                extra = f"  {s['note']}" if s["note"] else ""
                self.console.print(
                    f"{_MARK[status]} {sid:<16} {status:<9} {s['provider']:<8}"
                    f" {f'{took:.2f}s' if took is not None else '':>7}{extra}",
                    style=_STYLE[status],
                )


_STEP_COLUMNS = (
    ("step", "left"), ("status", "left"), ("provider", "left"), ("calls", "right"),
    ("in", "right"), ("out", "right"), ("time", "right"),
)  # fmt: skip
PREVIEW_FROM = 80  # narrower than this, the table drops the output / error column


def _step_cells(s: StepResult) -> list[str]:
    calls = f"{s.calls}" + (f" ({s.failed_calls} failed)" if s.failed_calls else "")
    return [
        s.id,
        str(s.status),
        _provider_cell(s.provider, s.bound_to),
        calls if s.calls else "",
        f"{s.usage.input_tokens:,}" if s.calls else "",
        f"{s.usage.output_tokens:,}" if s.calls else "",
        _ms(s.duration_ms),
    ]


def _provider_cell(provider: str | None, bound_to: dict[str, str] | None) -> str:
    """The provider and what the call ran on there: `bedrock agent`, `local mock`, `vertex model`."""
    kind = (bound_to or {}).get("kind")
    return f"{provider or ''} {kind}".strip() if kind else provider or ""


def _step_note(s: StepResult, width: int) -> Text:
    if s.status in ("failed", "stopped", "rejected") and s.error:
        kind = "" if s.error.message.startswith(s.error.kind) else f"{s.error.kind}: "
        return Text(_preview(f"{kind}{s.error.message}", width), style="red")
    if s.status == "skipped":
        return Text(_preview(s.reason or "", width), style="yellow")
    if s.status in ("succeeded", "rejected"):
        return Text(_preview(s.output, width))
    if s.status == "waiting" and s.approval:
        return Text(_preview(s.approval.get("request", {}).get("message", ""), width), style="magenta")
    return Text("")


def _step_rows(run: Run, order: Iterable[str], width: int = 120) -> FittedTable:
    """The steps as a table `width` columns wide at most. Step names, statuses and numbers never
    shrink: the output preview takes what is left, and under `PREVIEW_FROM` columns it is dropped."""
    rows = []
    for sid in order:
        s = run.steps[sid]
        cells = _step_cells(s)
        rows.append(
            [cells[0], Text(cells[1], style=_STYLE.get(cells[1], "")), *cells[2:], _step_note(s, 200)]
        )
    columns = [*_STEP_COLUMNS, ("output / error", "left")]
    if width < PREVIEW_FROM:  # no preview, no borders, two spaces between columns
        return FittedTable(columns, rows, flex="output / error", least=width, box=None, pad_edge=False)
    return FittedTable(columns, rows, flex="output / error", most=60, box=box.HEAVY_HEAD)


def print_run(
    run: Run, steps: Iterable[str] | None = None, *, summaries: Iterable[Any] = (), debug: bool = False
) -> None:
    """The summary of a run: steps, outputs, error, the plugins' pieces (`podium_run_summary`: the
    cost table, …), totals, and how to look deeper."""
    console = _stdout()
    order = [s for s in (steps or run.steps) if s in run.steps]
    status_style = _STYLE.get(str(run.status), "")
    header = Text.assemble(
        ("run ", "bold"), (run.run_id, "bold"), "  ", (run.workflow, "bold"), "  ",
        (str(run.status), f"bold {status_style}"),
    )  # fmt: skip
    parts: list[Any] = [header, _step_rows(run, order, console.width)]
    if run.error is not None:
        where = f"step '{run.error.step}'" if run.error.step else "the run"
        if str(run.status) == "stopped":
            msg = f"the run stopped at {where}: {run.error.message}"
        else:
            msg = f"{where} failed: {run.error.kind}: {run.error.message}"
        if run.error.fix:
            msg += f"\n  fix: {run.error.fix}"
        parts.append(Text(msg, style="red"))
        if run.error.traceback:
            where = f"podium show {run.run_id} --step {run.error.step}" if run.error.step else "--debug"
            shown = run.error.traceback.rstrip() if debug else f"(its traceback: {where}, or --debug)"
            parts.append(Text(shown, style="dim"))
    waiting = [sid for sid in order if run.steps[sid].status == "waiting"]
    if str(run.status) == "waiting":
        for sid in waiting:
            decision = (run.steps[sid].approval or {}).get("decision")
            text = (
                f"step '{sid}' was {decision.get('decision')} by {decision.get('by')}:"
                f" continue with podium resume {run.run_id}"
                if decision
                else f"waiting for a person at step '{sid}': podium approve {run.run_id} {sid}"
                f"  (or reject), then podium resume {run.run_id}"
            )
            parts.append(Text(text, style="magenta"))
    elif str(run.status) == "interrupted":
        parts.append(
            Text(
                "interrupted: no process drives this run any more (it was killed, or its machine went"
                f" down); finished steps are kept. Continue it with: podium resume {run.run_id}",
                style="yellow",
            )
        )
    elif str(run.status) in ("failed", "stopped", "cancelled") and not (
        run.error and run.error.fix and "podium resume" in run.error.fix  # one fix, not two
    ):
        parts.append(Text(f"resume with: podium resume {run.run_id}", style="dim"))
    if run.outputs:
        parts.append(Text("outputs", style="bold"))
        parts.extend(_outputs(run.outputs))
    for part in summaries:
        try:
            if part.view is not None and (view := part.view()) is not None:
                parts.append(view)
        except Exception:  # if one cannot be had, the rest of the summary still prints
            logging.getLogger("podium.plugins").debug("no %s for %s", part.name, run.run_id, exc_info=True)
    u = run.usage
    calls = sum(s.calls for s in run.steps.values())
    parts.append(
        Text(
            f"{plural(len(run.steps), 'step')} · {plural(calls, 'call')} · {u.input_tokens} tokens in ·"
            f" {u.output_tokens} tokens out · {_ms(run.duration_ms) or '-'}"
            f"\ninspect: podium show {run.run_id} --step STEP (one step in full), or --events",
            style="dim",
        )
    )
    console.print(Group(*parts))


def print_runs(records: list[RunRecord], *, status: str | None = None) -> None:
    console = _stdout()
    if not records:
        if status is not None:
            console.print(f"no {status} runs (`podium runs` lists runs of every status)")
        else:
            console.print("no runs yet: try `podium run examples/brief/brief.yaml`")
        return
    table = Table()
    for col in ("run", "workflow", "status", "started", "events", "size"):
        table.add_column(col, no_wrap=True)
    for r in records:
        table.add_row(
            r.run_id,
            r.workflow,
            Text(r.status, style=_STYLE.get(r.status, "")),
            r.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            str(r.events),
            f"{r.size_bytes / 1024:.1f} KB",
        )
    console.print(table)


def _outputs(outputs: dict[str, Any]) -> list[Text]:
    """Each output by name: text as text (wrapped like prose), anything else as indented JSON."""
    out = []
    for name, value in outputs.items():
        if isinstance(value, str):
            out.append(Text.assemble((f"{name}: ", "bold"), value))
        else:
            out.append(Text.assemble((f"{name}: ", "bold"), _json(value)))
    return out


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def print_events(events: list[Event]) -> None:
    """The event log, every value whole: long ones wrap inside their column, none is cut."""
    console = _stdout()
    table = Table(title="events")
    for col in ("seq", "at", "type", "step", "attempt"):
        table.add_column(col, no_wrap=True)
    table.add_column("data", overflow="fold")
    for e in events:
        table.add_row(
            str(e.seq),
            e.at.astimezone().strftime("%H:%M:%S.%f")[:-3],
            str(e.type),
            e.step or "",
            "" if e.attempt is None else str(e.attempt),
            Text(json.dumps(e.data, ensure_ascii=False, default=str)),
        )
    console.print(table)


def print_step(run: Run, events: list[Event], sid: str, summaries: Iterable[Any] = ()) -> None:
    """One step in full: status, binding, every call (prompt, reply, usage, error), the output, its
    error and fix, the approval, and its cost."""
    console = _stdout()
    s = run.steps[sid]
    parts: list[Any] = [
        Text.assemble(
            ("step ", "bold"), (sid, "bold"), "  ", (str(s.status), f"bold {_STYLE.get(str(s.status), '')}"),
            f"  of run {run.run_id} ({run.workflow})",
        )
    ]  # fmt: skip
    started = next((e.data for e in events if e.type is EventType.RUN_STARTED), {})
    binding = (started.get("bindings") or {}).get(s.agent or "", {})
    facts = [
        ("agent", s.agent or "-"),
        ("bound to", _bound(binding, s.provider, s.bound_to)),
        ("attempts", str(s.attempts)),
        ("calls", f"{s.calls}" + (f" ({s.failed_calls} failed)" if s.failed_calls else "")),
        ("tokens", f"{s.usage.input_tokens:,} in, {s.usage.output_tokens:,} out"),
        ("time", _ms(s.duration_ms) or "-"),
    ]
    for piece in summaries:
        data = getattr(piece, "data", None)
        if getattr(piece, "name", "") == "cost" and isinstance(data, dict):
            mine = (data.get("steps") or {}).get(sid)
            if mine:
                facts.append(("cost", f"${mine.get('cost_usd')}" + _unpriced(mine)))
    for label, value in facts:
        parts.append(Text.assemble((f"  {label:<9}", "dim"), value))
    for e in events:
        if e.step != sid:
            continue
        d = e.data
        item = f" item {d['item']}" if d.get("item") is not None else ""
        if e.type is EventType.CALL_STARTED:
            head = f"call {e.attempt}{item} → {d.get('provider')} {d.get('model') or ''}".rstrip()
            parts.append(Text(head + (" (repair)" if d.get("repair") else ""), style="bold"))
            parts.append(Text.assemble(("  prompt  ", "dim"), str(d.get("prompt", ""))))
        elif e.type is EventType.CALL_FINISHED:
            usage = d.get("usage") or {}
            reply = d.get("reply")
            parts.append(
                Text.assemble(("  reply   ", "dim"), reply if isinstance(reply, str) else _json(reply))
            )
            parts.append(
                Text.assemble(
                    ("  usage   ", "dim"),
                    f"{usage.get('input_tokens', 0):,} in, {usage.get('output_tokens', 0):,} out,"
                    f" {_ms(d.get('latency_ms'))}",
                )
            )
        elif e.type is EventType.CALL_FAILED:
            where = f" at {d.get('provider')}" if d.get("provider") else ""
            said = f"call {e.attempt or '-'}{item} failed{where}: {d.get('kind')}: {d.get('message')}"
            parts.append(Text(said + _what_follows(d), style="red"))
            if d.get("traceback"):
                parts.append(Text(str(d["traceback"]).rstrip(), style="dim"))
    if s.status in ("succeeded", "rejected") or s.output is not None:
        parts.append(Text("output", style="bold"))
        parts.append(Text(s.output if isinstance(s.output, str) else _json(s.output)))
    if s.error is not None:
        parts.append(Text(f"error: {s.error.kind}: {s.error.message}", style="red"))
        if s.error.fix:
            parts.append(Text(f"  fix: {s.error.fix}", style="red"))
    if s.reason:
        parts.append(Text(f"skipped: {s.reason}", style="yellow"))
    if s.approval:
        parts.append(Text("approval", style="bold"))
        parts.append(Text(_json(s.approval)))
    console.print(Group(*parts))


def _bound(binding: dict[str, Any], provider: str | None, bound_to: dict[str, str] | None = None) -> str:
    if bound_to:
        via = bound_to.get("via") or ""
        by = f" (bound by {via})" if via and via not in ("model", "function", "mock", "binding") else ""
        return f"{provider} {bound_to.get('kind')} {bound_to.get('id')}{by}"
    if binding.get("function"):
        return f"python function {binding['function']}"
    chain = " → ".join(binding.get("providers") or []) or (provider or "-")
    model = f", model {binding['model']}" if binding.get("model") else ""
    return f"{chain}{model}" + (f" (ran on {provider})" if provider else "")


def _unpriced(step_cost: dict[str, Any]) -> str:
    n = step_cost.get("unpriced_calls") or 0
    return f" + {n} unpriced" if n else ""


def print_providers(rows: list[dict[str, Any]], failed: dict[str, str]) -> None:
    console = _stdout()
    table = Table()
    for col in ("provider", "plugin", "description"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], row["plugin"], row["description"])
    console.print(table)
    for name, error in failed.items():
        console.print(f"plugin '{name}' failed to load: {error}", style="red")


def print_waiting(records: list[RunRecord], asks: dict[str, list[dict[str, Any]]]) -> None:
    """Runs that wait for a person: what each asks, by when, and the command that answers."""
    console = _stdout()
    if not records:
        console.print("no run is waiting for a person")
        return
    for r in records:
        for ask in asks.get(r.run_id, []):
            console.print(
                Text.assemble((r.run_id, "bold"), "  ", r.workflow, "  step ", (ask["step"], "bold"))
            )
            console.print(f"  {ask['message']}")
            if ask.get("deadline"):
                console.print(f"  deadline: {ask['deadline']}", style="dim")
            if ask.get("decision"):
                console.print(
                    f"  decided: {ask['decision'].get('decision')} — continue with: podium resume {r.run_id}"
                )
                continue
            fields = " ".join(f"--field {name}=…" for name in ask.get("fields", {}))
            console.print(
                f"  podium approve {r.run_id} {ask['step']} {fields}".rstrip()
                + f"   |   podium reject {r.run_id} {ask['step']}",
                style="dim",
            )
