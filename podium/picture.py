"""The step graph of a workflow drawn for people: text levels, Mermaid, Graphviz dot, or inline SVG.

One `Picture` is built from a workflow (and, for a run, each step's status and cost); every format
draws that same picture, so `podium graph`, the README's Mermaid and the HTML trace agree. Steps are
laid out in levels: a step sits one level after the last of the steps it needs.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from podium.core.graph import Graph
from podium.core.spec import Workflow

FORMATS = ("text", "mermaid", "dot")

# Mermaid and dot node ids: a step id may hold characters either would read as syntax
_SAFE_ID = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True, slots=True)
class Node:
    """One step as drawn: what it calls, its marks (foreach, when, approval, fallback, on_failure)."""

    id: str
    needs: tuple[str, ...]
    calls: str  # "agent researcher", "approval", …
    marks: tuple[str, ...]
    handler: bool = False  # runs only as some step's on_failure
    status: str | None = None
    cost: Decimal | None = None

    @property
    def note(self) -> str:
        """The marks, status and cost as one short phrase (empty when there are none)."""
        parts = list(self.marks)
        if self.status:
            parts.append(self.status)
        if self.cost is not None:
            parts.append(f"${self.cost:.6f}".rstrip("0").rstrip(".") if self.cost else "$0")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Picture:
    """A workflow's steps in levels, with the on_failure edges that leave the levels."""

    name: str
    nodes: dict[str, Node]
    levels: tuple[tuple[str, ...], ...]
    on_failure: tuple[tuple[str, str], ...]  # (step, handler); "*" is the workflow's own handler


def picture_of(
    workflow: Workflow,
    *,
    status: Mapping[str, str] | None = None,
    cost: Mapping[str, Decimal] | None = None,
) -> Picture:
    """The picture of `workflow`; with `status` and `cost` (by step id) each node carries a run's."""
    status = status or {}
    cost = cost or {}
    handlers = workflow.handlers
    nodes: dict[str, Node] = {}
    for sid, step in workflow.steps.items():
        marks: list[str] = []
        if step.foreach is not None:
            marks.append("foreach")
        if step.when is not None and step.when is not True:
            marks.append("when")
        fallback = workflow.chain(step)[1:]
        if fallback:
            marks.append("fallback " + " → ".join(fallback))
        calls = f"agent {step.agent}" if step.agent else "approval"
        nodes[sid] = Node(
            id=sid,
            needs=tuple(step.needs),
            calls=calls,
            marks=tuple(marks),
            handler=sid in handlers,
            status=status.get(sid),
            cost=cost.get(sid),
        )
    levels = tuple(tuple(level) for level in Graph.of(workflow.graph_steps).levels())
    edges = [(sid, step.on_failure) for sid, step in workflow.steps.items() if step.on_failure]
    if workflow.on_failure:
        edges.append(("*", workflow.on_failure))
    return Picture(workflow.name, nodes, levels, tuple(edges))


def draw(picture: Picture, fmt: str) -> str:
    """`picture` in `fmt`: text, mermaid or dot."""
    return {"text": as_text, "mermaid": as_mermaid, "dot": as_dot}[fmt](picture)


# --- text --------------------------------------------------------------------------------------------


def as_text(picture: Picture) -> str:
    """Levels left to right, `[facts, angles] → [score] → [draft]`, then each marked step on a line."""
    shown = [f"[{', '.join(_label(picture.nodes[s]) for s in level)}]" for level in picture.levels]
    lines = [" → ".join(shown) if shown else "(no steps)"]
    signs = [
        legend
        for legend, used in (
            ("✋ approval", any(n.calls == "approval" for n in picture.nodes.values())),
            ("* foreach", any("foreach" in n.marks for n in picture.nodes.values())),
            ("? when", any("when" in n.marks for n in picture.nodes.values())),
        )
        if used
    ]
    if signs:
        lines.append(f"({', '.join(signs)})")
    notes = [n for n in picture.nodes.values() if n.note or n.handler]
    if notes:
        lines.append("")
    for node in picture.nodes.values():
        if node.handler:
            whose = [s for s, h in picture.on_failure if h == node.id]
            who = (
                "the workflow"
                if whose == ["*"]
                else ", ".join("the workflow" if w == "*" else w for w in whose)
            )
            extra = f" ({node.note})" if node.note else ""
            lines.append(f"  {node.id}: on_failure of {who}, {node.calls}{extra}")
        elif node.note:
            lines.append(f"  {node.id}: {node.calls}, {node.note}")
    return "\n".join(lines) + "\n"


def _label(node: Node) -> str:
    sign = {"approval": "✋"}.get(node.calls, "")
    if "foreach" in node.marks:
        sign += "*"
    if "when" in node.marks:
        sign += "?"
    return f"{node.id}{sign}"


# --- mermaid -----------------------------------------------------------------------------------------

_MERMAID_CLASSES = {
    "succeeded": "fill:#d7f5dd,stroke:#2e7d32",
    "failed": "fill:#fde0dc,stroke:#c62828",
    "running": "fill:#dbe9ff,stroke:#1565c0",
    "waiting": "fill:#fff4cc,stroke:#b38600",
    "skipped": "fill:#eeeeee,stroke:#9e9e9e,stroke-dasharray:3 3",
    "pending": "fill:#ffffff,stroke:#9e9e9e",
    "cancelled": "fill:#eeeeee,stroke:#616161",
    "rejected": "fill:#fde0dc,stroke:#c62828",
    "interrupted": "fill:#fff4cc,stroke:#b38600,stroke-dasharray:3 3",
}


def _node_id(sid: str, taken: dict[str, str]) -> str:
    if sid in taken:
        return taken[sid]
    base = "s_" + _SAFE_ID.sub("_", sid)
    ident, n = base, 1
    while ident in taken.values():
        n += 1
        ident = f"{base}_{n}"
    taken[sid] = ident
    return ident


def _mermaid_text(text: str) -> str:
    # inside "…" Mermaid reads entity codes; a quote or a bracket in a step id must not end the label
    return html.escape(text, quote=True).replace("#", "#35;")


def as_mermaid(picture: Picture) -> str:
    """A Mermaid flowchart (left to right): approvals as hexagons, foreach steps as stacks."""
    ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    for node in picture.nodes.values():
        ident = _node_id(node.id, ids)
        label = _mermaid_text(node.id)
        detail = _mermaid_text(node.note) if node.note else ""
        text = f"{label}<br/><small>{detail}</small>" if detail else label
        if node.calls == "approval":
            lines.append(f'    {ident}{{{{"{text}"}}}}')
        elif "foreach" in node.marks:
            lines.append(f'    {ident}[["{text}"]]')
        else:
            lines.append(f'    {ident}["{text}"]')
    for node in picture.nodes.values():
        for need in node.needs:
            if need in picture.nodes:
                arrow = "-. when .->" if "when" in node.marks else "-->"
                lines.append(f"    {_node_id(need, ids)} {arrow} {_node_id(node.id, ids)}")
    for step, handler in picture.on_failure:
        if handler not in picture.nodes:
            continue
        if step == "*":
            lines.append(f'    any_failure(["any step fails"]) -. on_failure .-> {_node_id(handler, ids)}')
        elif step in picture.nodes:
            lines.append(f"    {_node_id(step, ids)} -. on_failure .-> {_node_id(handler, ids)}")
    used = {n.status for n in picture.nodes.values() if n.status in _MERMAID_CLASSES}
    for status in sorted(used):
        lines.append(f"    classDef {status} {_MERMAID_CLASSES[status]}")
        members = ",".join(_node_id(n.id, ids) for n in picture.nodes.values() if n.status == status)
        lines.append(f"    class {members} {status}")
    return "\n".join(lines) + "\n"


# --- dot ---------------------------------------------------------------------------------------------

_DOT_COLOURS = {
    "succeeded": "#d7f5dd",
    "failed": "#fde0dc",
    "running": "#dbe9ff",
    "waiting": "#fff4cc",
    "skipped": "#eeeeee",
    "cancelled": "#eeeeee",
    "rejected": "#fde0dc",
    "interrupted": "#fff4cc",
}


def _dot_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a dot ID in double quotes escapes as JSON does


def as_dot(picture: Picture) -> str:
    """A Graphviz digraph (left to right); `dot -Tsvg` draws it."""
    lines = [
        f"digraph {_dot_string(picture.name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded"];',
    ]
    for node in picture.nodes.values():
        label = node.id + (f"\n{node.note}" if node.note else "")
        attrs = [f"label={_dot_string(label)}"]
        if node.calls == "approval":
            attrs.append("shape=hexagon")
        elif "foreach" in node.marks:
            attrs.append('style="rounded,bold"')
            attrs.append("peripheries=2")
        if node.status in _DOT_COLOURS:
            attrs.append(f'style="rounded,filled" fillcolor="{_DOT_COLOURS[node.status]}"')
        lines.append(f"    {_dot_string(node.id)} [{', '.join(attrs)}];")
    for node in picture.nodes.values():
        for need in node.needs:
            if need in picture.nodes:
                style = ' [style=dashed, label="when"]' if "when" in node.marks else ""
                lines.append(f"    {_dot_string(need)} -> {_dot_string(node.id)}{style};")
    for step, handler in picture.on_failure:
        if handler not in picture.nodes:
            continue
        source = '"any step fails"' if step == "*" else _dot_string(step)
        if step == "*":
            lines.append('    "any step fails" [shape=plaintext];')
        lines.append(f'    {source} -> {_dot_string(handler)} [style=dotted, label="on_failure"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- svg (the HTML trace embeds it) ------------------------------------------------------------------

_SVG_FILL = {**_DOT_COLOURS, "pending": "#ffffff"}
_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD = 168, 46, 56, 18, 12


def as_svg(picture: Picture) -> str:
    """The levels as SVG to inline in HTML: columns left to right, edges as curves; all text escaped."""
    columns = [list(level) for level in picture.levels]
    handlers = [n.id for n in picture.nodes.values() if n.handler]
    if handlers:
        columns.append(handlers)
    place: dict[str, tuple[int, int]] = {}
    for x, column in enumerate(columns):
        for y, sid in enumerate(column):
            place[sid] = (
                _PAD + x * (_BOX_W + _GAP_X),
                _PAD + y * (_BOX_H + _GAP_Y),
            )
    width = _PAD * 2 + max(len(columns), 1) * (_BOX_W + _GAP_X) - _GAP_X
    height = _PAD * 2 + max((len(c) for c in columns), default=1) * (_BOX_H + _GAP_Y) - _GAP_Y
    out = [
        # inline in HTML, where the parser puts <svg> in the SVG namespace itself: no xmlns, so the
        # page names no URL at all
        f'<svg class="step-graph" role="img" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" aria-label="{html.escape(picture.name)} steps">'
    ]
    for node in picture.nodes.values():
        for need in node.needs:
            if need in place and node.id in place:
                out.append(_curve(place[need], place[node.id], dashed="when" in node.marks))
    for step, handler in picture.on_failure:
        if step in place and handler in place:
            out.append(_curve(place[step], place[handler], dashed=True, cls="on-failure"))
    for node in picture.nodes.values():
        if node.id not in place:
            continue
        x, y = place[node.id]
        fill = _SVG_FILL.get(node.status or "", "#ffffff")
        radius = 2 if node.calls == "approval" else 8
        bold = ' stroke-width="2"' if "foreach" in node.marks else ""
        name, detail = html.escape(_clip(_label(node))), html.escape(_clip(node.note or node.calls))
        out.append(
            f'<g class="node" data-step="{html.escape(node.id)}"><title>{html.escape(node.id)}:'
            f" {html.escape(node.calls)}{html.escape(', ' + node.note if node.note else '')}</title>"
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="{radius}" fill="{fill}"'
            f' stroke="#555"{bold}/>'
            f'<text x="{x + 8}" y="{y + 18}" font-size="13" font-weight="600">{name}</text>'
            f'<text x="{x + 8}" y="{y + 36}" font-size="11" fill="#444">{detail}</text>'
            "</g>"
        )
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, most: int = 24) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _curve(a: tuple[int, int], b: tuple[int, int], *, dashed: bool, cls: str = "edge") -> str:
    x1, y1 = a[0] + _BOX_W, a[1] + _BOX_H // 2
    x2, y2 = b[0], b[1] + _BOX_H // 2
    if x2 <= x1:  # an edge to the same column or back (an on_failure handler below): go round
        x1, x2 = a[0] + _BOX_W // 2, b[0] + _BOX_W // 2
        y1, y2 = a[1] + _BOX_H, b[1]
    mid = (x1 + x2) / 2
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return (
        f'<path class="{cls}" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none"'
        f' stroke="#888"{dash}/>'
    )
