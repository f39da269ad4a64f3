"""A podium step calling an A2A agent served by the a2a-sdk's own server, over JSON-RPC and REST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from a2a_support import agent_server, ending, replying, working_then

import podium
from podium.core.errors import WorkflowError
from podium.core.events import RunStatus
from podium.core.store import SQLiteStore


def flow(tmp_path: Path, url: str, *, extra: str = "", step: str = "") -> Path:
    """A one-step workflow whose agent is the A2A agent at `url` (`extra`: more binding keys)."""
    path = tmp_path / "flow.yaml"
    path.write_text(
        f"""
name: a2a-flow
defaults: {{provider: a2a, retry: {{attempts: 3, backoff: 0.01}}}}
providers: {{a2a: {{poll_interval: 0.05}}}}
inputs: {{topic: {{type: string, default: tides}}}}
agents:
  helper:
    a2a: {{url: "{url}"{extra}}}
steps:
  ask:
    agent: helper
    prompt: "Summarise {{{{ inputs.topic }}}}"
{step}
outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
"""
    )
    return path


def run(path: Path, db: Path) -> podium.Run:
    return podium.run(path, store=db)


@pytest.mark.parametrize("transport", ["jsonrpc", "rest"])
def test_a_step_gets_the_agents_reply_and_usage_over_each_transport(transport: str, tmp_path: Path) -> None:
    with agent_server(
        replying("the tides are slow", usage={"input_tokens": 40, "output_tokens": 9})
    ) as agent:
        result = run(flow(tmp_path, agent.url, extra=f", transport: {transport}"), tmp_path / "runs.db")
        assert result.status is RunStatus.SUCCEEDED
        assert result.outputs == {"answer": "the tides are slow"}
        step = result.steps["ask"]
        assert (step.usage.input_tokens, step.usage.output_tokens) == (40, 9)
        wanted = "jsonrpc:SendMessage" if transport == "jsonrpc" else "rest:POST /message:send"
        assert wanted in agent.calls
        # one card read per run; the message id is the call's idempotency key
        assert len(agent.messages) == 1


def test_a_data_part_is_the_steps_output_validated_against_its_schema(tmp_path: Path) -> None:
    schema = "    output: {schema: {type: object, required: [score], properties: {score: {type: integer}}}}"
    with agent_server(replying("", data={"score": 7, "verdict": "publish"})) as agent:
        result = run(flow(tmp_path, agent.url, step=schema), tmp_path / "runs.db")
        assert result.status is RunStatus.SUCCEEDED
        assert result.steps["ask"].output == {"score": 7, "verdict": "publish"}
    with agent_server(replying("", data={"score": "high"})) as agent:
        result = run(flow(tmp_path, agent.url, step=schema), tmp_path / "runs2.db")
        assert result.status is RunStatus.FAILED  # no silent failure: the data must match the schema
        assert result.steps["ask"].error.kind == "output_invalid"  # type: ignore[union-attr]


def test_an_agent_that_reports_no_usage_costs_unknown_not_zero(tmp_path: Path) -> None:
    async def no_usage(_: str, updater: Any, context: Any) -> None:
        from a2a.types import Part

        await updater.add_artifact([Part(text="fine")])
        await updater.complete()

    with agent_server(no_usage) as agent:
        db = tmp_path / "runs.db"
        result = run(flow(tmp_path, agent.url), db)
        assert result.status is RunStatus.SUCCEEDED
        events = [e for e in SQLiteStore(db).events(result.run_id) if str(e.type) == "CallFinished"]
        assert events[0].data["native"]["usage_unknown"] is True
        from podium.testing import run_cli

        cost = json.loads(run_cli("cost", result.run_id, "--json", db=db).stdout)
        assert cost["total"]["unknown_usage_calls"] == 1


def test_a_task_that_works_a_while_is_followed_with_tasks_get(tmp_path: Path) -> None:
    with agent_server(working_then(0.3, replying("done at last"))) as agent:
        path = flow(tmp_path, agent.url)
        result = run(path, tmp_path / "runs.db")
        assert result.status is RunStatus.SUCCEEDED and result.outputs == {"answer": "done at last"}


@pytest.mark.parametrize(
    ("state", "kind", "attempts"),
    [("failed", "agent_error", 1), ("rejected", "invalid_request", 1), ("canceled", "agent_error", 1),
     ("auth-required", "auth", 1)],
)  # fmt: skip
def test_an_ended_task_fails_the_step_with_the_agents_words(
    state: str, kind: str, attempts: int, tmp_path: Path
) -> None:
    with agent_server(ending(state, "the ledger is closed")) as agent:
        result = run(flow(tmp_path, agent.url), tmp_path / "runs.db")
        assert result.status is RunStatus.FAILED
        step = result.steps["ask"]
        assert step.error is not None and step.error.kind == kind
        assert "the ledger is closed" in step.error.message and state in step.error.message
        assert step.attempts == attempts


def test_throttling_and_server_errors_are_retried_auth_is_not(tmp_path: Path) -> None:
    with agent_server(replying("after a wait")) as agent:
        agent.http_status += [(429, {"Retry-After": "0"}), (503, {})]
        result = run(flow(tmp_path, agent.url), tmp_path / "runs.db")
        assert result.status is RunStatus.SUCCEEDED and result.steps["ask"].attempts == 3
    with agent_server(replying("never")) as agent:
        agent.http_status += [(401, {})] * 5
        result = run(flow(tmp_path, agent.url), tmp_path / "runs2.db")
        assert result.status is RunStatus.FAILED
        assert result.steps["ask"].error.kind == "auth" and result.steps["ask"].attempts == 1  # type: ignore[union-attr]


def test_a_bearer_token_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def check(_: str, updater: Any, context: Any) -> None:
        from a2a.types import Part

        seen.append(str(context.call_context.state.get("headers", {}).get("authorization", "")).lower())
        await updater.add_artifact([Part(text="ok")])
        await updater.complete()

    with agent_server(check) as agent:
        path = flow(tmp_path, agent.url, extra=", auth: {type: bearer, token_env: HELPER_TOKEN}")
        monkeypatch.delenv("HELPER_TOKEN", raising=False)
        missing = run(path, tmp_path / "runs.db")
        assert missing.status is RunStatus.FAILED and "HELPER_TOKEN" in missing.steps["ask"].error.message  # type: ignore[union-attr]
        monkeypatch.setenv("HELPER_TOKEN", "tok-123")
        result = run(path, tmp_path / "runs2.db")
        assert result.status is RunStatus.SUCCEEDED
        assert seen == ["bearer tok-123"]


def test_a_url_with_no_agent_card_says_so(tmp_path: Path) -> None:
    with agent_server(replying("x")) as agent:
        result = run(flow(tmp_path, agent.url + "/nothing-here"), tmp_path / "runs.db")
        assert result.status is RunStatus.FAILED
        error = result.steps["ask"].error
        assert error is not None and "has no agent card" in error.message and error.kind == "invalid_request"


def test_a_card_of_an_unsupported_version_names_the_versions(tmp_path: Path) -> None:
    with agent_server(replying("x"), versions=("2.0",)) as agent:
        result = run(flow(tmp_path, agent.url), tmp_path / "runs.db")
        error = result.steps["ask"].error
        assert error is not None and "speaks A2A 2.0; podium speaks A2A 1.0, 0.3" in error.message


def test_a_transport_the_card_does_not_offer_names_those_it_does(tmp_path: Path) -> None:
    with agent_server(replying("x"), transports=("JSONRPC",)) as agent:
        result = run(flow(tmp_path, agent.url, extra=", transport: rest"), tmp_path / "runs.db")
        error = result.steps["ask"].error
        assert error is not None and "does not serve rest (its card offers: JSONRPC)" in error.message


def test_one_clouds_auth_against_anothers_host_is_refused_at_load(tmp_path: Path) -> None:
    path = flow(
        tmp_path, "https://agent.us-central1-aiplatform.googleapis.com/v1/x", extra=", auth: {type: sigv4}"
    )
    with pytest.raises(WorkflowError) as caught:
        podium.load(path)
    assert "sigv4 is AWS's, but" in str(caught.value) and "Google Cloud host" in str(caught.value)


RUNNER = """
import asyncio, sys
from podium import api

asyncio.run(api.arun(sys.argv[1], store=sys.argv[2], run_id="R1"))
"""


def test_a_resume_follows_the_task_in_flight_instead_of_sending_again(tmp_path: Path) -> None:
    with agent_server(working_then(1.5, replying("finished once"))) as agent:
        path = flow(tmp_path, agent.url)
        db = tmp_path / "runs.db"
        env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        child = subprocess.Popen([sys.executable, "-c", RUNNER, str(path), str(db)], env=env)
        try:
            deadline = time.monotonic() + 30
            while not agent.messages and time.monotonic() < deadline:  # the agent has the message
                time.sleep(0.02)
            assert agent.messages
        finally:
            child.kill()
            child.wait()
        assert agent.jsonrpc_methods().count("SendMessage") == 1
        resumed = podium.resume("R1", store=db)
        assert resumed.status is RunStatus.SUCCEEDED and resumed.outputs == {"answer": "finished once"}
        methods = agent.jsonrpc_methods()
        assert methods.count("SendMessage") == 1  # not sent again ...
        assert "ListTasks" in methods and "GetTask" in methods  # ... found and followed
        assert len(agent.messages) == 1


def asking(question: str) -> Any:
    """An agent that first asks `question` (input-required), then completes with what it was told."""

    async def behave(text: str, updater: Any, context: Any) -> None:
        from a2a.types import Part

        if context.current_task is not None and context.current_task.status.state == 6:  # input-required
            await updater.add_artifact([Part(text=f"refunded {text}")])
            await updater.complete()
            return
        await updater.requires_input(updater.new_agent_message([Part(text=question)]))

    return behave


def test_input_required_waits_for_a_person_and_the_answer_goes_back_on_the_same_task(tmp_path: Path) -> None:
    from podium.testing import run_cli

    with agent_server(asking("Which account should I refund?")) as agent:
        db = tmp_path / "runs.db"
        path = flow(tmp_path, agent.url)
        first = json.loads(run_cli("run", str(path), "--json", "-q", db=db).stdout)
        assert first["status"] == "waiting"
        asked = json.loads(run_cli("runs", "--waiting", "--json", db=db).stdout)
        assert "Which account should I refund?" in json.dumps(asked)
        decided = run_cli("approve", first["run_id"], "ask", "--comment", "account 42", "--resume", db=db)
        assert decided.returncode == 0, decided.stderr
        shown = json.loads(run_cli("show", first["run_id"], "--json", db=db).stdout)
        assert shown["status"] == "succeeded" and shown["outputs"] == {"answer": "refunded account 42"}
        # the question's task was found again and answered on it (the agent saw its own task in
        # input-required, so it completed): the prompt was sent once, the answer once
        assert agent.jsonrpc_methods().count("SendMessage") == 2 and len(agent.messages) == 2


def test_a_rejected_question_ends_the_step_rejected(tmp_path: Path) -> None:
    from podium.testing import run_cli

    with agent_server(asking("Refund everything?")) as agent:
        db = tmp_path / "runs.db"
        first = json.loads(run_cli("run", str(flow(tmp_path, agent.url)), "--json", "-q", db=db).stdout)
        run_cli("reject", first["run_id"], "ask", "--comment", "no", db=db)
        resumed = run_cli("resume", first["run_id"], "--json", "-q", db=db)
        assert resumed.returncode == 1
        shown = json.loads(resumed.stdout)
        assert shown["status"] == "failed" and shown["steps"]["ask"]["error"]["kind"] == "rejected"
        assert len(agent.messages) == 1  # nothing was sent to the agent on a rejection


def test_sigv4_signs_each_request_for_agentcore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def check(_: str, updater: Any, context: Any) -> None:
        from a2a.types import Part

        seen.append(str(context.call_context.state.get("headers", {}).get("authorization", "")))
        await updater.add_artifact([Part(text="signed")])
        await updater.complete()

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    with agent_server(check) as agent:
        path = flow(tmp_path, agent.url, extra=", auth: {type: sigv4, region: us-west-2}")
        result = run(path, tmp_path / "runs.db")
        assert result.status is RunStatus.SUCCEEDED
    assert seen and seen[0].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-west-2/bedrock-agentcore/aws4_request" in seen[0] and "Signature=" in seen[0]


def test_a_card_offering_only_transports_podium_cannot_speak_names_them(tmp_path: Path) -> None:
    with agent_server(replying("x"), transports=("WEBSOCKET",)) as agent:
        result = run(flow(tmp_path, agent.url), tmp_path / "runs.db")
        error = result.steps["ask"].error
        assert error is not None and error.kind == "invalid_request"
        assert "offers only transports podium cannot speak (WEBSOCKET)" in error.message
        assert "podium speaks grpc, jsonrpc, rest" in error.message
