"""Bodies no client should send, sent to each cloud's emulator: the service's 400, never a 500.

A 500 is only ever an emulator's own bug (docs/emulators.md); these were, until the kit answered a
body nested past the JSON parser's depth as the cloud's malformed-body error, and the handlers
stopped trusting the shape of `tools`, schemas and call ids.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from podium.providers.azure.emulator import AzureEmulator
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.vertex.emulator import VertexEmulator

DEEP = b"[" * 100_000 + b"]" * 100_000
AWS_AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=a/20261201/us-east-1/bedrock/aws4_request"}
GEMINI = "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
HI = b'{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]'
JSON_MODE = b'"generationConfig": {"responseMimeType": "application/json", "responseSchema": 5}}'
AZURE_JSON = b'"text": {"format": {"type": "json_schema", "schema": 5}}}'
# a schema that is no object is ignored (the request answered); every other body here is refused
IGNORED = (JSON_MODE, AZURE_JSON)


def bedrock(emu: Any) -> tuple[str, dict[str, str], list[tuple[str, bytes]]]:
    converse = "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    return emu.endpoint_url, AWS_AUTH, [(converse, b'{"messages": ' + DEEP + b"}")]


def vertex(emu: Any) -> tuple[str, dict[str, str], list[tuple[str, bytes]]]:
    return (
        emu.endpoint_url,
        {"Authorization": "Bearer t"},
        [
            (GEMINI, b'{"contents": ' + DEEP + b"}"),
            (GEMINI, HI + b', "tools": 5}'),
            (GEMINI, HI + b", " + JSON_MODE),
        ],
    )


def azure(emu: Any) -> tuple[str, dict[str, str], list[tuple[str, bytes]]]:
    responses = "/openai/v1/responses"
    ask = b'{"model": "gpt-4o", "input": '
    return (
        emu.project_endpoint,
        {"Authorization": "Bearer t"},
        [
            (responses, ask + DEEP + b"}"),
            (responses, ask + b'"hi", "tools": 5}'),
            (responses, ask + b'"hi", ' + AZURE_JSON),
            (responses, ask + b'[{"type": "function_call_output", "call_id": [1], "output": "x"}]}'),
        ],
    )


@pytest.mark.parametrize(
    ("cls", "cases"),
    [(BedrockEmulator, bedrock), (VertexEmulator, vertex), (AzureEmulator, azure)],
    ids=["bedrock", "vertex", "azure"],
)
def test_a_malformed_body_is_the_clouds_400_never_a_500(cls: type, cases: Callable[[Any], Any]) -> None:
    with cls() as emu:
        base, headers, sent = cases(emu)
        verify = ssl.create_default_context(cafile=emu.ca_file) if cls is AzureEmulator else True
        with httpx.Client(verify=verify, headers={**headers, "Content-Type": "application/json"}) as client:
            for path, body in sent:
                reply = client.post(base + path, content=body)
                expected = 200 if body.endswith(IGNORED) else 400
                assert reply.status_code == expected, (path, body[:80], reply.text)
