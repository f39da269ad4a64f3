"""`podium graph` and the HTML trace's step graph: one picture, in text, Mermaid, dot and SVG."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import podium
from podium.core.spec import Workflow
from podium.picture import as_dot, as_mermaid, as_svg, as_text, picture_of
from podium.testing import run_cli

FLOW = """
name: shapes
inputs:
  items: {type: array, default: [a, b]}
defaults:
  fallback: [local]
agents:
  researcher: {instructions: Research., model: fast, provider: bedrock}
  writer: {instructions: Write., model: fast}
  fixer: {instructions: Fix., model: fast}
steps:
  facts: {agent: researcher, prompt: facts}
  angles: {agent: writer, prompt: angles}
  score: {agent: writer, needs: [facts, angles], prompt: score}
  signoff: {needs: [score], approval: Ship it?}
  draft:
    agent: writer
    needs: [signoff]
    when: "{{ steps.score.output != 'no' }}"
    prompt: draft
  adapt: {agent: writer, needs: [draft], foreach: "{{ inputs.items }}", prompt: "{{ item }}"}
  repair: {agent: fixer, prompt: repair}
on_failure: repair
mock:
  facts: f
  angles: a
  score: "7"
  draft: d
  adapt: x
  repair: r
"""

GOLDEN_TEXT = """\
[facts, angles] → [score] → [signoff✋] → [draft?] → [adapt*]
(✋ approval, * foreach, ? when)

  facts: agent researcher, fallback local
  draft: agent writer, when
  adapt: agent writer, foreach
  repair: on_failure of the workflow, agent fixer
"""


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "shapes.yaml"
    path.write_text(FLOW)
    return path


def test_text_is_levels_with_foreach_when_approval_fallback_and_on_failure_marked(flow: Path) -> None:
    assert as_text(picture_of(podium.load(flow))) == GOLDEN_TEXT


# A small grammar of the Mermaid flowchart subset podium writes: every line must be one of these,
# and every edge must join nodes declared above it.
_ID = r"[A-Za-z][A-Za-z0-9_]*"
_LABEL = r'"[^"\n]*"'
MERMAID_LINE = {
    "node": re.compile(
        rf"^    ({_ID})(\[{_LABEL}\]|\[\[{_LABEL}\]\]|\{{\{{{_LABEL}\}}\}}|\(\[{_LABEL}\]\))$"
    ),
    "edge": re.compile(rf"^    ({_ID}) (-->|-\. [a-z_]+ \.->) ({_ID})$"),
    "start": re.compile(rf'^    ({_ID})\(\["[^"\n]*"\]\) -\. on_failure \.-> ({_ID})$'),
    "classDef": re.compile(r"^    classDef [a-z]+ [a-z-]+:[#0-9a-z]+(,[a-z-]+:[#0-9a-z ]+)*$"),
    "class": re.compile(rf"^    class {_ID}(,{_ID})* [a-z]+$"),
}


def check_mermaid(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes: set[str] = set()
    edges: list[tuple[str, str]] = []
    for line in lines[1:]:
        kind = next((k for k, rule in MERMAID_LINE.items() if rule.match(line)), None)
        assert kind is not None, f"not Mermaid podium writes: {line!r}"
        m = MERMAID_LINE[kind].match(line)
        assert m is not None
        if kind == "node":
            nodes.add(m.group(1))
        elif kind == "edge":
            assert {m.group(1), m.group(3)} <= nodes, line
            edges.append((m.group(1), m.group(3)))
        elif kind == "start":
            assert m.group(2) in nodes
            edges.append((m.group(1), m.group(2)))
    return nodes, edges


def test_mermaid_is_a_valid_flowchart_with_every_step_and_need(flow: Path) -> None:
    nodes, edges = check_mermaid(as_mermaid(picture_of(podium.load(flow))))
    assert nodes == {f"s_{s}" for s in ("facts", "angles", "score", "signoff", "draft", "adapt", "repair")}
    assert ("s_facts", "s_score") in edges and ("s_angles", "s_score") in edges
    assert ("s_score", "s_signoff") in edges and ("s_adapt" not in {a for a, _ in edges})
    assert ("any_failure", "s_repair") in edges


def test_hostile_step_ids_and_labels_cannot_break_out_of_mermaid_dot_or_svg() -> None:
    evil = 'x"]-->y<script>alert(1)</script>{{z}}'
    wf = Workflow.model_validate(
        {
            "name": 'n"<b>',
            "agents": {"a": {"model": "m"}},
            "steps": {evil: {"agent": "a"}, "end": {"agent": "a", "needs": [evil]}},
        }
    )
    picture = picture_of(wf)
    nodes, edges = check_mermaid(as_mermaid(picture))
    assert len(nodes) == 2 and len(edges) == 1
    dot = as_dot(picture)
    assert '"x\\"]-->y<script>alert(1)</script>{{z}}"' in dot  # one quoted ID, its quote escaped
    svg = ET.fromstring(as_svg(picture))  # well-formed XML: nothing leaked out of a text node
    assert {g.get("data-step") for g in svg.iter("g")} == {evil, "end"}
    assert not list(svg.iter("script"))


def test_dot_names_every_step_and_edge(flow: Path) -> None:
    dot = as_dot(picture_of(podium.load(flow)))
    assert dot.startswith('digraph "shapes" {') and dot.rstrip().endswith("}")
    assert '"facts" -> "score";' in dot and '"signoff" [label="signoff", shape=hexagon];' in dot
    assert '"signoff" -> "draft" [style=dashed, label="when"];' in dot
    assert '"any step fails" -> "repair" [style=dotted, label="on_failure"];' in dot


def test_graph_with_a_run_shows_each_steps_status_and_cost(flow: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    ran = run_cli("run", str(flow), "-q", "--json", db=db)
    assert ran.returncode == 1  # waiting at signoff
    run_id = json.loads(ran.stdout)["run_id"]
    shown = run_cli("graph", str(flow), "--run", run_id, db=db)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "[facts, angles] → [score] → [signoff✋] → [draft?] → [adapt*]"
    assert any(re.fullmatch(r"  score: agent writer, succeeded, \$0\.\d+", line) for line in lines)
    assert any(line.startswith("  facts: agent researcher, fallback local, succeeded, $") for line in lines)
    assert "  draft: agent writer, when, pending" in lines
    assert "  signoff: approval, waiting" in lines
    mermaid = run_cli("graph", str(flow), "--run", run_id, "--format", "mermaid", db=db).stdout
    check_mermaid(mermaid)
    assert "class s_signoff waiting" in mermaid


def test_graph_of_an_invalid_workflow_shows_the_loaders_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nagents: {a: {model: m}}\nsteps:\n  s: {agent: a, needs: [nope]}\n")
    shown = run_cli("graph", str(bad), db=tmp_path / "runs.db")
    assert shown.returncode == 2
    assert "bad.yaml" in shown.stderr and "nope" in shown.stderr and "Traceback" not in shown.stderr


def test_graph_of_a_run_of_another_workflow_is_refused(flow: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    other = tmp_path / "other.yaml"
    other.write_text("name: other\nagents: {a: {model: m}}\nsteps:\n  s: {agent: a}\nmock: {s: ok}\n")
    run_id = json.loads(run_cli("run", str(other), "-q", "--json", db=db).stdout)["run_id"]
    refused = run_cli("graph", str(flow), "--run", run_id, db=db)
    assert refused.returncode == 2 and "not 'shapes'" in refused.stderr


def test_the_html_trace_draws_the_same_graph_coloured_by_status(flow: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    trace = tmp_path / "trace.html"
    run_cli("run", str(flow), "-q", "--trace", str(trace), db=db)
    page = trace.read_text()
    svg_text = re.search(r'<section id="graph">.*?(<svg.*?</svg>)', page, re.S)
    assert svg_text is not None
    svg = ET.fromstring(svg_text.group(1))
    fills = {g.get("data-step"): g.find("rect").get("fill") for g in svg.iter("g")}  # type: ignore[union-attr]
    assert set(fills) == {"facts", "angles", "score", "signoff", "draft", "adapt", "repair"}
    assert fills["score"] == "#d7f5dd" and fills["draft"] == "#ffffff"  # succeeded; not started
    # once the file changes, the report leaves the picture out rather than draw another workflow
    changed = FLOW.replace("facts: {agent", "facts2: {agent").replace("needs: [facts,", "needs: [facts2,")
    flow.write_text(changed)
    again = run_cli("trace", "latest", "--format", "html", db=db)
    assert again.returncode == 0 and '<section id="graph">' not in again.stdout
    assert "http://" not in page and "https://" not in page  # self-contained: the page names no URL
