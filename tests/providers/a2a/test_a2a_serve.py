"""`podium serve FLOW --a2a`: a workflow as an A2A agent, called by the a2a-sdk client and by podium."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.types import TaskState
from a2a_support import free_port

import podium
from podium.core.events import RunStatus
from podium.core.store import open_store
from podium.testing import run_cli

BRIEF = """
name: brief
description: A one-line brief on a topic.
inputs:
  topic: {type: string}
  tone: {type: string, default: plain}
agents:
  writer: {model: m}
steps:
  draft: {agent: writer, prompt: "A {{ inputs.tone }} brief on {{ inputs.topic }}"}
outputs: {brief: "{{ steps.draft.output }}", topic: "{{ inputs.topic }}"}
mock:
  draft: {reply: "Tides are slow and sure.", usage: {input_tokens: 10, output_tokens: 6}}
"""
GATED = """
name: gated
inputs: {topic: {type: string}}
agents:
  writer: {model: m}
steps:
  draft: {agent: writer, prompt: "{{ inputs.topic }}"}
  signoff: {needs: [draft], approval: "Ship the brief on {{ inputs.topic }}?"}
  publish: {agent: writer, needs: [signoff], prompt: "ship"}
outputs: {shipped: "{{ steps.publish.output }}", decision: "{{ steps.signoff.output.decision }}"}
mock: {draft: a draft, publish: shipped}
"""
SLOW = """
name: slow
agents:
  sleeper: {function: "slow_agents:nap"}
steps:
  nap: {agent: sleeper, prompt: zzz}
"""


@contextmanager
def serving(tmp_path: Path, text: str, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    flow = tmp_path / "served.yaml"
    flow.write_text(text)
    (tmp_path / "slow_agents.py").write_text(
        "import time\n\ndef nap(prompt: str) -> str:\n    time.sleep(30)\n    return 'x'\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "serve", str(flow), "--a2a", "--port", str(port), *extra],
        env={**os.environ, "PODIUM_DB": str(tmp_path / "served.db"), **(env or {})}, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/.well-known/agent-card.json", timeout=1).status_code in (200, 401):
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(proc.stderr.read() if proc.stderr else "no server")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


async def _send(base: str, text: str | None = None, data: Any = None, task_id: str | None = None) -> Any:
    from a2a.client import ClientConfig, create_client
    from a2a.types import Message, Part, Role, SendMessageRequest
    from google.protobuf import json_format, struct_pb2

    client = await create_client(base, ClientConfig(streaming=False))
    try:
        part = Part(text=text) if data is None else Part(data=json_format.ParseDict(data, struct_pb2.Value()))
        message = Message(
            role=Role.ROLE_USER, message_id=os.urandom(8).hex(), parts=[part], task_id=task_id or ""
        )
        answers = [a async for a in client.send_message(SendMessageRequest(message=message))]
        return answers[-1].task
    finally:
        await client.close()


def _outputs(task: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(task.artifacts[0].parts[0].data)


def test_a_message_runs_the_workflow_and_the_task_carries_its_outputs(tmp_path: Path) -> None:
    with serving(tmp_path, BRIEF) as base:
        card = httpx.get(base + "/.well-known/agent-card.json").json()
        assert card["name"] == "brief"
        skill = card["skills"][0]["description"]
        assert skill.startswith("A one-line brief on a topic. Inputs: topic: string")
        task = asyncio.run(_send(base, "tides"))
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert _outputs(task) == {"brief": "Tides are slow and sure.", "topic": "tides"}
        by_data = asyncio.run(_send(base, data={"topic": "wind", "tone": "bold"}))
        assert _outputs(by_data)["topic"] == "wind"
    store = open_store(tmp_path / "served.db")
    try:
        assert [r.status for r in store.runs()] == ["succeeded", "succeeded"]  # durable, as any run
    finally:
        store.close()


def test_an_approval_is_input_required_and_the_callers_reply_decides_it(tmp_path: Path) -> None:
    with serving(tmp_path, GATED) as base:
        task = asyncio.run(_send(base, "tides"))
        assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        assert "Ship the brief on tides?" in task.status.message.parts[0].text
        done = asyncio.run(_send(base, "approve looks good", task_id=task.id))
        assert done.status.state == TaskState.TASK_STATE_COMPLETED
        assert _outputs(done) == {"shipped": "shipped", "decision": "approved"}
        rejected = asyncio.run(_send(base, "tides"))
        no = asyncio.run(_send(base, "reject not today", task_id=rejected.id))
        assert no.status.state == TaskState.TASK_STATE_FAILED  # a rejected approval is no success
    runs = json.loads(run_cli("runs", "--json", db=tmp_path / "served.db").stdout)
    assert sorted(r["status"] for r in runs) == ["failed", "succeeded"]
    shown = json.loads(run_cli("show", runs[-1]["run_id"], "--json", db=tmp_path / "served.db").stdout)
    assert shown["steps"]["signoff"]["approval"]["decision"]["by"] == "a2a"


def test_cancel_cancels_the_run(tmp_path: Path) -> None:
    async def start_then_cancel(base: str) -> Any:
        from a2a.client import ClientConfig, create_client
        from a2a.types import (
            CancelTaskRequest,
            Message,
            Part,
            Role,
            SendMessageConfiguration,
            SendMessageRequest,
        )

        client = await create_client(base, ClientConfig(streaming=False))
        try:
            message = Message(role=Role.ROLE_USER, message_id="m-slow", parts=[Part(text="go")])
            request = SendMessageRequest(
                message=message, configuration=SendMessageConfiguration(return_immediately=True)
            )
            task = [a async for a in client.send_message(request)][-1].task
            await asyncio.sleep(1.0)
            return await client.cancel_task(CancelTaskRequest(id=task.id))
        finally:
            await client.close()

    with serving(tmp_path, SLOW) as base:
        cancelled = asyncio.run(start_then_cancel(base))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        time.sleep(0.5)
    runs = json.loads(run_cli("runs", "--json", db=tmp_path / "served.db").stdout)
    assert [r["status"] for r in runs] == ["cancelled"]


def test_podium_calls_a_podium_workflow_served_over_a2a(tmp_path: Path) -> None:
    with serving(tmp_path, BRIEF) as base:
        caller = tmp_path / "caller.yaml"
        caller.write_text(
            f"""
name: caller
agents:
  remote: {{a2a: {{url: "{base}"}}, provider: a2a}}
steps:
  ask: {{agent: remote, prompt: tides}}
outputs: {{brief: "{{{{ steps.ask.output.brief }}}}"}}
"""
        )
        run = podium.run(caller, store=tmp_path / "caller.db")
        assert run.status is RunStatus.SUCCEEDED
        assert run.outputs == {"brief": "Tides are slow and sure."}


def test_a_token_is_required_off_localhost_and_checked_when_given(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(BRIEF)
    refused = run_cli("serve", str(flow), "--a2a", "--host", "0.0.0.0", db=tmp_path / "x.db")
    assert refused.returncode == 2 and "--token" in refused.stderr
    with serving(tmp_path, BRIEF, "--token", "s3cret") as base:
        assert httpx.get(base + "/.well-known/agent-card.json").status_code == 401
        ok = httpx.get(base + "/.well-known/agent-card.json", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_a_workflow_whose_inputs_a_message_cannot_give_is_refused(tmp_path: Path) -> None:
    flow = tmp_path / "two.yaml"
    flow.write_text(BRIEF.replace("tone: {type: string, default: plain}", "tone: {type: string}"))
    refused = run_cli("serve", str(flow), "--a2a", db=tmp_path / "x.db")
    assert refused.returncode == 2
    assert "topic (string), tone (string) are required" in refused.stderr and "default" in refused.stderr


@pytest.mark.parametrize("missing", ["--a2a"])
def test_serve_without_a_protocol_says_which(missing: str, tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(BRIEF)
    done = run_cli("serve", str(flow), db=tmp_path / "x.db")
    assert done.returncode == 2 and missing in done.stderr
