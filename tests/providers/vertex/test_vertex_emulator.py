"""The Vertex emulator through the unmodified Google SDKs (google-genai, vertexai) over HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest
from google.genai import errors, types
from vertex_support import FLASH, genai_client, scripted, vertexai_client

from podium.core.calls import Usage
from podium.providers._kit.brains import Answer
from podium.providers.vertex.emulator import VertexEmulator


def test_generate_content_reports_usage_with_cached_and_thinking_tokens(emulator: VertexEmulator) -> None:
    emulator.brain = lambda turn: Answer(
        "Tides.", Usage(input_tokens=80, cache_read_tokens=20, output_tokens=30)
    )
    emulator.thoughts_tokens = 12
    client = genai_client(emulator)  # kept: a google-genai Client closes its connections when collected
    reply = client.models.generate_content(
        model=FLASH,
        contents="Why tides?",
        config=types.GenerateContentConfig(system_instruction="Be brief.", labels={"podium_step": "ask"}),
    )
    assert reply.text == "Tides."
    used = reply.usage_metadata
    assert used is not None
    # the prompt includes the cached tokens; the thinking is reported apart from the candidates
    assert (used.prompt_token_count, used.cached_content_token_count) == (100, 20)
    assert (used.candidates_token_count, used.thoughts_token_count, used.total_token_count) == (18, 12, 130)
    [served] = emulator.requests
    assert served.operation == "GenerateContent" and served.detail["step"] == "ask"


def test_a_throttle_comes_back_as_resource_exhausted_with_retry_info(emulator: VertexEmulator) -> None:
    emulator.faults.throttle(retry_after=2.5)
    client = genai_client(emulator)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=FLASH, contents="hi")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    [info] = caught.value.details["error"]["details"]
    assert info["@type"].endswith("google.rpc.RetryInfo") and info["retryDelay"] == "2.5s"
    assert emulator.count() == 1  # google-genai made one attempt: its retries are off


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (lambda c: c.models.generate_content(model="gpt-4o", contents="hi"), 404, "was not found"),
        (
            lambda c: c.models.generate_content(
                model=FLASH,
                contents=[
                    types.Content(role="user", parts=[types.Part(text="hi")]),
                    types.Content(role="model", parts=[types.Part(text="hello")]),
                ],
            ),
            400,
            "last turn",
        ),
        (
            lambda c: c.models.generate_content(
                model=FLASH, contents="hi", config=types.GenerateContentConfig(labels={"Bad Key": "x"})
            ),
            400,
            "lowercase letters",
        ),
        (
            lambda c: c.models.generate_content(
                model=FLASH, contents="hi", config=types.GenerateContentConfig(temperature=3.0)
            ),
            400,
            "temperature",
        ),
        (
            lambda c: c.models.generate_content(
                model=FLASH, contents="hi", config=types.GenerateContentConfig(max_output_tokens=0)
            ),
            400,
            "maxOutputTokens",
        ),
    ],
    ids=["unknown-model", "model-last", "bad-label", "temperature", "max-tokens"],
)
def test_bad_gemini_requests_get_the_services_errors(
    emulator: VertexEmulator, call: object, status: int, message: str
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        call(genai_client(emulator))  # type: ignore[operator]
    assert caught.value.code == status and message in str(caught.value.message)


def test_a_request_without_a_bearer_token_is_unauthenticated(emulator: VertexEmulator) -> None:
    path = f"/v1beta1/projects/p/locations/us-central1/publishers/google/models/{FLASH}:generateContent"
    reply = httpx.post(
        emulator.endpoint_url + path, json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    )
    assert reply.status_code == 401 and reply.json()["error"]["status"] == "UNAUTHENTICATED"


def test_an_adk_engine_keeps_its_session_and_streams_events_with_usage(emulator: VertexEmulator) -> None:
    scripted(emulator, {"helper": ["first answer", "second answer"]})
    name = emulator.add_engine("helper")
    engine = vertexai_client(emulator).agent_engines.get(name=name)

    session = engine.create_session(user_id="u1", state={"podium:step": "ask"})
    first = list(engine.stream_query(message="one", user_id="u1", session_id=session["id"]))
    second = list(engine.stream_query(message="two", user_id="u1", session_id=session["id"]))

    assert [e["content"]["parts"][0]["text"] for e in first + second] == ["first answer", "second answer"]
    assert first[0]["usage_metadata"]["prompt_token_count"] > 0
    assert [s["id"] for s in engine.list_sessions(user_id="u1")["sessions"]] == [session["id"]]
    assert len(emulator.sessions[session["id"]].events) == 4  # two questions, two answers
    assert [e.detail.get("step") for e in emulator.requests if e.operation == "StreamQuery"] == ["ask"] * 2


def test_a_query_engine_returns_its_output(emulator: VertexEmulator) -> None:
    name = emulator.add_engine("summariser", kind="query")
    engine = vertexai_client(emulator).agent_engines.get(name=name)
    assert engine.query(input="tides", config={"metadata": {"podium:step": "sum"}}) == {
        "input": "tides",
        "output": "tides",
    }


def test_unknown_engines_sessions_and_methods_are_the_services_errors(emulator: VertexEmulator) -> None:
    client = vertexai_client(emulator)
    with pytest.raises(errors.ClientError) as missing:
        client.agent_engines.get(name="projects/p/locations/us-central1/reasoningEngines/42")
    assert missing.value.code == 404 and "does not exist" in str(missing.value.message)

    engine = client.agent_engines.get(name=emulator.add_engine("helper"))
    with pytest.raises(errors.ClientError) as no_session:
        list(engine.stream_query(message="hi", user_id="u1", session_id="404"))
    assert no_session.value.code == 404 and "Session not found" in str(no_session.value.message)
    with pytest.raises(errors.ClientError) as no_message:
        list(engine.stream_query(user_id="u1"))
    assert no_message.value.code == 400 and "'message'" in str(no_message.value.message)


def test_a_deleted_engine_stays_deleted_where_engines_are_made_on_first_use() -> None:
    # `podium emulate vertex` and --emulate serve any engine a workflow binds; one the user deleted
    # must then be NOT_FOUND, as on Vertex, not made again by the next get
    with VertexEmulator.for_workflow(None) as emulator:
        client = vertexai_client(emulator)
        made = client.agent_engines.create(config={"display_name": "scratch"}).api_resource.name
        bound = f"projects/{emulator.state.project}/locations/us-central1/reasoningEngines/77"
        assert client.agent_engines.get(name=bound).api_resource.name == bound  # made on first use
        for name in (made, bound):
            client.agent_engines.delete(name=name)
            with pytest.raises(errors.ClientError) as gone:
                client.agent_engines.get(name=name)
            assert gone.value.code == 404 and "does not exist" in str(gone.value.message)
        assert list(client.agent_engines.list()) == []


def test_stream_generate_content_streams_the_reply_in_chunks_with_usage_last(
    emulator: VertexEmulator,
) -> None:
    emulator.brain = lambda turn: Answer(
        "Tides rise and fall twice a day.", Usage(input_tokens=10, cache_read_tokens=0, output_tokens=8)
    )
    client = genai_client(emulator)
    chunks = list(client.models.generate_content_stream(model=FLASH, contents="Why tides?"))
    assert len(chunks) > 1  # streamed, not one reply
    assert "".join(c.text or "" for c in chunks) == "Tides rise and fall twice a day."
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.total_token_count == 18
    assert chunks[-1].candidates[0].finish_reason == "STOP"
    [served] = emulator.requests
    assert served.operation == "StreamGenerateContent" and served.status == 200


def test_a_stream_cut_mid_way_is_an_error_the_client_sees(emulator: VertexEmulator) -> None:
    emulator.faults.cut(operation="StreamGenerateContent")
    client = genai_client(emulator)
    with pytest.raises(Exception):  # noqa: B017 - whichever error the SDK raises for a broken stream
        list(client.models.generate_content_stream(model=FLASH, contents="Why tides?"))


def test_a_chat_is_answered_to_its_newest_question(emulator: VertexEmulator) -> None:
    # the echo answers the user's last words: a chat's second turn is not answered with its first
    client = genai_client(emulator)  # kept: a Client closes its connections when collected
    chat = client.chats.create(model=FLASH)
    assert [chat.send_message(said).text for said in ("one", "two")] == ["one", "two"]


def test_a_model_id_with_a_colon_is_a_missing_publisher_model(emulator: VertexEmulator) -> None:
    client = genai_client(emulator)
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(model="us.anthropic.claude-haiku-4-5-20251001-v1:0", contents="hi")
    assert missing.value.code == 404 and "Publisher Model" in str(missing.value.message)


def test_mode_any_forces_a_function_call_and_json_mode_answers_json(emulator: VertexEmulator) -> None:
    # what langchain's with_structured_output and tool-forcing clients rely on, as Gemini does it
    client = genai_client(emulator)
    weather = types.FunctionDeclaration(
        name="get_weather",
        parameters={"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
    )
    forced = types.FunctionCallingConfig(mode="ANY", allowed_function_names=["get_weather"])
    reply = client.models.generate_content(
        model=FLASH,
        contents="Paris",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[weather])],
            tool_config=types.ToolConfig(function_calling_config=forced),
        ),
    )
    [call] = reply.function_calls or []
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    schema = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}
    structured = client.models.generate_content(
        model=FLASH,
        contents="Oslo",
        config=types.GenerateContentConfig(response_mime_type="application/json", response_schema=schema),
    )
    assert structured.parsed == {"city": "Oslo"}
