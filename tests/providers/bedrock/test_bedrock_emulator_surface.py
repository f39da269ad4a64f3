"""The Bedrock emulator as other tools use it, through boto3: streams, tools, InvokeModel, action
groups, the foundation models, and the service's exact errors (issue 22)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import httpx
import pytest
from bedrock_support import HAIKU, scripted
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from podium.providers.bedrock.emulator import BedrockEmulator

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=64)
ROLE = "arn:aws:iam::123456789012:role/podium-emulator"
INSTRUCTION = "You are a helpful agent created for the emulator surface tests."
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def client(emu: BedrockEmulator, service: str) -> Any:
    return boto3.client(service, config=NO_RETRIES, **emu.client_kwargs())


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    error = exc.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def signed(emu: BedrockEmulator, method: str, path: str, body: bytes) -> httpx.Response:
    """A raw request signed with botocore's SigV4 signer (what any AWS client sends), via httpx."""
    url = emu.endpoint_url + path
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("testing", "testing"), "bedrock", emu.region).add_auth(request)
    return httpx.request(method, url, content=body, headers=dict(request.headers.items()))


# --- 1. ConverseStream ------------------------------------------------------------------------


def test_converse_stream_sends_the_services_events_with_usage(emulator: BedrockEmulator) -> None:
    prompt = "tell me a long story about the tides of the North Sea"
    reply = client(emulator, "bedrock-runtime").converse_stream(
        modelId=HAIKU, messages=user(prompt), system=[{"text": "Be brief."}]
    )
    events = list(reply["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert len(deltas) > 1 and "".join(deltas) == prompt  # the echo, in pieces
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    usage = events[-1]["metadata"]["usage"]
    assert usage["outputTokens"] == 14 and usage["totalTokens"] == usage["inputTokens"] + 14


def test_fifty_concurrent_streams_all_succeed(emulator: BedrockEmulator) -> None:
    runtime = client(emulator, "bedrock-runtime")

    def stream(n: int) -> str:
        events = runtime.converse_stream(modelId=HAIKU, messages=user(f"stream number {n}"))["stream"]
        return "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)

    with ThreadPoolExecutor(50) as pool:
        texts = list(pool.map(stream, range(50)))
    assert texts == [f"stream number {n}" for n in range(50)]
    served = [e for e in emulator.exchanges if e.operation == "ConverseStream"]
    assert len(served) == 50 and {e.status for e in served} == {200}


# --- 2. Converse tools --------------------------------------------------------------------------


def test_a_scripted_tool_call_is_a_tool_use_block_in_converse_and_its_stream(
    emulator: BedrockEmulator,
) -> None:
    scripted(emulator, {"a": {"tool": {"name": "get_weather", "input": {"city": "Paris"}}}})
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
    runtime = client(emulator, "bedrock-runtime")
    kwargs: dict[str, Any] = {
        "modelId": HAIKU, "messages": user("weather?"), "toolConfig": tools,
        "requestMetadata": {"podium:agent": "a"},
    }  # fmt: skip
    reply = runtime.converse(**kwargs)
    assert reply["stopReason"] == "tool_use"
    use = reply["output"]["message"]["content"][0]["toolUse"]
    assert use["name"] == "get_weather" and use["input"] == {"city": "Paris"}

    events = list(runtime.converse_stream(**kwargs)["stream"])
    start = next(e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e)
    given = "".join(
        e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e
    )
    assert start["name"] == "get_weather" and json.loads(given) == {"city": "Paris"}
    assert next(e["messageStop"]["stopReason"] for e in events if "messageStop" in e) == "tool_use"


def test_a_forced_tool_choice_answers_with_that_tool(emulator: BedrockEmulator) -> None:
    runtime = client(emulator, "bedrock-runtime")
    config = {
        "tools": [{"toolSpec": {"name": "Person", "inputSchema": {"json": PERSON}}}],
        "toolChoice": {"tool": {"name": "Person"}},
    }
    reply = runtime.converse(modelId=HAIKU, messages=user('{"name": "Ada", "age": 36}'), toolConfig=config)
    assert reply["stopReason"] == "tool_use"
    assert reply["output"]["message"]["content"][0]["toolUse"]["input"] == {"name": "Ada", "age": 36}
    config["toolChoice"] = {"tool": {"name": "Nobody"}}
    with pytest.raises(ClientError) as exc:
        runtime.converse(modelId=HAIKU, messages=user("hi"), toolConfig=config)
    assert code_of(exc)[:2] == (400, "ValidationException") and "Nobody" in code_of(exc)[2]


def test_a_tool_result_without_a_tool_use_is_refused(emulator: BedrockEmulator) -> None:
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
    result = {"toolResult": {"toolUseId": "tooluse_never_asked", "content": [{"text": "sunny"}]}}
    with pytest.raises(ClientError) as exc:
        client(emulator, "bedrock-runtime").converse(
            modelId=HAIKU, messages=[{"role": "user", "content": [result]}], toolConfig=tools
        )
    assert code_of(exc)[:2] == (400, "ValidationException") and "toolUse" in code_of(exc)[2]


# --- 3. InvokeModel -----------------------------------------------------------------------------

ANTHROPIC = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200, "messages": user("hello claude")}


def test_invoke_model_speaks_each_familys_body_with_usage_in_headers(emulator: BedrockEmulator) -> None:
    runtime = client(emulator, "bedrock-runtime")
    reply = runtime.invoke_model(modelId=HAIKU, body=json.dumps(ANTHROPIC))
    body = json.loads(reply["body"].read())
    headers = reply["ResponseMetadata"]["HTTPHeaders"]
    assert body["type"] == "message" and body["content"] == [{"type": "text", "text": "hello claude"}]
    assert body["stop_reason"] == "end_turn" and body["model"] == "claude-haiku-4-5-20251001"
    assert headers["x-amzn-bedrock-input-token-count"] == str(body["usage"]["input_tokens"])
    assert headers["x-amzn-bedrock-output-token-count"] == str(body["usage"]["output_tokens"]) == "3"

    titan = json.loads(
        runtime.invoke_model(
            modelId="amazon.titan-text-premier-v1:0", body=json.dumps({"inputText": "hello titan"})
        )["body"].read()
    )
    assert titan["results"][0]["outputText"] == "hello titan" and titan["inputTextTokenCount"] == 3
    nova_body = {"schemaVersion": "messages-v1", "messages": user("hello nova")}
    nova = json.loads(
        runtime.invoke_model(modelId="us.amazon.nova-micro-v1:0", body=json.dumps(nova_body))["body"].read()
    )
    assert nova["output"]["message"]["content"] == [{"text": "hello nova"}]
    assert nova["usage"]["outputTokens"] == 3 and nova["stopReason"] == "end_turn"


def test_invoke_model_with_response_stream_sends_the_models_own_events(emulator: BedrockEmulator) -> None:
    reply = client(emulator, "bedrock-runtime").invoke_model_with_response_stream(
        modelId=HAIKU, body=json.dumps(ANTHROPIC)
    )
    chunks = [json.loads(e["chunk"]["bytes"]) for e in reply["body"]]
    assert [c["type"] for c in chunks] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    assert chunks[2]["delta"]["text"] == "hello claude"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3


def test_invoke_model_refuses_bodies_as_the_service_does(emulator: BedrockEmulator) -> None:
    runtime = client(emulator, "bedrock-runtime")
    for model, body, said in (
        (HAIKU, b"{not json", "Malformed input request"),
        (HAIKU, json.dumps({"messages": user("hi"), "max_tokens": 5}), "required key [anthropic_version]"),
        ("amazon.titan-text-premier-v1:0", json.dumps({"prompt": "hi"}), "required key [inputText]"),
        (
            "anthropic.claude-imaginary-v9:0",
            json.dumps(ANTHROPIC),
            "The provided model identifier is invalid.",
        ),
    ):
        with pytest.raises(ClientError) as exc:
            runtime.invoke_model(modelId=model, body=body)
        status, code, message = code_of(exc)
        assert (status, code) == (400, "ValidationException") and said in message


# --- 4. action groups ---------------------------------------------------------------------------

WEATHER = {
    "functions": [{"name": "get_weather", "parameters": {"city": {"type": "string", "required": True}}}]
}


def test_action_groups_create_list_get_update_delete(emulator: BedrockEmulator) -> None:
    control = client(emulator, "bedrock-agent")
    agent = control.create_agent(
        agentName="weather", foundationModel=HAIKU, instruction=INSTRUCTION, agentResourceRoleArn=ROLE
    )["agent"]
    where = {"agentId": agent["agentId"], "agentVersion": "DRAFT"}
    group = control.create_agent_action_group(
        **where, actionGroupName="tools", actionGroupExecutor={"customControl": "RETURN_CONTROL"},
        functionSchema=WEATHER,
    )["agentActionGroup"]  # fmt: skip
    assert group["functionSchema"] == WEATHER and group["actionGroupState"] == "ENABLED"
    pages = control.get_paginator("list_agent_action_groups").paginate(**where)
    assert [s["actionGroupName"] for p in pages for s in p["actionGroupSummaries"]] == ["tools"]
    ids = {**where, "actionGroupId": group["actionGroupId"]}
    control.update_agent_action_group(
        **ids, actionGroupName="tools2", actionGroupExecutor={"customControl": "RETURN_CONTROL"},
        functionSchema=WEATHER,
    )  # fmt: skip
    assert control.get_agent_action_group(**ids)["agentActionGroup"]["actionGroupName"] == "tools2"
    control.delete_agent_action_group(**ids)
    with pytest.raises(ClientError) as exc:
        control.get_agent_action_group(**ids)
    assert code_of(exc)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as exc:
        control.create_agent_action_group(**where, actionGroupName="bad name!", functionSchema=WEATHER)
    assert code_of(exc)[:2] == (400, "ValidationException")


def _agent_with_group(emu: BedrockEmulator, executor: dict[str, Any]) -> tuple[str, str]:
    control = client(emu, "bedrock-agent")
    agent_id = control.create_agent(
        agentName="w", foundationModel=HAIKU, instruction=INSTRUCTION, agentResourceRoleArn=ROLE,
        tags={"podium:agent": "a"},
    )["agent"]["agentId"]  # fmt: skip
    control.create_agent_action_group(
        agentId=agent_id, agentVersion="DRAFT", actionGroupName="weather", actionGroupExecutor=executor,
        functionSchema=WEATHER,
    )  # fmt: skip
    control.prepare_agent(agentId=agent_id)
    return agent_id, control.create_agent_alias(agentId=agent_id, agentAliasName="live")["agentAlias"][
        "agentAliasId"
    ]


def test_invoke_agent_returns_control_in_the_return_control_action_group(emulator: BedrockEmulator) -> None:
    scripted(emulator, {"a": {"tool": {"name": "get_weather", "input": {"city": "Oslo"}}}})
    agent_id, alias_id = _agent_with_group(emulator, {"customControl": "RETURN_CONTROL"})
    reply = client(emulator, "bedrock-agent-runtime").invoke_agent(
        agentId=agent_id, agentAliasId=alias_id, sessionId="s-1", inputText="weather in Oslo?"
    )
    [event] = list(reply["completion"])
    asked = event["returnControl"]["invocationInputs"][0]["functionInvocationInput"]
    assert (asked["actionGroup"], asked["function"]) == ("weather", "get_weather")
    assert asked["parameters"] == [{"name": "city", "type": "string", "value": "Oslo"}]


def test_invoke_agent_refuses_a_function_no_return_control_group_declares(emulator: BedrockEmulator) -> None:
    runtime = client(emulator, "bedrock-agent-runtime")
    scripted(emulator, {"a": {"tool": {"name": "get_time", "input": {}}}})
    agent_id, alias_id = _agent_with_group(emulator, {"customControl": "RETURN_CONTROL"})
    with pytest.raises(ClientError) as exc:
        runtime.invoke_agent(agentId=agent_id, agentAliasId=alias_id, sessionId="s-2", inputText="time?")
    assert code_of(exc)[:2] == (400, "ValidationException") and "get_time" in code_of(exc)[2]
    scripted(emulator, {"a": {"tool": {"name": "get_weather", "input": {"city": "Oslo"}}}})
    lambda_group = {"lambda": "arn:aws:lambda:us-east-1:123456789012:function:weather"}
    agent_id, alias_id = _agent_with_group(emulator, lambda_group)
    with pytest.raises(ClientError) as exc:
        runtime.invoke_agent(agentId=agent_id, agentAliasId=alias_id, sessionId="s-3", inputText="weather?")
    assert code_of(exc)[:2] == (424, "DependencyFailedException") and "RETURN_CONTROL" in code_of(exc)[2]


# --- 5. routes ----------------------------------------------------------------------------------


def test_invoke_inline_agent_is_served_by_the_same_brain(emulator: BedrockEmulator) -> None:
    scripted(
        emulator, {"inline-agent": [{"tool": {"name": "get_weather", "input": {"city": "Rome"}}}, "Sunny"]}
    )
    runtime = client(emulator, "bedrock-agent-runtime")
    group = {"actionGroupName": "weather", "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
             "functionSchema": WEATHER}  # fmt: skip
    common = {
        "sessionId": "inline-1",
        "foundationModel": HAIKU,
        "instruction": INSTRUCTION,
        "actionGroups": [group],
    }
    [event] = list(runtime.invoke_inline_agent(**common, inputText="weather in Rome?")["completion"])
    control = event["returnControl"]
    function = control["invocationInputs"][0]["functionInvocationInput"]
    result = {"functionResult": {"actionGroup": "weather", "function": "get_weather",
                                 "responseBody": {"TEXT": {"body": "sunny, 21C"}}}}  # fmt: skip
    state = {"invocationId": control["invocationId"], "returnControlInvocationResults": [result]}
    chunks = list(runtime.invoke_inline_agent(**common, inlineSessionState=state)["completion"])
    assert function["function"] == "get_weather" and chunks == [{"chunk": {"bytes": b"Sunny"}}]
    assert [e.operation for e in emulator.exchanges] == ["InvokeInlineAgent", "InvokeInlineAgent"]


def test_an_operation_not_served_is_a_501_naming_it(emulator: BedrockEmulator) -> None:
    with pytest.raises(ClientError) as exc:
        client(emulator, "bedrock-agent-runtime").get_agent_memory(
            agentId="AGENT12345", agentAliasId="ALIAS12345", memoryId="memory-1", memoryType="SESSION_SUMMARY"
        )
    assert code_of(exc) == (
        501,
        "NotImplementedException",
        "not implemented by podium's emulator: GetAgentMemory",
    )
    assert emulator.exchanges[-1].operation == "GetAgentMemory"


# --- 6. exact errors ----------------------------------------------------------------------------


def test_control_plane_not_found_is_404_and_timestamps_are_iso_8601(emulator: BedrockEmulator) -> None:
    control = client(emulator, "bedrock-agent")
    with pytest.raises(ClientError) as exc:
        control.get_agent(agentId="NOSUCHAGNT")
    assert code_of(exc)[:2] == (404, "ResourceNotFoundException")
    agent_id, _ = emulator.add_agent("stamped")
    raw = signed(emulator, "GET", f"/agents/{agent_id}/", b"").json()["agent"]
    assert isinstance(raw["createdAt"], str) and raw["createdAt"].endswith("Z") and "T" in raw["createdAt"]


def test_a_malformed_body_is_a_400_never_a_500(emulator: BedrockEmulator) -> None:
    for path, body in (
        ("/agents/", b'{"agentName": '),  # CreateAgent: not JSON
        ("/agents/", b"[1, 2]"),  # not an object
        ("/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse", b"{oops"),
    ):
        reply = signed(emulator, "PUT" if path == "/agents/" else "POST", path, body)
        assert reply.status_code == 400, (path, reply.text)
        assert reply.headers["x-amzn-errortype"].split(":")[0] == "SerializationException"


def test_an_unknown_model_is_refused_everywhere_as_the_service_does(emulator: BedrockEmulator) -> None:
    bogus = "anthropic.claude-imaginary-v9:0"
    calls = (
        lambda: client(emulator, "bedrock-runtime").converse(modelId=bogus, messages=user("hi")),
        lambda: client(emulator, "bedrock-runtime").converse_stream(modelId=bogus, messages=user("hi")),
        lambda: client(emulator, "bedrock").get_foundation_model(modelIdentifier=bogus),
        lambda: client(emulator, "bedrock-agent").create_agent(
            agentName="x", foundationModel=bogus, instruction=INSTRUCTION, agentResourceRoleArn=ROLE
        ),
    )
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == (400, "ValidationException", "The provided model identifier is invalid.")


# --- 7. the bedrock management service ----------------------------------------------------------


def test_foundation_models_and_inference_profiles_from_one_table(emulator: BedrockEmulator) -> None:
    bedrock = client(emulator, "bedrock")
    listed = bedrock.list_foundation_models()["modelSummaries"]
    ids = {m["modelId"] for m in listed}
    assert {"anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-micro-v1:0"} <= ids
    anthropic = bedrock.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
    assert anthropic and all(m["providerName"] == "Anthropic" for m in anthropic)
    nova = bedrock.get_foundation_model(modelIdentifier="amazon.nova-pro-v1:0")["modelDetails"]
    assert nova["modelName"] == "Nova Pro" and "VIDEO" in nova["inputModalities"]
    profiles = [
        p["inferenceProfileId"]
        for page in bedrock.get_paginator("list_inference_profiles").paginate(
            PaginationConfig={"PageSize": 5}
        )
        for p in page["inferenceProfileSummaries"]
    ]
    assert HAIKU in profiles and len(profiles) == len(set(profiles)) > 5
    # every profile listed is one the runtime answers, and every model listed is priced
    for profile in profiles[:3]:
        client(emulator, "bedrock-runtime").converse(modelId=profile, messages=user("hi"))


def test_every_listed_model_is_priced_by_the_catalog() -> None:
    from datetime import UTC, datetime

    from podium.cost.catalog import Rate, load_catalog
    from podium.providers.bedrock.models import MODELS, PROFILES

    catalog = load_catalog()
    at = datetime(2026, 11, 20, tzinfo=UTC)
    unpriced = [
        m
        for m in [*(x.model_id for x in MODELS), *PROFILES]
        if not isinstance(catalog.rate("bedrock", m, at), Rate)
    ]
    assert unpriced == []


def test_the_models_of_awss_own_examples_answer(emulator: BedrockEmulator) -> None:
    # a user pasting the Bedrock docs' examples (Claude 3 Haiku, Titan Text Express, Llama 3, Mistral
    # 7B) got "The provided model identifier is invalid." for models the service serves
    runtime = client(emulator, "bedrock-runtime")
    said = runtime.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=user("hi"))
    assert said["output"]["message"]["content"] == [{"text": "hi"}]
    for model, body, field in (
        ("amazon.titan-text-express-v1", {"inputText": "hi"}, "results"),
        ("meta.llama3-8b-instruct-v1:0", {"prompt": "hi"}, "generation"),
        ("mistral.mistral-7b-instruct-v0:2", {"prompt": "hi"}, "outputs"),
    ):
        answer = json.loads(runtime.invoke_model(modelId=model, body=json.dumps(body))["body"].read())
        assert field in answer, (model, answer)


def test_fields_of_the_wrong_type_are_a_400_never_a_500(emulator: BedrockEmulator) -> None:
    haiku = "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0"
    for path, body in (
        (f"{haiku}/invoke", {**ANTHROPIC, "tools": 5}),
        (f"{haiku}/converse", {"messages": "hello"}),
        (f"{haiku}/converse-stream", {"messages": user("hi"), "toolConfig": {"tools": 7}}),
        ("/agents/ABCDEFGHIJ/agentAliases/TSTALIASID/sessions/s-1/text", {"inputText": 5}),
    ):
        reply = signed(emulator, "POST", path, json.dumps(body).encode())
        assert reply.status_code == 400, (path, reply.text)
        assert reply.headers["x-amzn-errortype"].split(":")[0] == "ValidationException"
