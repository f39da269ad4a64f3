"""The emulator on the wire: boto3, unmodified but for endpoint_url, parses everything it sends."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_support import HAIKU, scripted
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError
from urllib3.exceptions import ProtocolError

from podium.core.calls import Usage
from podium.providers._kit.brains import Answer, Turn
from podium.providers.bedrock.emulator import BedrockEmulator

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=2, connect_timeout=2)


def client(emu: BedrockEmulator, service: str, config: Config = NO_RETRIES) -> Any:
    return boto3.client(service, config=config, **emu.client_kwargs())


def converse(emu: BedrockEmulator, text: str = "hi there", **kw: Any) -> dict[str, Any]:
    return client(emu, "bedrock-runtime").converse(
        modelId=HAIKU, messages=[{"role": "user", "content": [{"text": text}]}], **kw
    )


def invoke(emu: BedrockEmulator, agent_id: str, alias_id: str, text: str = "hello", **kw: Any) -> list[dict]:
    reply = client(emu, "bedrock-agent-runtime").invoke_agent(
        agentId=agent_id, agentAliasId=alias_id, sessionId="session-1", inputText=text, **kw
    )
    assert reply["sessionId"] == "session-1"
    assert reply["contentType"] == "application/json"
    return list(reply["completion"])


def test_invoke_agent_streams_chunk_and_trace_events_botocore_parses(emulator: BedrockEmulator) -> None:
    emulator.brain = lambda turn: Answer(f"answer to {turn.prompt}", Usage(input_tokens=40, output_tokens=10))
    agent_id, alias_id = emulator.add_agent("helper", model=HAIKU)

    events = invoke(emulator, agent_id, alias_id, "what is 2+2?", enableTrace=True)

    chunks = [e["chunk"]["bytes"] for e in events if "chunk" in e]
    assert chunks == [b"answer to what is 2+2?"]
    traces = [e["trace"] for e in events if "trace" in e]
    assert {t["agentId"] for t in traces} == {agent_id} and {t["sessionId"] for t in traces} == {"session-1"}
    assert {t["agentVersion"] for t in traces} == {"1"}  # the alias points at version 1
    usages = [
        body["modelInvocationOutput"]["metadata"]["usage"]
        for t in traces
        for body in t["trace"].values()
        if "modelInvocationOutput" in body
    ]
    assert len(usages) == 2  # pre-processing and orchestration, summed by a client
    assert sum(u["inputTokens"] for u in usages) == 40 and sum(u["outputTokens"] for u in usages) == 10
    inputs = [
        b["modelInvocationInput"] for t in traces for b in t["trace"].values() if "modelInvocationInput" in b
    ]
    assert {i["foundationModel"] for i in inputs} == {HAIKU}


def test_invoke_agent_without_trace_sends_only_the_chunk(emulator: BedrockEmulator) -> None:
    agent_id, alias_id = emulator.add_agent("helper")
    events = invoke(emulator, agent_id, alias_id, "echo me")
    assert events == [{"chunk": {"bytes": b"echo me"}}]


def test_the_test_alias_runs_the_draft(emulator: BedrockEmulator) -> None:
    agent_id, _ = emulator.add_agent("helper")
    assert invoke(emulator, agent_id, "TSTALIASID", "draft?") == [{"chunk": {"bytes": b"draft?"}}]


def test_unknown_agent_or_alias_is_the_services_resource_not_found(emulator: BedrockEmulator) -> None:
    agent_id, _ = emulator.add_agent("helper")
    runtime = client(emulator, "bedrock-agent-runtime")
    for agent, alias in (("NOSUCHAGNT", "TSTALIASID"), (agent_id, "NOSUCHALIA")):
        with pytest.raises(runtime.exceptions.ResourceNotFoundException) as caught:
            runtime.invoke_agent(agentId=agent, agentAliasId=alias, sessionId="s1", inputText="hi")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_invoke_agent_validates_the_session_id_and_input(emulator: BedrockEmulator) -> None:
    agent_id, alias_id = emulator.add_agent("helper")
    runtime = client(emulator, "bedrock-agent-runtime")
    with pytest.raises(runtime.exceptions.ValidationException, match="sessionId"):
        runtime.invoke_agent(agentId=agent_id, agentAliasId=alias_id, sessionId="bad id!", inputText="hi")
    with pytest.raises(runtime.exceptions.ValidationException, match="inputText"):
        runtime.invoke_agent(agentId=agent_id, agentAliasId=alias_id, sessionId="s1", inputText=" ")


def test_converse_returns_output_usage_and_metrics(emulator: BedrockEmulator) -> None:
    seen: list[Turn] = []

    def brain(turn: Turn) -> Answer:
        seen.append(turn)
        return Answer("Paris", Usage(input_tokens=12, output_tokens=3, cache_read_tokens=5))

    emulator.brain = brain
    reply = converse(emulator, "capital of France?", system=[{"text": "be brief"}])

    assert reply["output"]["message"] == {"role": "assistant", "content": [{"text": "Paris"}]}
    assert reply["stopReason"] == "end_turn"
    assert reply["usage"] == {
        "inputTokens": 12,
        "outputTokens": 3,
        "totalTokens": 20,
        "cacheReadInputTokens": 5,
    }
    assert isinstance(reply["metrics"]["latencyMs"], int)
    assert seen[0].instructions == "be brief" and seen[0].model == HAIKU


def test_converse_stops_at_max_tokens(emulator: BedrockEmulator) -> None:
    emulator.brain = lambda turn: Answer("x" * 400, Usage(input_tokens=3, output_tokens=100))
    reply = converse(emulator, inferenceConfig={"maxTokens": 10})
    assert reply["stopReason"] == "max_tokens" and reply["usage"]["outputTokens"] == 10


@pytest.mark.parametrize(
    ("messages", "model", "problem"),
    [
        ([{"role": "assistant", "content": [{"text": "hi"}]}], HAIKU, "start with a user message"),
        ([{"role": "user", "content": [{"text": "hi"}]}] * 2, HAIKU, "alternate"),
        ([{"role": "user", "content": [{"text": "hi"}]}], "fast", "model identifier is invalid"),
    ],
)
def test_converse_rejects_what_the_service_rejects(
    emulator: BedrockEmulator, messages: list[dict], model: str, problem: str
) -> None:
    runtime = client(emulator, "bedrock-runtime")
    with pytest.raises(runtime.exceptions.ValidationException, match=problem):
        runtime.converse(modelId=model, messages=messages)


def test_unsigned_requests_are_refused(emulator: BedrockEmulator) -> None:
    req = urllib.request.Request(f"{emulator.endpoint_url}/model/{HAIKU}/converse", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=5)
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")


def test_a_scripted_error_comes_back_as_the_services_own(emulator: BedrockEmulator) -> None:
    scripted(emulator, {"s": [{"error": "throttled", "retry_after": 1.5}, {"reply": "ok"}]})
    runtime = client(emulator, "bedrock-runtime")
    metadata = {"podium:step": "s", "podium:agent": "a", "podium:run": "r1"}
    ask = {
        "modelId": HAIKU,
        "messages": [{"role": "user", "content": [{"text": "q"}]}],
        "requestMetadata": metadata,
    }
    with pytest.raises(runtime.exceptions.ThrottlingException) as caught:
        runtime.converse(**ask)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1.5"
    assert runtime.converse(**ask)["output"]["message"]["content"] == [{"text": "ok"}]


# --- faults, as boto3 sees them -------------------------------------------------------------------


def test_throttling_is_a_429_that_botocore_itself_retries(emulator: BedrockEmulator) -> None:
    emulator.faults.throttle()
    retrying = Config(retries={"total_max_attempts": 2, "mode": "standard"})
    runtime = boto3.client("bedrock-runtime", config=retrying, **emulator.client_kwargs())
    reply = runtime.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert reply["ResponseMetadata"]["RetryAttempts"] == 1
    assert [e.status for e in emulator.exchanges] == [429, 200]


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalServerException"), (503, "ServiceUnavailableException")]
)
def test_server_errors(emulator: BedrockEmulator, status: int, code: str) -> None:
    emulator.faults.server_error(status)
    with pytest.raises(ClientError) as caught:
        converse(emulator)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_a_delay_outlasts_the_read_timeout(emulator: BedrockEmulator) -> None:
    emulator.faults.delay(1.0)
    impatient = Config(retries={"total_max_attempts": 1}, read_timeout=0.2)
    with pytest.raises(ReadTimeoutError):
        client(emulator, "bedrock-runtime", impatient).converse(
            modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )


def test_a_stream_cut_after_the_first_frame(emulator: BedrockEmulator) -> None:
    agent_id, alias_id = emulator.add_agent("helper")
    emulator.faults.cut(operation="InvokeAgent")
    with pytest.raises(ProtocolError):
        invoke(emulator, agent_id, alias_id, enableTrace=True)


def test_a_malformed_frame_fails_botocores_checksum(emulator: BedrockEmulator) -> None:
    agent_id, alias_id = emulator.add_agent("helper")
    emulator.faults.malformed()
    with pytest.raises(ChecksumMismatch):
        invoke(emulator, agent_id, alias_id, enableTrace=True)


def test_an_error_event_inside_the_stream(emulator: BedrockEmulator) -> None:
    agent_id, alias_id = emulator.add_agent("helper")
    emulator.faults.stream_error("throttlingException")
    with pytest.raises(EventStreamError) as caught:
        invoke(emulator, agent_id, alias_id, enableTrace=True)
    assert caught.value.response["Error"]["Code"] == "throttlingException"


def test_faults_apply_to_their_operation_only_and_once(emulator: BedrockEmulator) -> None:
    agent_id, alias_id = emulator.add_agent("helper")
    emulator.faults.throttle(operation="InvokeAgent")
    assert converse(emulator)["output"]["message"]["content"] == [{"text": "hi there"}]
    with pytest.raises(ClientError):
        invoke(emulator, agent_id, alias_id)
    assert invoke(emulator, agent_id, alias_id)
    assert (emulator.count("Converse"), emulator.count("InvokeAgent")) == (1, 2)
    assert len(emulator.faults) == 0


# --- the control plane, through moto --------------------------------------------------------------


def test_control_plane_create_prepare_alias_then_invoke(emulator: BedrockEmulator) -> None:
    control = client(emulator, "bedrock-agent")
    agent = control.create_agent(
        agentName="research-and-write-researcher",
        foundationModel=HAIKU,
        instruction="You are a careful researcher. Answer in three short bullet points.",
        agentResourceRoleArn="arn:aws:iam::123456789012:role/podium-emulator",
        tags={"podium:agent": "researcher"},
    )["agent"]
    agent_id = agent["agentId"]
    assert len(agent_id) == 10 and agent["agentStatus"] == "NOT_PREPARED" and agent["agentVersion"] == "DRAFT"
    runtime = client(emulator, "bedrock-agent-runtime")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.invoke_agent(agentId=agent_id, agentAliasId="ABCDEFGHIJ", sessionId="s1", inputText="hi")

    assert control.prepare_agent(agentId=agent_id)["agentStatus"] == "PREPARED"
    alias = control.create_agent_alias(agentId=agent_id, agentAliasName="podium")["agentAlias"]
    assert alias["routingConfiguration"] == [{"agentVersion": "1"}]
    names = {a["agentAliasName"] for a in control.list_agent_aliases(agentId=agent_id)["agentAliasSummaries"]}
    assert names == {"AgentTestAlias", "podium"}
    scripted(emulator, {"researcher": "- tides are regular"})

    events = invoke(emulator, agent_id, alias["agentAliasId"])  # no podium tags: keyed by the agent's tag
    assert [e["chunk"]["bytes"] for e in events if "chunk" in e] == [b"- tides are regular"]

    control.update_agent(
        agentId=agent_id, agentName="research-and-write-researcher", foundationModel="amazon.nova-pro-v1:0",
        agentResourceRoleArn="arn:aws:iam::123456789012:role/podium-emulator",
        instruction="You are a careful researcher. Answer in three short bullet points, please.",
    )  # fmt: skip
    control.prepare_agent(agentId=agent_id)
    moved = control.update_agent_alias(
        agentId=agent_id, agentAliasId=alias["agentAliasId"], agentAliasName="podium"
    )["agentAlias"]
    assert moved["routingConfiguration"] == [{"agentVersion": "2"}]
    assert control.get_agent(agentId=agent_id)["agent"]["foundationModel"] == "amazon.nova-pro-v1:0"


def test_emulators_keep_their_own_agents() -> None:
    with BedrockEmulator() as first, BedrockEmulator() as second:
        agent_id, alias_id = first.add_agent("only-here")
        assert invoke(first, agent_id, alias_id)
        with pytest.raises(ClientError):
            invoke(second, agent_id, alias_id)


def test_stopping_closes_the_port() -> None:
    emu = BedrockEmulator().start()
    url = emu.endpoint_url
    emu.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/", timeout=2)


def test_settings_hold_dummy_credentials_only(emulator: BedrockEmulator) -> None:
    settings = emulator.settings()
    assert settings["aws_access_key_id"] == "testing" and settings["aws_secret_access_key"] == "testing"
    assert settings["endpoint_url"].startswith("http://127.0.0.1:")
    assert json.loads(json.dumps(settings)) == settings


def test_the_provider_makes_its_emulator_from_the_declared_options(tmp_path: Path) -> None:
    from podium.core.calls import Emulator, ProviderEnv
    from podium.providers.bedrock.config import BedrockEmulatorOptions
    from podium.providers.bedrock.provider import BedrockProvider

    assert BedrockProvider.emulator_options is BedrockEmulatorOptions and BedrockProvider.can_deploy
    env = ProviderEnv(workflow="w", base_dir=tmp_path, mock={})
    options = BedrockEmulatorOptions(region="eu-west-1")
    with BedrockProvider.emulator(env, options=options) as emulator:
        assert isinstance(emulator, Emulator)
        assert emulator.settings()["region"] == "eu-west-1"
        assert emulator.environment()["AWS_REGION"] == "eu-west-1"
        assert emulator.requests == []


def test_a_long_prompt_is_answered_whole_but_kept_cut_in_the_log_and_the_session(
    emulator: BedrockEmulator,
) -> None:
    """Memory stays flat over many long prompts (issue 16, finding 10): the log keeps texts cut."""
    agent_id, alias_id = emulator.add_agent("helper", model=HAIKU)
    prompt = "tide " * 40_000  # 200 KB
    events = invoke(emulator, agent_id, alias_id, prompt)
    assert prompt.strip() in b"".join(e["chunk"]["bytes"] for e in events if "chunk" in e).decode()
    turn = emulator.sessions["session-1"].turns[-1]
    logged = emulator.requests[-1].detail["input"]
    for kept in (turn["input"], turn["reply"], logged):
        assert (
            kept.startswith("tide tide") and len(kept) < 5_000 and kept.endswith("more characters not kept)")
        )
    with pytest.raises(ClientError) as refused:  # over the body cap: the service's 413, parsed by botocore
        emulator.max_body = 100_000
        invoke(emulator, agent_id, alias_id, prompt)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
