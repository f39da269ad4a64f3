"""The Azure emulator driven by the plain openai client (not azure-ai-projects' ``get_openai_client``),
as a user of any OpenAI-compatible tool points it at a Foundry project's ``/openai/v1``.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import openai
import pytest
from azure_support import scripted

from podium.providers._kit.brains import Turn
from podium.providers.azure.emulator import TOKEN, AzureEmulator


@pytest.fixture
def client(emulator: AzureEmulator) -> Iterator[openai.OpenAI]:
    verify = ssl.create_default_context(cafile=emulator.ca_file)
    with openai.OpenAI(
        base_url=f"{emulator.project_endpoint}/openai/v1",
        api_key=TOKEN,
        http_client=httpx.Client(verify=verify),
        max_retries=0,
    ) as made:
        yield made


def test_a_streamed_response_comes_as_the_services_events(
    emulator: AzureEmulator, client: openai.OpenAI
) -> None:
    scripted(
        emulator,
        {"ask": {"reply": "Paris is the capital.", "usage": {"input_tokens": 9, "output_tokens": 5}}},
    )
    events = list(
        client.responses.create(
            model="gpt-4o", input="Capital of France?", metadata={"podium_step": "ask"}, stream=True
        )
    )
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == "Paris is the capital."
    done = events[-1].response
    assert done.status == "completed" and done.output_text == "Paris is the capital."
    assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (9, 5)
    assert (
        client.responses.retrieve(done.id).output_text == "Paris is the capital."
    )  # stored, as the service does


def test_the_stream_helper_and_a_streamed_function_call(
    emulator: AzureEmulator, client: openai.OpenAI
) -> None:
    scripted(
        emulator, {"ask": [{"tool": {"name": "weather", "input": {"city": "Oslo"}}}, {"reply": "Rainy."}]}
    )
    tools = [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {}}}]
    with client.responses.stream(
        model="gpt-4o",
        input="Weather in Oslo?",
        tools=tools,
        metadata={"podium_step": "ask"},  # type: ignore[arg-type]
    ) as stream:
        arguments = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    [call] = final.output
    assert [t.name for t in final.tools] == ["weather"]  # the request's tools, echoed
    assert call.type == "function_call" and call.name == "weather"
    assert "".join(arguments) == call.arguments == '{"city": "Oslo"}'


def test_stream_faults_reach_the_client(emulator: AzureEmulator, client: openai.OpenAI) -> None:
    emulator.faults.cut(operation="CreateResponse")
    with pytest.raises(openai.APIConnectionError):
        list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    emulator.faults.stream_error("server_error", operation="CreateResponse")
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    assert [e.type for e in events] == ["response.created", "error"]  # the service's error event
    assert events[-1].code == "server_error"


def test_conversations_and_their_items(emulator: AzureEmulator, client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "I am Ada."}]
    )
    reply = client.responses.create(model="gpt-4o", input="Who am I?", conversation=conversation.id)
    assert reply.output_text == "Who am I?"  # the echo brain

    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [(i.type, i.role) for i in items] == [
        ("message", "user"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    first = client.conversations.items.retrieve(items[0].id, conversation_id=conversation.id)
    assert first.content[0].type == "input_text" and first.content[0].text == "I am Ada."
    [asked] = list(client.responses.input_items.list(reply.id))
    assert asked.id == items[1].id  # one item, one id: in the conversation and the response's inputs

    added = client.conversations.items.create(conversation.id, items=[{"role": "user", "content": "More."}])
    assert len(added.data) == 1
    client.conversations.items.delete(items[0].id, conversation_id=conversation.id)
    assert len(list(client.conversations.items.list(conversation.id))) == 3
    assert client.conversations.update(conversation.id, metadata={"topic": "names"}).metadata == {
        "topic": "names"
    }
    client.responses.delete(reply.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(reply.id)


def test_previous_response_id_continues_the_exchange(emulator: AzureEmulator, client: openai.OpenAI) -> None:
    seen: list[list[tuple[str, str]]] = []

    def brain(turn: Turn) -> str:
        seen.append([(m.role, m.content) for m in turn.messages])
        return f"answer {len(seen)}"

    emulator.brain = brain
    first = client.responses.create(model="gpt-4o", input="one", temperature=0.5)
    second = client.responses.create(model="gpt-4o", input="two", previous_response_id=first.id)
    third = client.responses.create(model="gpt-4o", input="three", previous_response_id=second.id)
    assert seen[-1] == [
        ("user", "one"),
        ("assistant", "answer 1"),
        ("user", "two"),
        ("assistant", "answer 2"),
        ("user", "three"),
    ]
    assert third.previous_response_id == second.id and first.temperature == 0.5
    assert first.text is not None and first.text.format.type == "text"

    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-4o", input="x", previous_response_id="resp_gone")
    unstored = client.responses.create(model="gpt-4o", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_malformed_bodies_are_400s_and_unserved_operations_501s(
    emulator: AzureEmulator, client: openai.OpenAI
) -> None:
    verify = ssl.create_default_context(cafile=emulator.ca_file)
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(verify=verify, headers=auth) as raw:
        for path in ("openai/v1/responses", "openai/v1/conversations", "agents/a/versions?api-version=v1"):
            for body in (b"{not json", b"[1]"):
                reply = raw.post(f"{emulator.project_endpoint}/{path}", content=body)
                assert reply.status_code == 400, (path, body)
                assert reply.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.InternalServerError) as unserved:
        client.responses.input_tokens.count(model="gpt-4o", input="hi")
    assert unserved.value.status_code == 501 and "emulator: CountInputTokens" in unserved.value.message


def test_out_of_range_sampling_and_an_unasked_tool_output_are_refused(client: openai.OpenAI) -> None:
    # as the service: a 400 the SDK raises, never an answer to a request it would refuse
    with pytest.raises(openai.BadRequestError) as hot:
        client.responses.create(model="gpt-4o", input="hi", temperature=5)
    assert hot.value.code == "decimal_above_max_value" and "'temperature'" in hot.value.message
    with pytest.raises(openai.BadRequestError) as orphan:
        client.responses.create(
            model="gpt-4o", input=[{"type": "function_call_output", "call_id": "call_9", "output": "4"}]
        )
    assert "No tool call found for function call output with call_id call_9" in orphan.value.message
    asked = {"type": "function_call", "call_id": "call_9", "name": "add", "arguments": "{}"}
    answered = {"type": "function_call_output", "call_id": "call_9", "output": "4"}
    assert client.responses.create(model="gpt-4o", input=[asked, answered]).status == "completed"


def test_a_forced_tool_choice_is_a_function_call_and_a_json_schema_answer_is_json(
    client: openai.OpenAI,
) -> None:
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    for choice in ({"type": "function", "name": "get_weather"}, "required"):
        reply = client.responses.create(model="gpt-4o", input="Paris", tools=tools, tool_choice=choice)
        [call] = reply.output
        assert call.type == "function_call" and (call.name, call.arguments) == (
            "get_weather",
            '{"city": "Paris"}',
        )
    with pytest.raises(openai.BadRequestError):
        client.responses.create(
            model="gpt-4o", input="x", tools=tools, tool_choice={"type": "function", "name": "nope"}
        )
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    text = {"format": {"type": "json_schema", "name": "c", "schema": schema, "strict": True}}
    assert client.responses.create(model="gpt-4o", input="Oslo", text=text).output_text == '{"city": "Oslo"}'  # type: ignore[arg-type]
