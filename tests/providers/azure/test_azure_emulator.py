"""The Azure emulator through the real SDKs: azure-ai-projects for agents, its OpenAI client for the rest.

Every request goes over HTTPS to 127.0.0.1 (azure-core sends a bearer token only over TLS), the
client trusting only the emulator's throwaway CA.
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Iterable
from typing import Any

import httpx
import openai
import pytest
from azure.ai.projects.models import PromptAgentDefinition
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure_support import openai_client, project_client, scripted

from podium.providers.azure.emulator import AzureEmulator


def test_a_model_deployment_answers_through_get_openai_client_with_usage(emulator: AzureEmulator) -> None:
    scripted(
        emulator,
        {
            "ask": {
                "reply": "Paris",
                "usage": {"input_tokens": 30, "output_tokens": 2, "cache_read_tokens": 10},
            }
        },
    )
    client = openai_client(emulator)

    reply = client.responses.create(
        model="gpt-4o", input="Capital of France?", metadata={"podium_step": "ask", "podium_run": "r1"}
    )

    assert reply.output_text == "Paris" and reply.model == "gpt-4o" and reply.status == "completed"
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (40, 2)
    assert reply.usage.input_tokens_details.cached_tokens == 10
    [call] = emulator.requests
    assert call.operation == "CreateResponse" and call.detail["step"] == "ask"
    assert str(client.base_url) == f"{emulator.project_endpoint}/openai/v1/"
    assert emulator.endpoint_url.startswith("https://127.0.0.1:")


def test_an_agent_version_created_with_the_sdk_answers_by_name_in_a_conversation(
    emulator: AzureEmulator,
) -> None:
    project = project_client(emulator)
    made = project.agents.create_version(
        agent_name="helper", definition=PromptAgentDefinition(model="gpt-4o", instructions="Be brief.")
    )
    assert (made.name, made.version) == ("helper", "1")
    again = project.agents.create_version(
        agent_name="helper", definition=PromptAgentDefinition(model="gpt-4o", instructions="Be briefer.")
    )
    assert again.version == "2"
    assert project.agents.get("helper").versions.latest.version == "2"
    assert (
        project.agents.get_version(agent_name="helper", agent_version="1").definition["instructions"]
        == "Be brief."
    )

    client = openai_client(emulator)
    conversation = client.conversations.create()
    first = client.responses.create(
        input="hello",
        conversation=conversation.id,
        extra_body={"agent_reference": {"name": "helper", "type": "agent_reference"}},
    )
    second = client.responses.create(
        input="again",
        conversation=conversation.id,
        extra_body={"agent_reference": {"name": "helper", "version": "1", "type": "agent_reference"}},
    )

    assert (first.output_text, second.output_text) == ("hello", "again")  # the echo brain
    items = client.conversations.items.list(conversation.id, order="asc")
    said = [(i.type, getattr(i, "role", None)) for i in items]
    assert said == [("message", "user"), ("message", "assistant")] * 2
    assert emulator.requests[-2].detail["agent_name"] == "helper"


def test_the_services_own_errors_come_back_as_the_sdks_exceptions(emulator: AzureEmulator) -> None:
    client = openai_client(emulator)
    project = project_client(emulator)

    with pytest.raises(openai.NotFoundError) as missing_agent:
        client.responses.create(
            input="hi", extra_body={"agent_reference": {"name": "nobody", "type": "agent_reference"}}
        )
    assert missing_agent.value.status_code == 404 and "nobody" in str(missing_agent.value)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-4o", input="hi", conversation="conv_missing")
    with pytest.raises(openai.BadRequestError) as no_model:
        client.responses.create(input="hi")
    assert no_model.value.body["code"] == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-4o", input="hi", metadata={f"k{i}": "v" for i in range(17)})
    with pytest.raises(ResourceNotFoundError):
        project.agents.get("nobody")
    with pytest.raises(HttpResponseError) as bad_name:
        project.agents.create_version(agent_name="-bad-", definition=PromptAgentDefinition(model="gpt-4o"))
    assert bad_name.value.status_code == 400 and bad_name.value.error.code == "invalid_parameters"

    emulator.deployments = {"gpt-4o"}
    with pytest.raises(openai.NotFoundError) as no_deployment:
        client.responses.create(model="gpt-5-nano", input="hi")
    assert no_deployment.value.body["code"] == "DeploymentNotFound"


def test_requests_without_a_token_or_api_version_are_refused(emulator: AzureEmulator) -> None:
    verify = ssl.create_default_context(cafile=emulator.ca_file)
    with httpx.Client(verify=verify) as raw:
        anonymous = raw.post(
            f"{emulator.project_endpoint}/openai/v1/responses", json={"model": "m", "input": "x"}
        )
        unversioned = raw.get(f"{emulator.project_endpoint}/agents", headers={"Authorization": "Bearer t"})
        other_project = raw.get(
            f"{emulator.endpoint_url}/api/projects/other/agents?api-version=v1",
            headers={"Authorization": "Bearer t"},
        )
    assert anonymous.status_code == 401
    assert unversioned.status_code == 400 and unversioned.json()["error"]["param"] == "api-version"
    assert other_project.status_code == 404


def test_the_emulator_is_trusted_only_through_its_own_ca(emulator: AzureEmulator) -> None:
    with httpx.Client() as system_trust, pytest.raises(httpx.ConnectError):
        system_trust.get(f"{emulator.project_endpoint}/agents?api-version=v1")


def test_a_throttle_fault_is_a_429_with_retry_after_through_openai(emulator: AzureEmulator) -> None:
    emulator.faults.throttle(retry_after=3)
    with pytest.raises(openai.RateLimitError) as throttled:
        openai_client(emulator).responses.create(model="gpt-4o", input="hi")
    assert throttled.value.response.headers["retry-after"] == "3"
    assert throttled.value.body["code"] == "too_many_requests"
    assert [(e.operation, e.status, e.fault) for e in emulator.requests] == [
        ("CreateResponse", 429, "throttle")
    ]


def test_a_scripted_tool_call_is_a_function_call_item_then_the_answer(emulator: AzureEmulator) -> None:
    scripted(
        emulator, {"ask": [{"tool": {"name": "weather", "input": {"city": "Oslo"}}}, {"reply": "Rainy."}]}
    )
    client = openai_client(emulator)
    asked = client.responses.create(model="gpt-4o", input="Weather in Oslo?", metadata={"podium_step": "ask"})
    [call] = asked.output
    assert call.type == "function_call" and call.name == "weather" and call.arguments == '{"city": "Oslo"}'

    answered = client.responses.create(
        model="gpt-4o",
        input=[
            {"role": "user", "content": "Weather in Oslo?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain, 9C"},
        ],
        metadata={"podium_step": "ask"},
    )
    assert answered.output_text == "Rainy."
    assert emulator.requests[-1].detail["tool_result"] == ["rain, 9C"]


def test_the_sdks_listings_page_through_every_agent_and_version_and_end(emulator: AzureEmulator) -> None:
    # azure-ai-projects' pagers follow last_id with ?after= until a page is empty: a page that
    # ignored `after` made list() loop for ever
    project = project_client(emulator)
    names = [f"agent-{i:02d}" for i in range(23)]
    for name in names:
        project.agents.create_version(agent_name=name, definition=PromptAgentDefinition(model="gpt-4o"))
    for _ in range(2):
        project.agents.create_version(agent_name="agent-00", definition=PromptAgentDefinition(model="gpt-4o"))

    def listed(pager: Iterable[Any]) -> list[str]:
        return [a.name for a in itertools.islice(pager, 100)]  # a pager that never ends stops at 100

    assert listed(project.agents.list()) == names  # 20, then 3, then an empty page
    assert listed(project.agents.list(limit=5)) == names
    assert [v.version for v in itertools.islice(project.agents.list_versions(agent_name="agent-00"), 9)] == [
        "3",
        "2",
        "1",
    ]
    with pytest.raises(HttpResponseError) as refused:
        list(project.agents.list(limit=0))
    assert refused.value.status_code == 400 and "limit" in str(refused.value.message)
