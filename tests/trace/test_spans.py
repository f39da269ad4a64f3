"""The span tree of real runs: its shape, its OpenTelemetry GenAI attributes, the clouds' inner steps
under their call, approvals and budget stops as spans, and costs equal to the ledger's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from trace_support import Tree, write_flow

import podium
from podium.core.events import Event, EventType
from podium.core.spec import Workflow
from podium.core.store import MemoryStore, SQLiteStore
from podium.core.tracecontext import call_key, span_id, trace_id
from podium.plugins.manager import load_plugins
from podium.providers._kit.brains import ScriptedBrain
from podium.providers.azure.emulator import AzureEmulator
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.vertex.emulator import VertexEmulator
from podium.trace.export import run_spans
from podium.trace.spans import TraceFold, spans_of

MOCK: dict[str, Any] = {
    "ask": {"reply": "Tides are predictable.", "usage": {"input_tokens": 120, "output_tokens": 30}},
    "look": [
        {"tool": {"name": "weather", "input": {"city": "Oslo"}}},
        {"reply": "Rain in Oslo.", "usage": {"input_tokens": 40, "output_tokens": 6}},
    ],
    "write": {"reply": "A brief on tides and rain.", "usage": {"input_tokens": 200, "output_tokens": 80}},
}
TOOLS = '''
def weather(city: str) -> dict:
    """Today's weather in a city."""
    return {"city": city, "sky": "rain"}


def count(prompt, **_):
    return len(str(prompt).split())
'''


def parsed(mock: dict[str, Any]) -> dict[str, Any]:
    return Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": mock}).mock


@pytest.fixture
def clouds() -> Any:
    brain = parsed(MOCK)
    with (
        BedrockEmulator() as bedrock,
        VertexEmulator() as vertex,
        AzureEmulator() as azure,
    ):
        for emu, name in ((bedrock, "bedrock"), (vertex, "vertex"), (azure, "azure")):
            emu.brain = ScriptedBrain(brain, provider=name)
        yield bedrock, vertex, azure


def mixed_flow(
    tmp_path: Path, bedrock: BedrockEmulator, vertex: VertexEmulator, azure: AzureEmulator
) -> Path:
    (tmp_path / "trace_tools.py").write_text(TOOLS, encoding="utf-8")
    agent_id, alias_id = bedrock.add_agent("helper", model="amazon.nova-pro-v1:0")
    providers = {
        "bedrock": {**bedrock.settings(), "max_attempts": 1},
        "vertex": vertex.settings(),
        "azure": azure.settings(),
    }
    return write_flow(
        tmp_path,
        f"""
        name: mixed-clouds
        providers: {json.dumps(providers)}
        agents:
          helper:
            provider: bedrock
            bedrock: {{agent_id: {agent_id}, alias_id: {alias_id}}}
          forecaster:
            provider: azure
            model: gpt-4o
            tools: {{weather: "trace_tools:weather"}}
          writer:
            provider: vertex
            model: gemini-2.5-flash
          counter:
            function: "trace_tools:count"
        steps:
          ask: {{agent: helper, prompt: "What about tides?"}}
          look: {{agent: forecaster, prompt: "Weather in Oslo?"}}
          write: {{agent: writer, needs: [ask, look], prompt: "Write from {{{{ steps.ask.output }}}}"}}
          count: {{agent: counter, needs: [write], prompt: "{{{{ steps.write.output }}}}"}}
        """,
    )


async def test_a_run_across_three_clouds_is_one_tree_with_genai_attributes_and_the_ledgers_costs(
    clouds: Any, tmp_path: Path
) -> None:
    path = mixed_flow(tmp_path, *clouds)
    plugins = load_plugins(entry_points_too=False)
    store = SQLiteStore(tmp_path / "runs.db")
    run = await podium.arun(path, plugins=plugins, store=store)
    assert run.status == "succeeded", run.error

    tree = Tree(run_spans(store, run.run_id, plugins=plugins))
    root = tree.one("invoke_workflow mixed-clouds")
    assert root.parent_span_id is None and root.status == "ok"
    assert root.trace_id == trace_id(run.run_id) and {s.trace_id for s in tree.spans} == {root.trace_id}
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["podium.run_id"] == run.run_id
    assert [s.name for s in tree.children(root)] == ["step ask", "step look", "step write", "step count"]

    # every call sits under run → step → attempt, and carries the convention's attributes
    calls = {tree.path(s)[1]: s for s in tree.spans if s.kind == "call"}
    assert set(calls) == {"step ask", "step look", "step write", "step count"}
    for step, call in calls.items():
        assert tree.path(call)[:3] == [root.name, step, "attempt 1"]
    ask, look, write = (
        calls["step ask"].attributes,
        calls["step look"].attributes,
        calls["step write"].attributes,
    )
    assert ask["gen_ai.operation.name"] == "invoke_agent" and ask["gen_ai.provider.name"] == "aws.bedrock"
    assert ask["gen_ai.agent.name"] == "helper" and ask["gen_ai.agent.id"] == run.steps["ask"].bound_to["id"]
    assert (ask["gen_ai.usage.input_tokens"], ask["gen_ai.usage.output_tokens"]) == (120, 30)
    [finished] = [
        e for e in store.events(run.run_id) if e.type is EventType.CALL_FINISHED and e.step == "ask"
    ]
    assert ask["gen_ai.conversation.id"] == finished.data["session_id"]
    assert look["gen_ai.operation.name"] == "chat" and look["gen_ai.provider.name"] == "azure.ai.openai"
    assert look["gen_ai.request.model"] == "gpt-4o" and calls["step look"].name == "chat gpt-4o"
    assert (
        write["gen_ai.provider.name"] == "gcp.vertex_ai"
        and write["gen_ai.response.model"] == "gemini-2.5-flash"
    )
    assert (write["gen_ai.usage.input_tokens"], write["gen_ai.usage.output_tokens"]) == (200, 80)
    assert calls["step count"].attributes["gen_ai.provider.name"] == "podium.local"
    for call in calls.values():
        assert call.attributes["podium.workflow"] == "mixed-clouds"
        assert call.attributes["podium.attempt"] == 1
        assert call.start_time <= call.end_time

    # a call's span id is the one its cloud received (the traceparent the engine handed it)
    started = [e for e in store.events(run.run_id) if e.type is EventType.CALL_STARTED]
    assert {c.span_id for c in calls.values()} == {span_id(run.run_id, call_key(e.seq)) for e in started}

    # the tool the Azure agent asked for is a child of its call
    [tool] = [s for s in tree.children(calls["step look"]) if s.kind == "tool"]
    assert tool.name == "execute_tool weather" and tool.attributes["gen_ai.tool.name"] == "weather"
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    # timed as it ran: within its call, from the tool loop's own record
    [looked] = [e for e in store.events(run.run_id) if e.type is EventType.CALL_FINISHED and e.step == "look"]
    [record] = looked.data["native"]["tool_calls"]
    assert tool.start_time == datetime.fromisoformat(record["started_at"])
    assert tool.duration_ms is not None and abs(tool.duration_ms - record["duration_ms"]) < 0.01
    assert calls["step look"].start_time <= tool.start_time <= tool.end_time <= calls["step look"].end_time

    # cost: each call's is the ledger's, exact, and the run's is their sum
    from podium.cost.catalog import default_config, load_catalog
    from podium.cost.ledger import derive_rows

    rows = {r.step: r for r in derive_rows(store.events(run.run_id), load_catalog(config=default_config()))}
    for step, call in calls.items():
        row = rows[step.removeprefix("step ")]
        assert call.attributes["podium.cost_usd"] == (None if row.cost is None else str(row.cost))
        assert call.attributes["podium.unpriced"] is (row.status == "unpriced")
    total = sum((r.cost for r in rows.values() if r.cost is not None), Decimal(0))
    assert Decimal(root.attributes["podium.cost_usd"]) == total > 0
    assert tree.one("step ask").attributes["podium.cost_usd"] == str(rows["ask"].cost)


async def test_bedrocks_own_steps_and_model_invocations_are_children_of_the_call(
    clouds: Any, tmp_path: Path
) -> None:
    path = mixed_flow(tmp_path, *clouds)
    store = MemoryStore()
    run = await podium.arun(path, plugins=load_plugins(entry_points_too=False), store=store)
    assert run.status == "succeeded"
    tree = Tree(spans_of(store.events(run.run_id)))
    [call] = [s for s in tree.spans if s.kind == "call" and tree.path(s)[1] == "step ask"]
    sections = tree.children(call)
    assert [s.name for s in sections] == ["bedrock pre-processing", "bedrock orchestration"]
    for section in sections:
        assert section.kind == "inner" and section.parent_span_id == call.span_id
        [model] = tree.children(section)
        assert model.name == "chat amazon.nova-pro-v1:0"
        assert model.attributes["gen_ai.operation.name"] == "chat"
        assert call.start_time <= section.start_time <= section.end_time <= call.end_time
    inner = [tree.children(s)[0].attributes for s in sections]
    # the service's model invocations add up to what the call reported
    assert sum(a["gen_ai.usage.input_tokens"] for a in inner) == 120
    assert sum(a["gen_ai.usage.output_tokens"] for a in inner) == 30
    assert inner[0]["podium.bedrock.type"] == "PRE_PROCESSING"
    # live, each event returns every span it ended: the cloud's inner steps and the tools too
    live = TraceFold()
    ended = [s.span_id for e in store.events(run.run_id) for s in live.feed(e)]
    assert sorted(ended) == sorted(s.span_id for s in tree.spans)


def flow_with_states(tmp_path: Path) -> Path:
    return write_flow(
        tmp_path,
        """
        name: states
        defaults: {provider: local, retry: {attempts: 2, backoff: 0}}
        agents: {w: {}}
        steps:
          flaky: {agent: w, prompt: "go"}
          fan: {agent: w, foreach: [a, b, c], prompt: "item {{ item }}", needs: [flaky]}
          gate: {approval: {message: "Ship it?"}, needs: [fan]}
          never: {agent: w, when: "{{ false }}", prompt: "no"}
        mock:
          flaky: [{error: transient}, "ok"]
          fan: "done"
        """,
    )


async def test_retries_foreach_items_skips_and_a_rejected_approval_are_spans_with_their_status(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    plugins = load_plugins(entry_points_too=False)
    run = await podium.arun(flow_with_states(tmp_path), plugins=plugins, store=store)
    assert run.status == "waiting"
    podium.decide(run.run_id, "gate", "rejected", by="ana", comment="not today", store=store)
    done = await podium.aresume(run.run_id, plugins=plugins, store=store)
    assert done.status == "failed"

    tree = Tree(spans_of(store.events(run.run_id)))
    root = tree.one("invoke_workflow states")
    assert root.status == "error" and root.attributes["podium.status"] == "failed"
    assert [e.name for e in root.events] == ["waiting", "resumed"]

    first, second = tree.named("attempt 1")[0], tree.named("attempt 2")[0]
    assert tree.parent(first).name == tree.parent(second).name == "step flaky"
    assert first.status == "error" and second.status == "ok"
    [failed] = tree.children(first)
    assert failed.status == "error" and failed.attributes["error.type"] == "transient"
    assert failed.attributes["podium.then"] == "retry"

    fan = tree.one("step fan")
    items = tree.children(fan)
    assert [s.name for s in items] == ["item 0", "item 1", "item 2"]
    assert all(s.kind == "item" and s.status == "ok" for s in items)
    assert all(tree.children(s)[0].name == "attempt 1" for s in items)

    approval = tree.one("approval gate")
    assert tree.parent(approval).name == "step gate"
    assert approval.status == "error" and approval.status_message == "rejected by ana"
    assert approval.attributes["podium.approval.decision"] == "rejected"
    assert approval.attributes["podium.approval.by"] == "ana"
    assert approval.attributes["podium.approval.comment"] == "not today"
    assert approval.end_time > approval.start_time
    gate = tree.one("step gate")
    assert gate.status == "error" and gate.attributes["podium.status"] == "rejected"

    never = tree.one("step never")
    assert never.status == "unset" and never.attributes["podium.status"] == "skipped"


async def test_a_budget_warning_and_stop_are_spans_and_the_run_stays_open(tmp_path: Path) -> None:
    path = write_flow(
        tmp_path,
        """
        name: spendy
        budget: {run: 0.50, warn_at: 0.5}
        defaults: {provider: bedrock}
        providers: {bedrock: {models: {smart: anthropic.claude-3-5-sonnet-20240620-v1:0}}}
        agents: {w: {model: smart}}
        steps:
          a: {agent: w, prompt: "one"}
          b: {agent: w, prompt: "two", needs: [a]}
        mock:
          a: {reply: "x", usage: {input_tokens: 100000, output_tokens: 10000}}
          b: {reply: "y", usage: {input_tokens: 100000, output_tokens: 10000}}
        """,
    )
    store = MemoryStore()
    run = await podium.arun(path, plugins=load_plugins(entry_points_too=False), store=store, emulate=True)
    assert run.status == "stopped", run.error
    tree = Tree(spans_of(store.events(run.run_id)))
    [warning] = tree.named("budget warning")
    assert warning.kind == "budget" and tree.parent(warning).name == "invoke_workflow spendy"
    assert warning.attributes["podium.budget.budget"] == "run" and warning.attributes["podium.budget.limit"]
    [stop] = [s for s in tree.spans if s.name == "budget stop"]
    assert tree.parent(stop).name == "step b"
    assert stop.kind == "budget" and stop.status == "error" and "budget" in (stop.status_message or "")
    root = tree.one("invoke_workflow spendy")
    assert root.attributes["podium.status"] == "stopped" and root.end_time is None


def test_content_is_left_out_unless_asked_for(tmp_path: Path) -> None:
    store = MemoryStore()
    run = podium.run(flow_with_states(tmp_path), plugins=load_plugins(entry_points_too=False), store=store)
    events = store.events(run.run_id)
    plain = json.dumps([s.model_dump(mode="json") for s in spans_of(events)])
    assert "item a" not in plain and "done" not in plain and "Ship it" in plain
    assert "gen_ai.input.messages" not in plain and "gen_ai.output.messages" not in plain
    full = Tree(spans_of(events, content=True))
    [call] = [s for s in full.spans if s.kind == "call" and s.attributes.get("podium.item") == 0]
    assert json.loads(call.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == "item a"
    assert json.loads(call.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "done"


def test_live_and_stored_folds_end_the_same_spans(tmp_path: Path) -> None:
    store = MemoryStore()
    run = podium.run(flow_with_states(tmp_path), plugins=load_plugins(entry_points_too=False), store=store)
    events = store.events(run.run_id)
    live = TraceFold()
    ended = [span for event in events for span in live.feed(event)]
    stored = spans_of(events)
    assert {s.span_id for s in ended} | {s.span_id for s in live.spans() if s.end_time is None} == {
        s.span_id for s in stored
    }
    # the run waits: its span and the approval's stay open, everything else has ended
    assert {s.name for s in stored if s.end_time is None} == {
        "invoke_workflow states",
        "approval gate",
        "step gate",
    }


async def test_an_agent_engines_own_turns_are_children_of_the_call(tmp_path: Path) -> None:
    mock = {"ask": {"reply": "Rain.", "usage": {"input_tokens": 30, "output_tokens": 5}}}
    with VertexEmulator() as vertex:
        vertex.brain = ScriptedBrain(parsed(mock), provider="vertex")
        engine = vertex.add_engine("helper")
        path = write_flow(
            tmp_path,
            f"""
            name: engine
            defaults: {{provider: vertex}}
            providers: {{vertex: {json.dumps(vertex.settings())}}}
            agents: {{helper: {{vertex: {{engine: {engine}}}}}}}
            steps:
              ask: {{agent: helper, prompt: "weather?"}}
            """,
        )
        store = MemoryStore()
        run = await podium.arun(path, plugins=load_plugins(entry_points_too=False), store=store)
    assert run.status == "succeeded", run.error
    tree = Tree(spans_of(store.events(run.run_id)))
    [call] = [s for s in tree.spans if s.kind == "call"]
    assert call.name == "invoke_agent helper" and call.attributes["gen_ai.agent.id"] == engine
    [turn] = tree.children(call)
    assert turn.name == "chat" and turn.kind == "inner" and turn.attributes["gen_ai.agent.name"] == "helper"
    assert (turn.attributes["gen_ai.usage.input_tokens"], turn.attributes["gen_ai.usage.output_tokens"]) == (
        30,
        5,
    )
    assert call.start_time <= turn.start_time <= call.end_time


def test_agent_engine_tool_events_become_tool_spans_timed_by_their_events() -> None:
    # an ADK agent's events as Agent Engine streams them: a function call, its response, the answer
    base = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    at = [base + timedelta(milliseconds=ms) for ms in (0, 100, 400, 900, 1000)]
    events = [
        Event("r", 1, EventType.RUN_STARTED, data={"workflow": "w"}, at=at[0]),
        Event("r", 2, EventType.STEP_STARTED, "s", data={"agent": "a"}, at=at[0]),
        Event("r", 3, EventType.CALL_STARTED, "s", 1, {"provider": "vertex", "agent": "a"}, at[0]),
        Event(
            "r", 4, EventType.CALL_FINISHED, "s", 1,
            {
                "provider": "vertex", "usage": {"input_tokens": 9, "output_tokens": 3},
                "bound_to": {"kind": "engine", "id": "engines/1"},
                "native": {"events": [
                    {"author": "a", "timestamp": at[1].timestamp(), "content": {"parts": [
                        {"function_call": {"id": "c1", "name": "weather", "args": {"city": "Oslo"}}}]}},
                    {"author": "a", "timestamp": at[2].timestamp(), "content": {"parts": [
                        {"function_response": {"id": "c1", "name": "weather",
                                               "response": {"sky": "rain"}}}]}},
                    {"author": "a", "timestamp": at[3].timestamp(), "content": {"parts": [{"text": "Rain."}]},
                     "usage_metadata": {"prompt_token_count": 9, "candidates_token_count": 3}},
                ]},
            },
            at[4],
        ),
    ]  # fmt: skip
    tree = Tree(spans_of(events, content=True))
    [call] = [s for s in tree.spans if s.kind == "call"]
    [tool] = [s for s in tree.children(call) if s.kind == "tool"]
    assert tool.name == "execute_tool weather" and tool.attributes["gen_ai.tool.call.id"] == "c1"
    assert (tool.start_time, tool.end_time) == (at[1], at[2])  # from the call's event to its response's
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"city": "Oslo"}
    assert json.loads(tool.attributes["gen_ai.tool.call.result"]) == {"sky": "rain"}


def test_a_failed_run_that_is_resumed_is_one_run_span_and_one_span_per_step(tmp_path: Path) -> None:
    path = write_flow(
        tmp_path,
        """
        name: again
        defaults: {provider: local, retry: {attempts: 1}}
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: hi}
        mock:
          a: [{error: invalid_request}]
        """,
    )
    store = MemoryStore()
    plugins = load_plugins(entry_points_too=False)
    run = podium.run(path, store=store, plugins=plugins)
    assert run.status == "failed"
    podium.resume(run.run_id, store=store, plugins=plugins)
    tree = Tree(spans_of(store.events(run.run_id)))
    [root] = [s for s in tree.spans if s.kind == "run"]
    [step] = [s for s in tree.spans if s.kind == "step"]
    assert len({s.span_id for s in tree.spans}) == len(tree.spans)  # no id twice
    assert [s.name for s in tree.children(step)] == ["attempt 1", "attempt 2"]
    assert tree.parent(step) is root and root.end_time == max(s.end_time for s in tree.spans)
    assert [e.name for e in root.events] == ["resumed"]


def _step_labels(*tail: tuple[EventType, str | None, dict[str, Any]]) -> dict[str, Any]:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    events = [
        Event("r", 1, EventType.RUN_STARTED, data={"workflow": "w"}, at=at),
        Event("r", 2, EventType.STEP_STARTED, "s", data={"agent": "a"}, at=at),
        *(
            Event("r", 3 + i, t, step, data=d, at=at + timedelta(seconds=i + 1))
            for i, (t, step, d) in enumerate(tail)
        ),
    ]
    return {
        s.attributes["podium.step"]: s.attributes.get("podium.status")
        for s in spans_of(events)
        if s.kind == "step"
    }


@pytest.mark.parametrize(
    ("tail", "label"),
    [
        # what `podium show` says of the step, the trace (and the HTML report's graph) says too
        ([(EventType.RUN_FINISHED, None, {"status": "cancelled"})], "cancelled"),
        ([(EventType.APPROVAL_REQUESTED, "s", {"message": "go?"})], "waiting"),
        ([(EventType.STEP_FAILED, "s", {"kind": "rejected", "message": "rejected by ana"})], "rejected"),
        ([(EventType.STEP_FAILED, "s", {"kind": "budget", "message": "over", "stopped": True})], "stopped"),
    ],
)
def test_a_step_that_was_cancelled_waits_was_rejected_or_stopped_is_labelled_so(
    tail: list[tuple[EventType, str | None, dict[str, Any]]], label: str
) -> None:
    assert _step_labels(*tail)["s"] == label


def test_the_reports_graph_shows_a_cancelled_runs_unstarted_steps_as_cancelled(tmp_path: Path) -> None:
    from podium.trace.html import _graph

    flow = write_flow(
        tmp_path,
        "name: w\nagents: {w: {instructions: x}}\nsteps:\n  s: {agent: w}\n  t: {agent: w, needs: [s]}\n",
    )
    at = datetime(2026, 12, 1, tzinfo=UTC)
    events = [
        Event("r", 1, EventType.RUN_STARTED, data={"workflow": "w"}, at=at),
        Event("r", 2, EventType.STEP_STARTED, "s", data={"agent": "w"}, at=at),
        Event("r", 3, EventType.RUN_FINISHED, data={"status": "cancelled"}, at=at + timedelta(seconds=1)),
    ]
    svg = _graph(podium.load(flow), spans_of(events))
    assert "<title>s: agent w, cancelled</title>" in svg and "<title>t: agent w, cancelled</title>" in svg
