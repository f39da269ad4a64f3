"""The Bedrock emulator driven by clients podium does not use: langchain-aws, and raw HTTP (httpx with
botocore's SigV4 signer and event-stream decoder), as a user of those tools would (issue 22).

aiobotocore is not among them: every release pins a botocore older than the one podium's tests
share (see docs/emulators.md).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from bedrock_support import HAIKU, scripted
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from pydantic import BaseModel

from podium.providers.bedrock.emulator import BedrockEmulator

langchain_aws = pytest.importorskip("langchain_aws")


class Person(BaseModel):
    name: str
    age: int


def chat_kwargs(emu: BedrockEmulator) -> dict[str, Any]:
    return {
        "region_name": emu.region,
        "endpoint_url": emu.endpoint_url,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }


def test_langchain_chat_bedrock_converse_invokes_streams_and_calls_tools(emulator: BedrockEmulator) -> None:
    chat = langchain_aws.ChatBedrockConverse(model=HAIKU, **chat_kwargs(emulator))
    assert chat.invoke("hello from langchain").content == "hello from langchain"
    pieces = [c.content for c in chat.stream("a reply long enough to come in several pieces")]
    texts = [block["text"] for piece in pieces if isinstance(piece, list) for block in piece]
    assert len(texts) > 1 and "".join(texts) == "a reply long enough to come in several pieces"
    assert chat.with_structured_output(Person).invoke('{"name": "Ada", "age": 36}') == Person(
        name="Ada", age=36
    )

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    scripted(emulator, {"a": {"tool": {"name": "get_weather", "input": {"city": "Paris"}}}})
    tagged = langchain_aws.ChatBedrockConverse(
        model=HAIKU, request_metadata={"podium:agent": "a"}, **chat_kwargs(emulator)
    )
    [call] = tagged.bind_tools([get_weather]).invoke("weather in Paris?").tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    assert [e.operation for e in emulator.exchanges][:2] == ["Converse", "ConverseStream"]


def test_langchain_chat_bedrock_uses_invoke_model_and_its_stream(emulator: BedrockEmulator) -> None:
    chat = langchain_aws.ChatBedrock(model_id=HAIKU, **chat_kwargs(emulator))
    assert chat.invoke("hello invoke model").content == "hello invoke model"
    assert "".join(str(c.content) for c in chat.stream("stream it please")) == "stream it please"
    assert [e.operation for e in emulator.exchanges] == ["InvokeModel", "InvokeModelWithResponseStream"]


def test_langchain_bedrock_agents_runnable_creates_an_agent_with_tools_that_returns_control(
    emulator: BedrockEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_aws.agents import BedrockAgentsRunnable
    from langchain_core.tools import tool

    for name, setting in emulator.environment().items():
        monkeypatch.setenv(name, setting)

    @tool("AssetDetail::getAssetValue")
    def get_asset_value(asset_holder_id: str) -> str:
        """The asset value of an owner."""
        return f"{asset_holder_id} holds 100K"

    scripted(
        emulator,
        {
            "assets": {
                "tool": {
                    "name": "getAssetValue",
                    "action_group": "AssetDetail",
                    "input": {"asset_holder_id": "id-1"},
                }
            }
        },
    )
    agent = BedrockAgentsRunnable.create_agent(
        agent_name="assets", agent_resource_role_arn="arn:aws:iam::123456789012:role/r",
        foundation_model=HAIKU,
        instruction="You are an agent who helps with getting the value of assets.", tools=[get_asset_value],
        region_name=emulator.region, bedrock_endpoint_url=emulator.endpoint_url,
        runtime_endpoint_url=emulator.endpoint_url,
    )  # fmt: skip
    [action] = agent.invoke({"input": "what is the value of id-1's assets?"})
    assert (action.tool, action.tool_input) == ("AssetDetail::getAssetValue", {"asset_holder_id": "id-1"})
    created = [e.operation for e in emulator.exchanges]
    assert "CreateAgentActionGroup" in created and created[-1] == "InvokeAgent"


def test_raw_http_converse_stream_decodes_with_botocores_event_stream_buffer(
    emulator: BedrockEmulator,
) -> None:
    path = f"/model/{HAIKU.replace(':', '%3A')}/converse-stream"
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "raw and framed"}]}]}).encode()
    request = AWSRequest(
        "POST", emulator.endpoint_url + path, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials("testing", "testing"), "bedrock", emulator.region).add_auth(request)
    buffer = EventStreamBuffer()
    with httpx.stream("POST", request.url, content=body, headers=dict(request.headers.items())) as reply:
        assert reply.headers["content-type"] == "application/vnd.amazon.eventstream"
        for piece in reply.iter_raw():
            buffer.add_data(piece)
    messages = list(buffer)  # each frame's prelude and message CRCs are checked as it is decoded
    kinds = [m.headers[":event-type"] for m in messages]
    assert kinds[0] == "messageStart" and kinds[-1] == "metadata"
    assert {m.headers[":message-type"] for m in messages} == {"event"}
    text = "".join(
        json.loads(m.payload)["delta"]["text"]
        for m in messages
        if m.headers[":event-type"] == "contentBlockDelta"
    )
    assert text == "raw and framed"


def test_a_bare_boto3_client_finds_the_emulator_from_the_environment_it_prints(
    emulator: BedrockEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what `podium emulate bedrock` tells a user to export: boto3 reads AWS_DEFAULT_REGION, not AWS_REGION
    import boto3

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")  # no region from the user's own profile
    for name, setting in emulator.environment().items():
        monkeypatch.setenv(name, setting)
    reply = boto3.client("bedrock-runtime").converse(
        modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hello from boto3"}]}]
    )
    assert reply["output"]["message"]["content"][0]["text"] == "hello from boto3"  # the emulator echoes
