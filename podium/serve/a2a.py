"""`podium serve FLOW --a2a`: a workflow as an Agent2Agent agent, on the a2a-sdk's own server classes.

A `message/send` starts a run (durable in podium's store, as any run); the task the caller gets is
the run: `working` while it runs, `input-required` at an approval step (the caller's reply approves
or rejects it, and the run goes on), then `completed` with the workflow's outputs as a data part,
or `failed` / `canceled`. `tasks/get` reads the run, `tasks/cancel` cancels it.

Inputs come from a data part (an object of inputs), else from the text: a workflow can be served
when the text can fill its inputs, that is when at most one input is required and it is a string.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.core.errors import BadInput
from podium.core.spec import Workflow

APPROVE_WORDS = frozenset({"approve", "approved", "yes", "y", "ok", "lgtm"})
REJECT_WORDS = frozenset({"reject", "rejected", "no", "n", "deny"})


@dataclass(frozen=True, slots=True)
class Served:
    """A workflow as an A2A agent: its file, store, and how a message's text becomes its inputs."""

    workflow: Workflow
    file: Path
    store: str | None
    text_input: str | None  # the input the text fills (None: the workflow takes no required input)


def servable(workflow: Workflow, file: Path, store: str | None) -> Served:
    """`workflow` ready to serve, or a BadInput saying which inputs a message cannot give."""
    required = [name for name, spec in workflow.inputs.items() if spec.required]
    strings = [n for n in required if workflow.inputs[n].type == "string"]
    if len(required) > 1 or (required and not strings):
        listed = ", ".join(f"{n} ({workflow.inputs[n].type})" for n in required)
        raise BadInput(
            f"{file}: a message cannot give this workflow's inputs ({listed} are required)",
            fix="give every input but one string input a default: a caller's text fills that one"
            " (a data part may still set them all)",
        )
    return Served(workflow, file, store, strings[0] if strings else None)


def inputs_of(served: Served, text: str, data: dict[str, Any] | None) -> dict[str, Any]:
    """A message's inputs: its data part's object, else its text for the one string input."""
    if data is not None:
        return data
    if served.text_input is not None:
        return {served.text_input: text}
    return {}


def card_of(served: Served, base_url: str) -> Any:
    """The agent card: the workflow's name and description, a skill per output, and both transports."""
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill

    wf = served.workflow
    inputs = ", ".join(f"{n}: {s.type}" + ("" if s.required else " (optional)") for n, s in wf.inputs.items())
    skill = AgentSkill(
        id=wf.name,
        name=wf.name,
        description=(wf.description or f"runs the podium workflow {wf.name}").rstrip(". ")
        + (f". Inputs: {inputs}." if inputs else "."),
        tags=["podium", "workflow"],
        examples=[f'{{"{n}": …}}' for n in wf.inputs][:3],
    )
    return AgentCard(
        name=wf.name,
        description=wf.description or f"the podium workflow {wf.name}",
        version="1.0",
        supported_interfaces=[
            AgentInterface(protocol_binding="JSONRPC", url=f"{base_url}/a2a/jsonrpc", protocol_version="1.0"),
            AgentInterface(protocol_binding="HTTP+JSON", url=f"{base_url}/a2a/rest", protocol_version="1.0"),
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["application/json", "text/plain"],
        skills=[skill],
    )


class WorkflowExecutor:
    """The a2a-sdk executor: each new task a run of the workflow; a reply to a waiting task, a decision."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.runs: dict[str, str] = {}  # task id → run id
        self.running: dict[str, asyncio.Task[Any]] = {}

    async def execute(self, context: Any, event_queue: Any) -> None:
        from a2a.helpers.proto_helpers import new_task_from_user_message
        from a2a.server.tasks import TaskUpdater

        from podium.providers.a2a.tasks import parts_of

        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        texts, datas = parts_of(context.message.parts)
        text = "\n".join(texts)
        data = next((d for d in datas if isinstance(d, dict)), None)
        run_id = self.runs.get(context.task_id)
        await updater.start_work()
        work = self._answer(run_id, text, data) if run_id else self._start(context.task_id, text, data)
        task = asyncio.ensure_future(work)
        self.running[context.task_id] = task
        try:
            run = await task
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # bad inputs, a bad decision: the task fails with what is wrong
            await updater.failed(updater.new_agent_message([_text(str(exc))]))
            return
        finally:
            self.running.pop(context.task_id, None)
        await self._report(run, updater)

    async def _start(self, task_id: str, text: str, data: dict[str, Any] | None) -> Any:
        from podium import api
        from podium.core.clock import new_run_id

        run_id = new_run_id()
        self.runs[task_id] = run_id
        inputs = inputs_of(self.served, text, data)
        return await api.arun(self.served.file, inputs, store=self.served.store, run_id=run_id)

    async def _answer(self, run_id: str, text: str, data: dict[str, Any] | None) -> Any:
        """A reply to a task waiting at an approval: the decision, then the run goes on."""
        from podium import api

        waiting = await asyncio.to_thread(api.waiting, run_id, store=self.served.store)
        if not waiting:
            return await asyncio.to_thread(api.get_run, run_id, store=self.served.store)
        step = waiting[0]["step"]
        decision, comment, fields = _decision(text, data)
        await asyncio.to_thread(
            api.decide,
            run_id,
            step,
            decision,
            by="a2a",
            comment=comment,
            fields=fields,
            store=self.served.store,
        )
        return await api.aresume(run_id, store=self.served.store)

    async def _report(self, run: Any, updater: Any) -> None:
        status = str(run.status)
        meta = {"podium_run_id": run.run_id, "usage": run.usage.model_dump() if run.usage else {}}
        if status == "succeeded":
            await updater.add_artifact([_data(run.outputs)], name="outputs", metadata=meta)
            await updater.complete(
                updater.new_agent_message([_text(f"run {run.run_id} succeeded")], metadata=meta)
            )
        elif status == "waiting":
            from podium import api

            asked = await asyncio.to_thread(api.waiting, run.run_id, store=self.served.store)
            first = asked[0] if asked else {}
            question = (
                f"{first.get('message') or 'Approve?'} (reply approve or reject; step {first.get('step')})"
            )
            await updater.requires_input(updater.new_agent_message([_text(question)], metadata=meta))
        elif status == "cancelled":
            await updater.cancel(updater.new_agent_message([_text(f"run {run.run_id} was cancelled")]))
        else:
            error = getattr(run, "error", None)
            said = f"run {run.run_id} {status}" + (f": {error.message}" if error else "")
            await updater.failed(updater.new_agent_message([_text(said)], metadata=meta))

    async def cancel(self, context: Any, event_queue: Any) -> None:
        from a2a.server.tasks import TaskUpdater

        from podium import api

        run_id = self.runs.get(context.task_id)
        if run_id is not None:
            await asyncio.to_thread(api.cancel, run_id, by="a2a", store=self.served.store)
        task = self.running.get(context.task_id)
        if task is not None:
            task.cancel()
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def _decision(text: str, data: dict[str, Any] | None) -> tuple[str, str | None, dict[str, Any]]:
    if data is not None:
        decision = str(data.get("decision", "")).lower()
        decision = "approved" if decision in APPROVE_WORDS else "rejected" if decision in REJECT_WORDS else ""
        if not decision:
            raise BadInput("the reply's data part needs decision: approve or reject")
        return decision, data.get("comment"), dict(data.get("fields") or {})
    word, _, rest = text.strip().partition(" ")
    if word.lower().strip(".,!:") in APPROVE_WORDS:
        return "approved", rest.strip() or None, {}
    if word.lower().strip(".,!:") in REJECT_WORDS:
        return "rejected", rest.strip() or None, {}
    raise BadInput(f"reply approve or reject (got {text[:60]!r})")


def _text(text: str) -> Any:
    from a2a.types import Part

    return Part(text=text)


def _data(value: Any) -> Any:
    from a2a.types import Part
    from google.protobuf import json_format, struct_pb2

    return Part(data=json_format.ParseDict(json.loads(json.dumps(value, default=str)), struct_pb2.Value()))


def app_of(served: Served, base_url: str, token: str | None = None) -> Any:
    """The ASGI app: the card, JSON-RPC at /a2a/jsonrpc, REST at /a2a/rest; a bearer token if given."""
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
    from a2a.server.tasks import InMemoryTaskStore
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import JSONResponse

    card = card_of(served, base_url)
    handler = DefaultRequestHandler(
        agent_executor=WorkflowExecutor(served),  # type: ignore[arg-type]
        task_store=InMemoryTaskStore(),
        agent_card=card,
    )
    routes = [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/a2a/jsonrpc")]
    routes += create_rest_routes(handler, path_prefix="/a2a/rest")
    middleware = []
    if token:
        import hmac

        class Bearer(BaseHTTPMiddleware):
            async def dispatch(self, request: Any, call_next: Any) -> Any:
                given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                if not hmac.compare_digest(given.encode(), token.encode()):
                    return JSONResponse({"error": "a bearer token is required"}, status_code=401)
                return await call_next(request)

        middleware.append(Middleware(Bearer))
    return Starlette(routes=routes, middleware=middleware)
