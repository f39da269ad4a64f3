"""The Vertex emulator driven by a client podium's provider never uses: the REST API through httpx,
as Google's REST reference shows it (JSON bodies, a bearer token, ``alt=sse`` streams, operations).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from vertex_support import FLASH, scripted

from podium.core.calls import Usage
from podium.providers._kit.brains import Answer
from podium.providers.vertex.emulator import DUMMY_TOKEN, VertexEmulator

LOCATION = "v1/projects/podium-emulator/locations/us-central1"
MODEL = f"{LOCATION}/publishers/google/models/{FLASH}"
ASK = {"contents": [{"role": "user", "parts": [{"text": "Why do tides happen?"}]}]}


@pytest.fixture
def rest(emulator: VertexEmulator) -> Iterator[httpx.Client]:
    auth = {"Authorization": f"Bearer {DUMMY_TOKEN}"}
    with httpx.Client(base_url=emulator.endpoint_url + "/", headers=auth) as client:
        yield client


def test_generate_content_and_count_tokens(emulator: VertexEmulator, rest: httpx.Client) -> None:
    emulator.brain = lambda turn: Answer("The moon.", Usage(input_tokens=7, output_tokens=3))
    reply = rest.post(f"{MODEL}:generateContent", json=ASK)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["candidates"][0]["content"] == {"role": "model", "parts": [{"text": "The moon."}]}
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert body["usageMetadata"]["totalTokenCount"] == 10 and body["modelVersion"] == FLASH

    counted = rest.post(f"{MODEL}:countTokens", json=ASK).json()
    assert counted["totalTokens"] == 5 and counted["promptTokensDetails"][0]["tokenCount"] == 5


def test_stream_generate_content_with_alt_sse_and_as_a_json_array(
    emulator: VertexEmulator, rest: httpx.Client
) -> None:
    emulator.brain = lambda turn: Answer(
        "Tides rise and fall twice a day.", Usage(input_tokens=5, output_tokens=8)
    )
    with rest.stream("POST", f"{MODEL}:streamGenerateContent", params={"alt": "sse"}, json=ASK) as sse:
        assert sse.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: ") :]) for line in sse.iter_lines() if line.startswith("data: ")]
    assert len(events) > 1
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events) == (
        "Tides rise and fall twice a day."
    )
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 8

    whole = rest.post(f"{MODEL}:streamGenerateContent", json=ASK)  # no alt: one JSON array
    assert whole.headers["content-type"].startswith("application/json")
    assert [c["candidates"][0]["content"] for c in whole.json()] == [
        e["candidates"][0]["content"] for e in events
    ]


def test_an_engine_made_over_rest_answers_queries_and_streams(
    emulator: VertexEmulator, rest: httpx.Client
) -> None:
    scripted(emulator, {"helper": ["streamed answer"]})
    spec = {"sourceCodeSpec": {"agentConfigSource": {"adkConfig": {"jsonConfig": {"model": FLASH}}}}}
    operation = rest.post(f"{LOCATION}/reasoningEngines", json={"displayName": "helper", "spec": spec}).json()
    while not operation.get("done"):  # the long-running operation, polled as the REST docs show
        time.sleep(0.01)
        operation = rest.get(f"v1/{operation['name']}").json()
    name = operation["response"]["name"]
    assert rest.get(f"v1/{operation['name']}").json()["done"] is True

    made = rest.post(
        f"v1/{name}:query", json={"classMethod": "create_session", "input": {"user_id": "u1"}}
    ).json()["output"]
    with rest.stream(
        "POST",
        f"v1/{name}:streamQuery",
        params={"alt": "sse"},
        json={
            "classMethod": "stream_query",
            "input": {"message": "hi", "user_id": "u1", "session_id": made["id"]},
        },
    ) as streamed:
        assert streamed.status_code == 200
        events = [json.loads(line) for line in streamed.iter_lines() if line.strip()]
    assert [e["content"]["parts"][0]["text"] for e in events] == ["streamed answer"]
    assert events[0]["usage_metadata"]["total_token_count"] > 0

    deleted = rest.delete(f"v1/{name}").json()
    assert deleted["done"] is True
    assert rest.get(f"v1/{name}").json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{MODEL}:generateContent"),
        ("POST", f"{MODEL}:streamGenerateContent"),
        ("POST", f"{MODEL}:countTokens"),
        ("POST", f"{LOCATION}/reasoningEngines"),
        ("PATCH", f"{LOCATION}/reasoningEngines/1?updateMask=displayName"),
        ("POST", f"{LOCATION}/reasoningEngines/1:query"),
        ("POST", f"{LOCATION}/reasoningEngines/1:streamQuery"),
        ("POST", f"{LOCATION}/reasoningEngines/1/sessions"),
        ("POST", f"{LOCATION}/reasoningEngines/1/sessions/2:appendEvent"),
    ],
)
def test_a_malformed_body_is_invalid_argument_never_a_500(rest: httpx.Client, method: str, path: str) -> None:
    for body in (b"{not json", b"[1, 2]"):
        reply = rest.request(method, path, content=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400, (path, body)
        assert reply.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_not_found_and_unimplemented_in_googles_shape(rest: httpx.Client) -> None:
    missing = rest.post(f"{LOCATION}/reasoningEngines/404:query", json={"classMethod": "query", "input": {}})
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": 404,
        "message": "The ReasoningEngine projects/podium-emulator/locations/us-central1/reasoningEngines/404"
        " does not exist.",
        "status": "NOT_FOUND",
    }
    unserved = rest.post(f"{LOCATION}/reasoningEngines/404/memories", json={})
    assert unserved.status_code == 501
    error = unserved.json()["error"]
    assert error["status"] == "UNIMPLEMENTED" and "emulator: CreateMemory" in error["message"]


def test_the_sessions_api_shares_the_engines_sessions(emulator: VertexEmulator, rest: httpx.Client) -> None:
    seen: list[list[str]] = []
    emulator.brain = lambda turn: seen.append([m.content for m in turn.messages]) or "noted"
    engine = f"v1beta1/{emulator.add_engine('helper')}"
    made = rest.post(f"{engine}/sessions", json={"userId": "u1", "sessionState": {"lang": "en"}}).json()
    assert made["done"] is True
    session = made["response"]["name"]
    assert rest.get(f"v1beta1/{made['name']}").json()["done"] is True  # its operation, polled

    event = {
        "author": "user",
        "invocationId": "i-1",
        "timestamp": "2026-01-01T00:00:00.123456789Z",
        "content": {"role": "user", "parts": [{"text": "My name is Ada."}]},
        "actions": {"stateDelta": {"name": "Ada"}},
    }
    assert rest.post(f"v1beta1/{session}:appendEvent", json=event).json() == {}
    assert rest.post(f"v1beta1/{session}:appendEvent", json={"author": "user"}).status_code == 400
    got = rest.get(f"v1beta1/{session}").json()
    assert got["userId"] == "u1" and got["sessionState"] == {"lang": "en", "name": "Ada"}
    listed = rest.get(f"{engine}/sessions", params={"filter": 'user_id="u1"'}).json()["sessions"]
    assert [s["name"] for s in listed] == [session]
    assert rest.get(f"{engine}/sessions", params={"filter": 'user_id="u2"'}).json() == {}

    # the engine's stream_query continues the same session, with the appended event as history
    session_id = session.rsplit("/", 1)[1]
    query = {
        "classMethod": "stream_query",
        "input": {"message": "Who am I?", "user_id": "u1", "session_id": session_id},
    }
    assert rest.post(f"{engine}:streamQuery", json=query).status_code == 200
    assert seen == [["My name is Ada.", "Who am I?"]]
    events = rest.get(f"v1beta1/{session}/events").json()["sessionEvents"]
    assert [e["author"] for e in events] == ["user", "user", "helper"]
    assert events[0]["timestamp"] == "2026-01-01T00:00:00.123456Z" and events[0]["invocationId"] == "i-1"

    assert rest.delete(f"v1beta1/{session}").json()["done"] is True
    assert rest.get(f"v1beta1/{session}").json()["error"]["status"] == "NOT_FOUND"
