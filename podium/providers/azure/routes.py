"""The Azure emulator's routes: the project's REST API (agents) and its OpenAI API (conversations, responses).

One port serves both, as one Foundry project endpoint does: ``/api/projects/{project}/agents…``
(azure-ai-projects, ``?api-version=v1``) and ``/api/projects/{project}/openai/v1/…`` (the openai
client from ``get_openai_client()``). Serving, faults and the request log are the `CloudEmulator`
base's; this module is Azure's own operations and how its errors look.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from podium.core.errors import StepError
from podium.providers._kit.brains import Turn
from podium.providers._kit.emulator import CloudEmulator, Route
from podium.providers._kit.faults import Fault
from podium.providers._kit.http import HttpRequest, HttpResponse
from podium.providers._kit.unserved import Unserved, unserved_message, unserved_routes
from podium.providers.azure.binding import AGENT_NAME
from podium.providers.azure.responses import TAG_AGENT, TAG_RUN, TAG_STEP
from podium.providers.azure.state import AzureState, Conversation, new_id
from podium.providers.azure.streaming import error_event, response_events, sse
from podium.providers.azure.surface import AGENT_OPERATIONS, PROJECT_PREFIX, UNSERVED
from podium.providers.azure.wire import (
    Problem,
    forced,
    items_of,
    json_reply,
    messages_of,
    metadata_of,
    page,
    request_body,
    response_body,
    sampling_problem,
    stored_item,
    text_of,
    unanswered,
)

PROJECT = r"^/api/projects/([^/]+)"
AGENTS = re.compile(PROJECT + r"/agents$")
AGENT = re.compile(PROJECT + r"/agents/([^/:]+)$")
VERSIONS = re.compile(PROJECT + r"/agents/([^/:]+)/versions$")
VERSION = re.compile(PROJECT + r"/agents/([^/:]+)/versions/([^/:]+)$")
RESPONSES = re.compile(PROJECT + r"/openai/v1/responses$")
RESPONSE = re.compile(PROJECT + r"/openai/v1/responses/([^/:]+)$")
INPUT_ITEMS = re.compile(PROJECT + r"/openai/v1/responses/([^/:]+)/input_items$")
CONVERSATIONS = re.compile(PROJECT + r"/openai/v1/conversations$")
CONVERSATION = re.compile(PROJECT + r"/openai/v1/conversations/([^/:]+)$")
ITEMS = re.compile(PROJECT + r"/openai/v1/conversations/([^/:]+)/items$")
ITEM = re.compile(PROJECT + r"/openai/v1/conversations/([^/:]+)/items/([^/:]+)$")
CODE_HEADER = "x-ms-code-zip-sha256"  # agents.create_version_from_code: create_version's path, a zip body

API_VERSIONS = {"v1", "2025-05-15-preview", "2025-11-15-preview"}
NAME = re.compile(AGENT_NAME)

_STATUS = {"throttled": 429, "auth": 401, "invalid_request": 400, "timeout": 408}
_CODES = {
    "throttled": "too_many_requests",
    "auth": "PermissionDenied",
    "invalid_request": "invalid_request_error",
    "timeout": "timeout",
}


class AzureRoutes(CloudEmulator):
    """Azure's operations on the `CloudEmulator` base; `AzureEmulator` adds the public helpers."""

    provider = "azure"
    tls = True  # azure-core sends a bearer token only over HTTPS
    state: AzureState
    project: str
    deployments: set[str] | None

    def routes(self) -> Sequence[Route]:
        openai_api = [
            ("POST", RESPONSES, "CreateResponse", self._create_response),
            ("GET", RESPONSE, "GetResponse", self._get_response),
            ("DELETE", RESPONSE, "DeleteResponse", self._delete_response),
            ("GET", INPUT_ITEMS, "ListInputItems", self._list_input_items),
            ("POST", CONVERSATIONS, "CreateConversation", self._create_conversation),
            ("GET", CONVERSATION, "GetConversation", self._get_conversation),
            ("POST", CONVERSATION, "UpdateConversation", self._update_conversation),
            ("DELETE", CONVERSATION, "DeleteConversation", self._delete_conversation),
            ("GET", ITEMS, "ListConversationItems", self._list_items),
            ("POST", ITEMS, "CreateConversationItems", self._create_items),
            ("GET", ITEM, "GetConversationItem", self._get_item),
            ("DELETE", ITEM, "DeleteConversationItem", self._delete_item),
        ]
        rest_api = [
            ("GET", AGENTS, "ListAgents", self._list_agents),
            ("GET", AGENT, "GetAgent", self._get_agent),
            ("DELETE", AGENT, "DeleteAgent", self._delete_agent),
            ("POST", VERSIONS, "CreateAgentVersion", self._create_version),
            ("GET", VERSIONS, "ListAgentVersions", self._list_versions),
            ("GET", VERSION, "GetAgentVersion", self._get_version),
            ("DELETE", VERSION, "DeleteAgentVersion", self._delete_version),
        ]
        return [
            *(Route(m, p, op, self._guard(h, rest=False)) for m, p, op, h in openai_api),
            *(Route(m, p, op, self._guard(h)) for m, p, op, h in rest_api),
            # what the SDKs can call and the emulator does not serve: a 501 naming the operation
            *unserved_routes(UNSERVED, self.unserved_response, prefix=PROJECT_PREFIX),
        ]

    def _route(self, request: HttpRequest) -> Any:
        if CODE_HEADER in request.headers and request.method == "POST" and VERSIONS.match(request.path):
            method, template, operation = AGENT_OPERATIONS["create_version_from_code"]
            entry = Unserved(method, template, operation, "agents.create_version_from_code; hosted agents")
            return operation, lambda detail: self.unserved_response(entry)
        return super()._route(request)

    def unserved_response(self, entry: Unserved) -> HttpResponse:
        """An operation the emulator does not serve: a 501 the clients do not retry."""
        response = self.error_response(
            501, "NotImplemented", unserved_message(self.provider, entry.operation, entry.note)
        )
        response.headers["x-should-retry"] = "false"  # the openai client retries a 5xx unless told
        return response

    # --- errors in Azure's format -------------------------------------------------------------

    malformed_code = "invalid_json"

    def error_response(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        param: str | None = None,
    ) -> HttpResponse:
        headers = {"Content-Type": "application/json", "x-ms-request-id": new_id("req")}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        kind = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"code": code, "message": message, "type": kind, "param": param}}
        return HttpResponse(status, headers, json.dumps(body).encode())

    def fault_response(self, fault: Fault, operation: str) -> HttpResponse:
        if fault.kind == "throttle":
            wait = f" Try again in {fault.retry_after:g} seconds." if fault.retry_after is not None else ""
            return self.error_response(
                429,
                "too_many_requests",
                fault.message or f"Rate limit is exceeded.{wait}",
                retry_after=fault.retry_after,
            )
        if fault.kind == "auth":
            return self.error_response(
                403, "PermissionDenied", fault.message or "The principal lacks the required data action."
            )
        status = fault.status or 500
        code = fault.code or ("service_unavailable" if status == 503 else "server_error")
        return self.error_response(
            status,
            code,
            fault.message or "The server had an error processing your request.",
            retry_after=fault.retry_after,
        )

    def take_fault(self, operation: str, detail: dict[str, Any]) -> tuple[HttpResponse | None, Fault | None]:
        early, fault = super().take_fault(operation, detail)
        if fault is not None and fault.kind == "stream_error":  # nothing streams here: an error reply
            failed = Fault("server_error", status=500, code=fault.code, message=fault.message)
            return self.fault_response(failed, operation), None
        return early, fault

    def _guard(self, handler: Any, *, rest: bool = True) -> Any:
        """A handler behind the checks every request gets: the project, a bearer token, the API version."""

        def serve(request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
            if match.group(1) != self.project:
                return self.error_response(404, "NotFound", f"Project '{match.group(1)}' was not found.")
            if not request.headers.get("authorization", "").startswith("Bearer "):
                return self.error_response(401, "Unauthorized", "Access token is missing or invalid.")
            if rest and request.query.get("api-version", [""])[0] not in API_VERSIONS:
                return self.error_response(
                    400,
                    "BadRequest",
                    "Missing or unsupported api-version query parameter.",
                    param="api-version",
                )
            try:
                return handler(request, match, detail)
            except Problem as problem:
                return self.error_response(problem.status, problem.code, problem.message, param=problem.param)

        return serve

    # --- agents ---------------------------------------------------------------------------------

    def _agent_wire(self, name: str) -> dict[str, Any]:
        latest = self.state.version(name, None)
        assert latest is not None
        return {
            "object": "agent",
            "id": name,
            "name": name,
            "state": "enabled",
            "configuration_state": "enabled",
            "versions": {"latest": latest.wire()},
        }

    def _not_found(self, name: str, version: str | None = None) -> Problem:
        what = f"Agent '{name}'" + (f" version '{version}'" if version else "")
        return Problem(404, "not_found", f"{what} was not found in project '{self.project}'.")

    def _create_version(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        early, fault = self.take_fault("CreateAgentVersion", detail)
        if early is not None:
            return early
        name = match.group(2)
        if not NAME.match(name):
            raise Problem(
                400,
                "invalid_parameters",
                f"Agent name '{name}' is not valid: use alphanumerics and inner hyphens, at most 63"
                " characters.",
                "agent_name",
            )
        body = request_body(request)
        definition = body.get("definition")
        if not isinstance(definition, dict) or "kind" not in definition:
            raise Problem(
                400, "missing_required_parameter", "definition (with its kind) is required.", "definition"
            )
        if definition["kind"] == "prompt":
            model = definition.get("model")
            if not isinstance(model, str) or not model:
                raise Problem(
                    400,
                    "missing_required_parameter",
                    "A prompt agent's definition needs a model.",
                    "definition.model",
                )
            self._check_deployment(model)
        made = self.state.add_version(
            name, definition, description=body.get("description"), metadata=metadata_of(body.get("metadata"))
        )
        detail.update(agent_name=name, version=made.version)
        return self.reply_with(json_reply(200, made.wire()), fault)

    def _get_agent(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        name = match.group(2)
        if self.state.version(name, None) is None:
            raise self._not_found(name)
        return json_reply(200, self._agent_wire(name))

    def _delete_agent(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)
        with self.state.lock:
            if self.state.agents.pop(name, None) is None:
                raise self._not_found(name)
        return json_reply(200, {"object": "agent.deleted", "name": name, "deleted": True})

    def _list_agents(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        with self.state.lock:
            data = [self._agent_wire(name) for name in self.state.agents if self.state.agents[name]]
        return json_reply(200, page(data, request.query))

    def _list_versions(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)
        with self.state.lock:
            versions = list(self.state.agents.get(name) or [])
        if not versions:
            raise self._not_found(name)
        return json_reply(200, page([v.wire() for v in reversed(versions)], request.query))

    def _get_version(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name, version = match.group(2), match.group(3)
        found = self.state.version(name, version)
        if found is None:
            raise self._not_found(name, version)
        return json_reply(200, found.wire())

    def _delete_version(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name, version = match.group(2), match.group(3)
        with self.state.lock:
            versions = self.state.agents.get(name) or []
            found = next((v for v in versions if v.version == version), None)
            if found is None:
                raise self._not_found(name, version)
            versions.remove(found)
            if not versions:
                self.state.agents.pop(name, None)
        return json_reply(
            200, {"object": "agent.version.deleted", "name": name, "version": version, "deleted": True}
        )

    def _check_deployment(self, model: str) -> None:
        if self.deployments is not None and model not in self.deployments:
            raise Problem(
                404,
                "DeploymentNotFound",
                f"The API deployment '{model}' for this resource does not exist. If you created the"
                " deployment within the last 5 minutes, please wait a moment and try again.",
                "model",
            )

    # --- conversations --------------------------------------------------------------------------

    def _conversation(self, conversation_id: str) -> Conversation:
        found = self.state.conversations.get(conversation_id)
        if found is None:
            raise Problem(
                404, "not_found", f"Conversation with id '{conversation_id}' not found.", "conversation"
            )
        return found

    def _create_conversation(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        early, fault = self.take_fault("CreateConversation", detail)
        if early is not None:
            return early
        body = request_body(request)
        items = [stored_item(i) for i in items_of(body.get("items"))]
        made = self.state.new_conversation(metadata_of(body.get("metadata")), items)
        detail["conversation"] = made.id
        return self.reply_with(json_reply(200, made.wire()), fault)

    def _get_conversation(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        return json_reply(200, self._conversation(match.group(2)).wire())

    def _delete_conversation(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        conversation_id = match.group(2)
        with self.state.lock:
            self._conversation(conversation_id)
            del self.state.conversations[conversation_id]
        return json_reply(200, {"id": conversation_id, "object": "conversation.deleted", "deleted": True})

    def _update_conversation(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        conversation = self._conversation(match.group(2))
        body = request_body(request)
        if "metadata" not in body:
            raise Problem(
                400, "missing_required_parameter", "Missing required parameter: 'metadata'.", "metadata"
            )
        metadata = metadata_of(body.get("metadata"))
        with self.state.lock:
            conversation.metadata = metadata
        return json_reply(200, conversation.wire())

    def _create_items(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        conversation = self._conversation(match.group(2))
        items = [stored_item(i) for i in items_of(request_body(request).get("items"))]
        if not items:
            raise Problem(400, "missing_required_parameter", "Missing required parameter: 'items'.", "items")
        with self.state.lock:
            conversation.items.extend(items)
        return json_reply(200, page(items))

    def _item(self, conversation: Conversation, item_id: str) -> dict[str, Any]:
        found = next((i for i in conversation.items if i.get("id") == item_id), None)
        if found is None:
            raise Problem(404, "not_found", f"Item with id '{item_id}' not found.", "item_id")
        return found

    def _get_item(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        conversation = self._conversation(match.group(2))
        with self.state.lock:
            return json_reply(200, dict(self._item(conversation, match.group(3))))

    def _delete_item(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        conversation = self._conversation(match.group(2))
        with self.state.lock:
            conversation.items.remove(self._item(conversation, match.group(3)))
        return json_reply(200, conversation.wire())

    def _list_items(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        conversation = self._conversation(match.group(2))
        with self.state.lock:
            items = [dict(item) for item in conversation.items]
        order = request.query.get("order", ["desc"])[0]
        return json_reply(200, page(items if order == "asc" else list(reversed(items)), request.query))

    # --- responses ------------------------------------------------------------------------------

    def _get_response(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        found = self.state.responses.get(match.group(2))
        if found is None:
            raise Problem(404, "not_found", f"Response with id '{match.group(2)}' not found.")
        return json_reply(200, found)

    def _delete_response(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        response_id = match.group(2)
        with self.state.lock:
            if self.state.responses.pop(response_id, None) is None:
                raise Problem(404, "not_found", f"Response with id '{response_id}' not found.")
            self.state.inputs.pop(response_id, None)
        return json_reply(200, {"id": response_id, "object": "response.deleted", "deleted": True})

    def _list_input_items(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        response_id = match.group(2)
        with self.state.lock:
            items = self.state.inputs.get(response_id)
            if items is None:
                raise Problem(404, "not_found", f"Response with id '{response_id}' not found.")
            items = [dict(i) for i in items]
        order = request.query.get("order", ["desc"])[0]
        return json_reply(200, page(items if order == "asc" else list(reversed(items)), request.query))

    def _chain(self, response_id: str) -> list[dict[str, Any]]:
        """What a response continued from said and answered, back to the first (``previous_response_id``)."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        current: str | None = response_id
        with self.state.lock:
            while current is not None and current not in seen:
                seen.add(current)
                reply = self.state.responses.get(current)
                if reply is None:
                    raise Problem(
                        404,
                        "previous_response_not_found",
                        f"Previous response with id '{current}' not found.",
                        "previous_response_id",
                    )
                items = [*self.state.inputs.get(current, []), *reply["output"], *items]
                current = reply.get("previous_response_id")
        return items

    def _create_response(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        body = request_body(request)
        streaming = body.get("stream") is True
        if body.get("stream") not in (None, True, False):
            raise Problem(400, "invalid_type", "stream must be a boolean.", "stream")
        metadata = metadata_of(body.get("metadata"))
        sampling_problem(body)
        new_items = items_of(body.get("input"))
        reference = body.get("agent_reference") or body.get("agent")
        model = body.get("model")
        instructions = body.get("instructions")
        agent_name = None
        if reference is not None:
            if not isinstance(reference, dict) or not reference.get("name"):
                raise Problem(400, "invalid_value", "agent_reference needs a name.", "agent_reference")
            agent_name = str(reference["name"])
            version = reference.get("version")
            found = self.state.version(agent_name, str(version) if version is not None else None)
            if found is None:
                raise self._not_found(agent_name, str(version) if version is not None else None)
            model = found.definition.get("model") or model
            instructions = found.definition.get("instructions")
            podium_agent = found.metadata.get(TAG_AGENT)
        else:
            if not isinstance(model, str) or not model:
                raise Problem(
                    400, "missing_required_parameter", "Missing required parameter: 'model'.", "model"
                )
            self._check_deployment(model)
            podium_agent = None
        conversation = None
        if body.get("conversation") is not None:
            given = body["conversation"]
            conversation = self._conversation(str(given["id"] if isinstance(given, dict) else given))
        if not new_items:
            raise Problem(400, "missing_required_parameter", "Missing required parameter: 'input'.", "input")
        history = list(conversation.items) if conversation is not None else []
        previous = body.get("previous_response_id")
        if previous is not None:
            if conversation is not None:
                raise Problem(
                    400,
                    "invalid_request_error",
                    "previous_response_id and conversation cannot be used together.",
                    "previous_response_id",
                )
            history = self._chain(str(previous))
        everything = history + new_items
        unanswered(everything, len(history))
        messages = tuple(messages_of(everything))
        # the prompt is the last thing the user said (as InvokeAgent's inputText); a tool's result is not
        said = [
            text_of(i.get("content"))
            for i in everything
            if i.get("type", "message") == "message" and i.get("role") == "user"
        ]
        prompt = said[-1] if said else ""
        turn = Turn(
            prompt=prompt,
            messages=messages,
            instructions=instructions,
            step=metadata.get(TAG_STEP),
            agent=metadata.get(TAG_AGENT) or podium_agent,
            run_id=metadata.get(TAG_RUN),
            model=model,
            session_id=conversation.id if conversation is not None else None,
            answers_tool=any(i.get("type") == "function_call_output" for i in new_items),
        )
        detail.update(step=turn.step, agent=turn.agent, model=model, agent_name=agent_name, input=new_items)
        if conversation is not None:
            detail["conversation"] = conversation.id
        # a stream takes a stream_error fault as the service's error event; a reply, as a 500
        taking = super().take_fault if streaming else self.take_fault
        early, fault = taking("CreateResponse", detail)
        if early is not None:
            return early
        if any(i.get("type") == "function_call_output" for i in new_items):
            detail["tool_result"] = [
                i.get("output") for i in new_items if i.get("type") == "function_call_output"
            ]
        if conversation is not None:
            with self.state.lock:
                if conversation.busy:
                    raise Problem(
                        409, "conversation_locked", "Another response is in progress on this conversation."
                    )
                conversation.busy = True
        try:
            try:
                answer = forced(self.brain.answer(turn), body)
            except StepError as exc:
                status = _STATUS.get(exc.kind, 500)
                code = _CODES.get(exc.kind, "server_error")
                return self.error_response(status, code, exc.message, retry_after=exc.retry_after)
            reply = response_body(
                answer,
                model,
                metadata,
                conversation.id if conversation is not None else None,
                reference,
                instructions,
                self.state.now(),
                request=body,
            )
            kept = [stored_item(i) for i in new_items]  # one id per item, in the conversation and the inputs
            with self.state.lock:
                if conversation is not None:
                    conversation.items.extend(kept)
                    conversation.items.extend(reply["output"])
                if body.get("store") is not False:  # an unstored response cannot be fetched or continued
                    self.state.responses[reply["id"]] = reply
                    self.state.inputs[reply["id"]] = kept
        finally:
            if conversation is not None:
                conversation.busy = False
        detail["usage"] = reply["usage"]
        if streaming:
            events = response_events(reply)
            frames = self.stream_with(
                (sse(e) for e in events),
                fault,
                corrupt=lambda _frame: b"event: response.in_progress\ndata: {not json\n\n",
                error=lambda f: error_event(
                    f.code or "server_error",
                    f.message or "The server had an error processing your request.",
                    1,
                ),
            )
            headers = {"Content-Type": "text/event-stream; charset=utf-8", "x-ms-request-id": new_id("req")}
            return HttpResponse(200, headers, frames)
        return self.reply_with(json_reply(200, reply), fault)
