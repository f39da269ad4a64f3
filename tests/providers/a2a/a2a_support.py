"""A real A2A agent for tests: the a2a-sdk's own server classes under uvicorn on 127.0.0.1.

Each test scripts what the agent does with a function of the user's text (`Behaviour`), and reads
back what the agent was asked (`AgentServer.calls`: JSON-RPC methods or REST paths, in order).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Behaviour = Callable[[str, Any, Any], Awaitable[None]]  # (text, updater, context)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AgentServer:
    """One agent served over JSON-RPC and REST, with its card at the well-known path."""

    url: str
    calls: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # the message ids sent, in order
    http_status: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # next answers, by HTTP

    def jsonrpc_methods(self) -> list[str]:
        return [c.removeprefix("jsonrpc:") for c in self.calls if c.startswith("jsonrpc:")]


def replying(text: str, *, usage: dict[str, int] | None = None, data: Any = None) -> Behaviour:
    """An agent that completes each task with `text` (or a data part), reporting `usage` if given."""

    async def behave(_: str, updater: Any, context: Any) -> None:
        from a2a.types import Part
        from google.protobuf import json_format, struct_pb2

        if data is None:
            parts = [Part(text=text)]
        else:
            parts = [Part(data=json_format.ParseDict(data, struct_pb2.Value()))]
        await updater.add_artifact(parts, name="reply")
        metadata = {"usage": usage} if usage is not None else None
        await updater.complete(updater.new_agent_message([Part(text="done")], metadata=metadata))

    return behave


def ending(state: str, said: str = "") -> Behaviour:
    """An agent that ends each task in `state` (failed, rejected, canceled, input-required, auth-required)."""

    async def behave(_: str, updater: Any, context: Any) -> None:
        from a2a.types import Part

        message = updater.new_agent_message([Part(text=said)]) if said else None
        method = {
            "failed": updater.failed, "rejected": updater.reject, "canceled": updater.cancel,
            "input-required": updater.requires_input, "auth-required": updater.requires_auth,
        }[state]  # fmt: skip
        await method(message)

    return behave


def working_then(seconds: float, then: Behaviour) -> Behaviour:
    """An agent that answers at once that it is working, and finishes `seconds` later."""

    async def behave(text: str, updater: Any, context: Any) -> None:
        await updater.start_work()
        await asyncio.sleep(seconds)
        await then(text, updater, context)

    return behave


@contextmanager
def agent_server(
    behaviour: Behaviour,
    *,
    name: str = "scripted",
    versions: tuple[str, ...] = ("1.0",),
    transports: tuple[str, ...] = ("JSONRPC", "HTTP+JSON"),
    return_immediately: bool = False,
) -> Iterator[AgentServer]:
    """Serve an agent doing `behaviour` on a free port of 127.0.0.1 until the block ends."""
    import uvicorn
    from a2a.helpers.proto_helpers import new_task_from_user_message
    from a2a.server.agent_execution import AgentExecutor
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_state = AgentServer(url=base)

    class Scripted(AgentExecutor):
        async def execute(self, context: Any, event_queue: Any) -> None:
            if context.current_task is None:
                await event_queue.enqueue_event(new_task_from_user_message(context.message))
            server_state.messages.append(context.message.message_id)
            updater = TaskUpdater(event_queue, context.task_id, context.context_id)
            await behaviour(context.get_user_input(), updater, context)

        async def cancel(self, context: Any, event_queue: Any) -> None:
            await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()

    paths = {"JSONRPC": "/a2a/jsonrpc", "HTTP+JSON": "/a2a/rest"}
    interfaces = [
        AgentInterface(protocol_binding=t, url=base + paths.get(t, "/a2a/other"), protocol_version=v)
        for t in transports
        for v in versions
    ]
    card = AgentCard(
        name=name, description=f"a scripted agent ({name})", version="1.0",
        supported_interfaces=interfaces, capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"], default_output_modes=["text/plain", "application/json"],
        skills=[AgentSkill(id="answer", name="answer", description="answers", tags=["test"])],
    )  # fmt: skip
    handler = DefaultRequestHandler(
        agent_executor=Scripted(), task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/a2a/jsonrpc")]
    routes += create_rest_routes(handler, path_prefix="/a2a/rest")
    app = Starlette(routes=routes)

    async def record(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"]
        if path == "/a2a/jsonrpc":
            try:
                server_state.calls.append("jsonrpc:" + str(json.loads(body).get("method")))
            except ValueError:
                server_state.calls.append("jsonrpc:?")
        elif path.startswith("/a2a/rest"):
            server_state.calls.append(f"rest:{scope['method']} {path.removeprefix('/a2a/rest')}")
        if server_state.http_status and path != "/.well-known/agent-card.json":
            status, headers = server_state.http_status.pop(0)
            return await JSONResponse({"error": "scripted"}, status_code=status, headers=headers)(
                scope, receive, send
            )
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await app(scope, replay, send)

    server = uvicorn.Server(uvicorn.Config(record, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield server_state
    finally:
        server.should_exit = True
        thread.join(10)
