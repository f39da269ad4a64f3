"""Every operation azure-ai-projects' agents and the openai client's responses/conversations can call is
routed by its own method and path: served, or a 501 naming itself in Azure's error shape.

The surface is read from the installed SDKs: azure-ai-projects' request builders (``build_agents_*``:
method, path and headers, exactly as the SDK sends them), and the public methods of the openai
client's ``responses`` and ``conversations`` resources, each called for real.
"""

from __future__ import annotations

import inspect
import re
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from azure_support import openai_client

from podium.providers.azure.emulator import TOKEN, AzureEmulator
from podium.providers.azure.surface import AGENT_OPERATIONS, OPENAI_OPERATIONS, SERVED


def agent_builders() -> dict[str, Callable[..., Any]]:
    from azure.ai.projects.operations import _operations

    return {
        name[len("build_agents_") : -len("_request")]: fn
        for name, fn in vars(_operations).items()
        if name.startswith("build_agents_") and name.endswith("_request") and callable(fn)
    }


def built(builder: Callable[..., Any]) -> Any:
    """The SDK's own request, its required arguments filled with sample values."""
    arguments = {
        p.name: "1" if p.name in ("agent_version",) else f"sample-{p.name.replace('_', '-')}"
        for p in inspect.signature(builder).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    return builder(**arguments)


def test_the_table_lists_exactly_the_sdks_agents_operations() -> None:
    builders = agent_builders()
    assert set(builders) == set(AGENT_OPERATIONS)  # a new SDK operation fails here until it is listed
    for name, builder in builders.items():
        method, template, _ = AGENT_OPERATIONS[name]
        request = built(builder)
        path = re.sub(r"\{[a-z_]+\}", "X", template)
        sent = re.sub(r"sample-[a-z-]+|(?<=versions/)1", "X", request.url.split("?")[0])
        assert (request.method, sent) == (method, path), name


def test_every_agents_operation_is_served_or_a_501_naming_it(emulator: AzureEmulator) -> None:
    verify = ssl.create_default_context(cafile=emulator.ca_file)
    with httpx.Client(verify=verify, base_url=emulator.project_endpoint) as raw:
        for name, builder in sorted(agent_builders().items()):
            request = built(builder)
            headers = {**request.headers, "Authorization": f"Bearer {TOKEN}"}
            body = b"{}" if request.method in ("POST", "PUT", "PATCH") else None
            reply = raw.request(request.method, request.url, headers=headers, content=body)
            operation = AGENT_OPERATIONS[name][2]
            assert emulator.requests[-1].operation == operation, name
            error = reply.json()["error"] if reply.status_code >= 400 else None
            if operation in SERVED:
                assert reply.status_code != 501 and (error is None or reply.status_code < 500), name
            else:
                assert reply.status_code == 501 and error["code"] == "NotImplemented", name
                assert f"emulator: {operation} (agents.{name}" in error["message"]


# the openai client's responses and conversations, each method called as a user would
RID, CID, IID = "resp_sample", "conv_sample", "msg_sample"
OPENAI: dict[str, Callable[[openai.OpenAI], Any]] = {
    "responses.create": lambda c: c.responses.create(model="gpt-4o", input="hi"),
    "responses.parse": lambda c: c.responses.parse(model="gpt-4o", input="hi"),
    "responses.stream": lambda c: _streamed(c),
    "responses.retrieve": lambda c: c.responses.retrieve(RID),
    "responses.delete": lambda c: c.responses.delete(RID),
    "responses.cancel": lambda c: c.responses.cancel(RID),
    "responses.compact": lambda c: c.responses.compact(model="gpt-4o", input="hi"),
    "responses.input_items.list": lambda c: list(c.responses.input_items.list(RID)),
    "responses.input_tokens.count": lambda c: c.responses.input_tokens.count(model="gpt-4o", input="hi"),
    "conversations.create": lambda c: c.conversations.create(),
    "conversations.retrieve": lambda c: c.conversations.retrieve(CID),
    "conversations.update": lambda c: c.conversations.update(CID, metadata={"a": "b"}),
    "conversations.delete": lambda c: c.conversations.delete(CID),
    "conversations.items.create": lambda c: c.conversations.items.create(CID, items=[{"role": "user", "content": "x"}]),  # noqa: E501
    "conversations.items.retrieve": lambda c: c.conversations.items.retrieve(IID, conversation_id=CID),
    "conversations.items.list": lambda c: list(c.conversations.items.list(CID)),
    "conversations.items.delete": lambda c: c.conversations.items.delete(IID, conversation_id=CID),
}  # fmt: skip


def _streamed(client: openai.OpenAI) -> Any:
    with client.responses.stream(model="gpt-4o", input="hi") as stream:
        return stream.get_final_response()


WRAPPERS = {"responses.parse": "responses.create", "responses.stream": "responses.create"}
NOT_HTTP = {"responses.connect"}  # a WebSocket session (the Realtime-style transport), not a REST call


def test_the_openai_resources_are_all_listed() -> None:
    client = openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9")
    public = set()
    for prefix, resource in (
        ("responses", client.responses),
        ("responses.input_items", client.responses.input_items),
        ("responses.input_tokens", client.responses.input_tokens),
        ("conversations", client.conversations),
        ("conversations.items", client.conversations.items),
    ):
        for name, member in inspect.getmembers(type(resource)):
            if not name.startswith(("_", "with_")) and inspect.isfunction(member):
                public.add(f"{prefix}.{name}")
    assert public == set(OPENAI) | NOT_HTTP
    assert set(OPENAI) - set(WRAPPERS) == set(OPENAI_OPERATIONS)


@pytest.mark.parametrize("method", sorted(OPENAI))
def test_openai_calls_are_served_or_a_clear_501(emulator: AzureEmulator, method: str) -> None:
    operation = OPENAI_OPERATIONS[WRAPPERS.get(method, method)][2]
    try:
        OPENAI[method](openai_client(emulator).with_options(max_retries=2))
    except openai.APIStatusError as exc:
        if operation in SERVED:  # a sample id that does not exist: the service's own 404
            assert exc.status_code == 404 and exc.body["type"] == "invalid_request_error", method
        else:
            assert exc.status_code == 501 and f"emulator: {operation}" in exc.message, method
            assert emulator.count() == 1  # not retried: the reply says x-should-retry: false
    else:
        assert operation in SERVED
    assert emulator.requests[-1].operation == operation
