"""Scripted A2A agents on 127.0.0.1, served by the a2a-sdk's own server classes (Starlette, uvicorn).

Every agent name is an agent: `/agents/<name>` has its card (`/.well-known/agent-card.json`), a
JSON-RPC endpoint (`/jsonrpc`) and a REST one (`/rest`). Each answers from the workflow's `mock:`
replies (by step, read from podium's context id, else by agent), as the other emulators do, and
reports the reply's usage in the task's metadata. Faults are queued as on any emulator (throttle,
server_error, auth, delay, malformed), plus what only A2A has: a task that stays `working`, one
that asks for `input-required`, and one that ends `failed` (`A2AFaults.working()` and so on).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from podium.core.errors import StepError
from podium.providers._kit.brains import ScriptedBrain, Turn
from podium.providers._kit.faults import Fault, Faults
from podium.providers.a2a.binding import A2AEmulatorOptions

_CONTEXT = re.compile(r"^podium/(?P<run>[^/]+)/(?P<step>[^/]+)(?:/(?P<item>\d+))?$")  # provider.context_id
_STATUS_OF = {"throttled": 429, "transient": 503, "invalid_request": 400, "auth": 403}


class A2AFaults(Faults):
    """The emulator's faults: the usual ones, and the task states only A2A has."""

    def working(self, times: int = 1) -> None:
        """The next task stays `working` for good (the client gives up or is killed)."""
        self.inject(Fault("stream_error", code="working", operation="task"), times)

    def input_required(self, times: int = 1, *, message: str = "Which account?") -> None:
        """The next task asks the caller for more input."""
        self.inject(Fault("stream_error", code="input-required", message=message, operation="task"), times)

    def failed(self, times: int = 1, *, message: str = "the agent failed") -> None:
        """The next task ends `failed`, with `message`."""
        self.inject(Fault("stream_error", code="failed", message=message, operation="task"), times)


@dataclass(frozen=True, slots=True)
class A2AExchange:
    """One request the emulator served (the log a test reads)."""

    operation: str
    method: str
    path: str
    status: int
    fault: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    traceparent: str | None = None


class A2AEmulator:
    """Any number of scripted A2A agents on one port; start it, or use it as a context manager."""

    options: ClassVar[type[A2AEmulatorOptions]] = A2AEmulatorOptions

    def __init__(self, mock: Mapping[str, Any] | None = None, *, port: int = 0) -> None:
        self.brain = ScriptedBrain(mock or {}, provider="a2a")
        self._faults = A2AFaults()
        self._log: list[A2AExchange] = []
        self._apps: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- the Emulator protocol ----------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def faults(self) -> A2AFaults:
        return self._faults

    @property
    def requests(self) -> list[A2AExchange]:
        with self._lock:
            return list(self._log)

    def settings(self) -> dict[str, Any]:
        """`providers.a2a`: send every agent's calls here, to `/agents/<agent>`."""
        return {"endpoint_url": self.endpoint_url}

    def environment(self) -> dict[str, str]:
        return {}

    def start(self) -> Self:
        import uvicorn

        if self._port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self._port = int(s.getsockname()[1])
        config = uvicorn.Config(
            self._asgi,
            host="127.0.0.1",
            port=self._port,
            log_level="error",
            lifespan="off",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="a2a-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                from podium.core.errors import BadInput

                raise BadInput(
                    f"the A2A emulator could not listen on 127.0.0.1:{self._port}",
                    fix="is the port in use? choose another with --port",
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving ------------------------------------------------------------------------------

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        parts = path.split("/", 3)  # "", "agents", name, rest
        if len(parts) < 3 or parts[1] != "agents" or not parts[2]:
            await _json(send, 404, {"error": f"no agent at {path}: agents are served at /agents/<name>"})
            return
        name = parts[2]
        operation = _operation(path, scope["method"])
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        fault = self._faults.take(operation) if operation != "card" else None
        if fault is not None and fault.kind != "stream_error":
            await self._fault(send, fault, operation, scope, headers)
            return
        app = self._app(name)
        status = {"code": 200}

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        inner = dict(scope, path="/" + (parts[3] if len(parts) > 3 else ""), root_path="")
        await app(inner, receive, sending)
        self._record(operation, scope, status["code"], None, {"agent": name}, headers)

    async def _fault(
        self, send: Any, fault: Fault, operation: str, scope: dict[str, Any], headers: dict[str, str]
    ) -> None:
        self._record(operation, scope, fault.status or 500, fault.kind, {}, headers)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            await _json(send, 504, {"error": "the emulator waited, as told"})
        elif fault.kind == "malformed":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b"{not json"})
        else:
            extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            await _json(send, fault.status or 500, {"error": fault.message or fault.kind}, extra)

    def _record(
        self,
        operation: str,
        scope: dict[str, Any],
        status: int,
        fault: str | None,
        detail: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        exchange = A2AExchange(operation, scope["method"], scope["path"], status, fault, detail,
                               headers.get("traceparent"))  # fmt: skip
        with self._lock:
            self._log.append(exchange)
            del self._log[:-10_000]  # bounded, as the other emulators' logs are

    def _app(self, name: str) -> Any:
        with self._lock:
            app = self._apps.get(name)
            if app is None:
                app = self._apps[name] = self._build(name)
            return app

    def _build(self, name: str) -> Any:
        from a2a.server.request_handlers import DefaultRequestHandler
        from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
        from a2a.server.tasks import InMemoryTaskStore
        from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
        from starlette.applications import Starlette

        base = f"{self.endpoint_url}/agents/{name}"
        card = AgentCard(
            name=name, description=f"podium's scripted A2A agent '{name}' (the workflow's mock replies)",
            version="1.0",
            supported_interfaces=[
                AgentInterface(protocol_binding="JSONRPC", url=f"{base}/jsonrpc", protocol_version="1.0"),
                AgentInterface(protocol_binding="HTTP+JSON", url=f"{base}/rest", protocol_version="1.0"),
            ],
            capabilities=AgentCapabilities(streaming=False),
            default_input_modes=["text/plain"], default_output_modes=["text/plain", "application/json"],
            skills=[AgentSkill(id="reply", name="reply", description="answers from mock:", tags=["podium"])],
        )  # fmt: skip
        handler = DefaultRequestHandler(
            agent_executor=_Scripted(self, name), task_store=InMemoryTaskStore(), agent_card=card
        )
        routes = [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/jsonrpc")]
        routes += create_rest_routes(handler, path_prefix="/rest")
        return Starlette(routes=routes)


class _Scripted:
    """The a2a-sdk executor of one emulated agent: the brain's answer, as a completed task."""

    def __init__(self, emulator: A2AEmulator, name: str) -> None:
        self.emulator = emulator
        self.name = name

    async def execute(self, context: Any, event_queue: Any) -> None:
        from a2a.helpers.proto_helpers import new_task_from_user_message
        from a2a.server.tasks import TaskUpdater
        from a2a.types import Part

        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        fault = self.emulator.faults.take("task")
        if fault is not None:
            said = [Part(text=fault.message)] if fault.message else [Part(text=fault.code or "")]
            if fault.code == "working":
                await updater.start_work()
                return  # never finished: the task stays working
            message = updater.new_agent_message(said)
            await (updater.requires_input if fault.code == "input-required" else updater.failed)(message)
            return
        found = _CONTEXT.match(context.context_id or "")
        turn = Turn(
            prompt=context.get_user_input(), step=found.group("step") if found else None, agent=self.name,
            run_id=found.group("run") if found else None,
        )  # fmt: skip
        try:
            answer = await asyncio.to_thread(self.emulator.brain.answer, turn)
        except StepError as exc:
            await updater.failed(updater.new_agent_message([Part(text=f"{exc.kind}: {exc.message}")]))
            return
        usage = {"input_tokens": answer.usage.input_tokens, "output_tokens": answer.usage.output_tokens}
        reply = _part(answer.text)
        await updater.add_artifact([reply], name="reply")
        await updater.complete(updater.new_agent_message([Part(text="done")], metadata={"usage": usage}))

    async def cancel(self, context: Any, event_queue: Any) -> None:
        from a2a.server.tasks import TaskUpdater

        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def _part(text: str) -> Any:
    """A reply as a part: a JSON object or list as a data part (a step's structured output), else text."""
    from a2a.types import Part
    from google.protobuf import json_format, struct_pb2

    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            value = json.loads(stripped)
        except ValueError:
            return Part(text=text)
        return Part(data=json_format.ParseDict(value, struct_pb2.Value()))
    return Part(text=text)


def _operation(path: str, method: str) -> str:
    if path.endswith("/.well-known/agent-card.json"):
        return "card"
    if "/jsonrpc" in path:
        return "jsonrpc"
    return f"rest {method}"


async def _json(send: Any, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    listed = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    listed += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": listed})
    await send({"type": "http.response.body", "body": raw})
