"""BedrockProvider through boto3 against the emulator: both bindings, usage, sessions, every error mapped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bedrock_support import HAIKU, provider_for, request, scripted

from podium.core.calls import ProviderEnv, Usage
from podium.core.errors import AuthError, CallTimeout, InvalidRequest, Throttled, TransientError
from podium.providers._kit.brains import Answer, Turn
from podium.providers.bedrock.agents import session_id_for
from podium.providers.bedrock.binding import BedrockBinding
from podium.providers.bedrock.config import BedrockConfig
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.bedrock.provider import BedrockProvider


async def test_a_managed_agent_answers_with_the_brains_usage_and_its_trace(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    emulator.brain = lambda turn: Answer(f"re: {turn.prompt}", Usage(input_tokens=131, output_tokens=47))
    agent_id, alias_id = emulator.add_agent("helper", model="amazon.nova-pro-v1:0")
    provider = provider_for(emulator, tmp_path)
    try:
        response = await provider.invoke(
            request("hello agent", binding={"agent_id": agent_id, "alias_id": alias_id})
        )
    finally:
        await provider.aclose()

    assert response.text == "re: hello agent"
    assert response.usage == Usage(input_tokens=131, output_tokens=47)
    assert response.model == "amazon.nova-pro-v1:0"  # from the trace: what the cost is priced on
    assert response.session_id == "run-1-s" and response.response_id
    native = response.native
    assert (native["agent_id"], native["alias_id"], native["bound_by"]) == (agent_id, alias_id, "binding")
    assert len(native["trace"]) == 6 and all(t["agentId"] == agent_id for t in native["trace"])
    json.dumps(native)  # stored in the event log as it is
    [exchange] = emulator.exchanges
    assert exchange.detail["session_id"] == "run-1-s" and exchange.detail["input"] == "hello agent"


async def test_a_managed_agent_hears_only_the_last_message_in_its_own_session(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    agent_id, alias_id = emulator.add_agent("helper")
    provider = provider_for(emulator, tmp_path)
    binding = {"agent_id": agent_id, "alias_id": alias_id}
    first = request("first", binding=binding)
    repair = first.model_copy(
        update={
            "messages": [*first.messages, first.messages[0].model_copy(update={"role": "assistant"}),
                         first.messages[0].model_copy(update={"content": "fix it"})],
            "attempt": 2,
        }
    )  # fmt: skip
    await provider.invoke(first)
    await provider.invoke(repair)
    await provider.aclose()
    assert [t["input"] for t in emulator.sessions["run-1-s"].turns] == ["first", "fix it"]


async def test_a_model_answers_through_converse(emulator: BedrockEmulator, tmp_path: Path) -> None:
    seen: list[Turn] = []

    def brain(turn: Turn) -> Answer:
        seen.append(turn)
        return Answer(
            "Paris", Usage(input_tokens=21, output_tokens=2, cache_read_tokens=7, cache_write_tokens=3)
        )

    emulator.brain = brain
    provider = provider_for(emulator, tmp_path)
    response = await provider.invoke(
        request(
            "capital of France?", instructions="Answer in one word.", options={"max_tokens": 50, "top_k": 5}
        )
    )
    await provider.aclose()

    assert response.text == "Paris"
    assert response.usage == Usage(
        input_tokens=21, output_tokens=2, cache_read_tokens=7, cache_write_tokens=3
    )
    assert response.model == HAIKU and response.native["stop_reason"] == "end_turn"
    turn = seen[0]
    assert (turn.instructions, turn.model, turn.prompt) == (
        "Answer in one word.",
        HAIKU,
        "capital of France?",
    )
    assert (turn.run_id, turn.step, turn.agent) == ("run-1", "s", "a")  # podium's requestMetadata tags


async def test_options_become_the_inference_config(emulator: BedrockEmulator, tmp_path: Path) -> None:
    emulator.brain = lambda turn: Answer("word " * 100, Usage(input_tokens=5, output_tokens=100))
    provider = provider_for(emulator, tmp_path)
    response = await provider.invoke(request(options={"max_tokens": 8, "temperature": 0.2}))
    await provider.aclose()
    assert response.native["stop_reason"] == "max_tokens" and response.usage.output_tokens == 8


async def test_a_binding_model_overrides_the_agents(emulator: BedrockEmulator, tmp_path: Path) -> None:
    provider = provider_for(emulator, tmp_path)
    response = await provider.invoke(request(binding={"model": "amazon.nova-lite-v1:0"}))
    await provider.aclose()
    assert response.model == "amazon.nova-lite-v1:0"
    assert emulator.exchanges[0].detail["model"] == "amazon.nova-lite-v1:0"


async def test_the_workflows_mock_answers_by_step(emulator: BedrockEmulator, tmp_path: Path) -> None:
    scripted(emulator, {"science": {"reply": "- tides", "usage": {"input_tokens": 52, "output_tokens": 38}}})
    provider = provider_for(emulator, tmp_path)
    response = await provider.invoke(request(step="science", agent="researcher"))
    await provider.aclose()
    assert response.text == "- tides" and response.usage == Usage(input_tokens=52, output_tokens=38)


def test_session_ids_fit_bedrocks_pattern_and_never_change() -> None:
    assert session_id_for("20261126-101500-3fa2c1-draft-2") == "20261126-101500-3fa2c1-draft-2"
    odd = "20261126-101500-3fa2c1-résumé step"
    mapped = session_id_for(odd)
    assert mapped == session_id_for(odd) != session_id_for(odd + "!")
    long = session_id_for("r-" + "x" * 200)
    for value in (mapped, long):
        assert 2 <= len(value) <= 100 and all(c.isalnum() or c in "._:-" for c in value)


# --- errors, each mapped so that the retry policy can act on it ---------------------------------


@pytest.fixture
def agent(emulator: BedrockEmulator) -> dict[str, str]:
    agent_id, alias_id = emulator.add_agent("helper")
    return {"agent_id": agent_id, "alias_id": alias_id}


@pytest.mark.parametrize("managed", [True, False], ids=["InvokeAgent", "Converse"])
@pytest.mark.parametrize(
    ("inject", "error"),
    [
        (lambda f: f.throttle(retry_after=2), Throttled),
        (lambda f: f.server_error(500), TransientError),
        (lambda f: f.server_error(503), TransientError),
        (lambda f: f.delay(1.0), CallTimeout),
        (lambda f: f.cut(), TransientError),
        (lambda f: f.malformed(), TransientError),
        (lambda f: f.deny(), AuthError),
    ],
    ids=["throttle", "500", "503", "delay", "cut", "malformed", "denied"],
)
async def test_each_fault_becomes_a_podium_error(
    emulator: BedrockEmulator, tmp_path: Path, agent: dict[str, str], managed: bool, inject, error
) -> None:
    inject(emulator.faults)
    provider = provider_for(emulator, tmp_path, read_timeout=0.3)
    with pytest.raises(error) as caught:
        await provider.invoke(request(binding=agent if managed else {}))
    await provider.aclose()
    assert caught.value.provider == "bedrock"
    assert emulator.count() == 1  # botocore did not retry behind podium's back
    if error is Throttled:
        assert caught.value.retry_after == 2
    if error is AuthError:
        assert "credentials" in (caught.value.fix or "")
    assert error.retryable is (error is not AuthError)


async def test_an_error_event_mid_stream_is_mapped_by_its_code(
    emulator: BedrockEmulator, tmp_path: Path, agent: dict[str, str]
) -> None:
    emulator.faults.stream_error("throttlingException")
    emulator.faults.stream_error("validationException")
    provider = provider_for(emulator, tmp_path)
    with pytest.raises(Throttled):
        await provider.invoke(request(binding=agent))
    with pytest.raises(InvalidRequest):
        await provider.invoke(request(binding=agent))
    await provider.aclose()


async def test_an_unknown_agent_is_an_invalid_request(emulator: BedrockEmulator, tmp_path: Path) -> None:
    provider = provider_for(emulator, tmp_path)
    with pytest.raises(InvalidRequest, match="ResourceNotFoundException") as caught:
        await provider.invoke(
            request(agent="writer", binding={"agent_id": "NOSUCHAGNT", "alias_id": "NOSUCHALIA"})
        )
    await provider.aclose()
    assert "agents.writer.bedrock" in (caught.value.fix or "")
    assert not caught.value.retryable


async def test_a_logical_model_name_gets_a_fix(emulator: BedrockEmulator, tmp_path: Path) -> None:
    provider = provider_for(emulator, tmp_path)
    with pytest.raises(InvalidRequest, match="model identifier is invalid") as caught:
        await provider.invoke(request(model="fast"))
    await provider.aclose()
    assert "providers.bedrock.models" in (caught.value.fix or "")


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("binding", "model", "message", "fix"),
    [
        ({}, None, "agent 'writer' has neither a Bedrock agent_id nor a model", "podium deploy"),
        ({"alias_id": "ABCDEFGHIJ"}, HAIKU, "alias_id ABCDEFGHIJ needs the agent it belongs to", "agent_id"),
        (
            {"agentid": "ABCDEFGHIJ"},
            HAIKU,
            "agents.writer.bedrock is not a valid Bedrock binding",
            "agent_id",
        ),
        ({"agent_id": "short"}, HAIKU, "agent_id: String should match pattern", "agent_id"),
    ],
    ids=["neither", "alias-without-agent", "unknown-key", "bad-id"],
)
async def test_bad_bindings_name_the_agent_and_the_fix(
    emulator: BedrockEmulator, tmp_path: Path, binding: dict, model: str | None, message: str, fix: str
) -> None:
    provider = provider_for(emulator, tmp_path)
    with pytest.raises(InvalidRequest) as caught:
        await provider.invoke(request(agent="writer", binding=binding, model=model))
    await provider.aclose()
    assert message in caught.value.message and fix in (caught.value.fix or "")
    assert emulator.count() == 0


def test_the_binding_model_names_its_fields() -> None:
    assert set(BedrockProvider.Binding.model_fields) == {
        "agent_id", "alias_id", "model",
        "runtime_arn", "qualifier", "payload", "user_id", "stream", "fallback_model",
    }  # fmt: skip
    assert BedrockBinding(agent_id="ABCDEFGHIJ").alias_id is None


async def test_no_region_is_a_clear_error_not_a_botocore_traceback(tmp_path: Path) -> None:
    provider = BedrockProvider(BedrockConfig(), ProviderEnv(workflow="w", base_dir=tmp_path))
    with pytest.raises(InvalidRequest) as caught:
        await provider.invoke(request())
    await provider.aclose()
    assert "no AWS region" in caught.value.message
    assert "providers.bedrock.region" in (caught.value.fix or "") and "--emulate" in (caught.value.fix or "")


async def test_no_credentials_is_an_auth_error_saying_how_to_configure_them(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    config = BedrockConfig(region="us-east-1", endpoint_url=emulator.endpoint_url)
    provider = BedrockProvider(config, ProviderEnv(workflow="w", base_dir=tmp_path))
    with pytest.raises(AuthError) as caught:
        await provider.invoke(request())
    await provider.aclose()
    assert "no AWS credentials" in caught.value.message
    assert "aws configure" in (caught.value.fix or "") and not caught.value.retryable
    assert emulator.count() == 0


async def test_an_unknown_profile_is_an_auth_error(tmp_path: Path) -> None:
    config = BedrockConfig(region="us-east-1", profile="nope")
    provider = BedrockProvider(config, ProviderEnv(workflow="w", base_dir=tmp_path))
    with pytest.raises(AuthError, match="nope"):
        await provider.invoke(request())
    await provider.aclose()


def test_without_boto3_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    provider = BedrockProvider(
        BedrockConfig(region="us-east-1"), ProviderEnv(workflow="w", base_dir=tmp_path)
    )
    with pytest.raises(ImportError, match=r"pip install 'podium\[bedrock\]'"):
        provider.session()


def test_aws_region_is_honoured_as_the_aws_cli_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from podium.providers.bedrock.client import BedrockClients
    from podium.providers.bedrock.config import BedrockConfig

    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert BedrockClients(BedrockConfig()).region == "eu-west-3"
    assert BedrockClients(BedrockConfig(region="us-west-2")).region == "us-west-2"  # the setting wins
