"""The Vertex emulator's routes: Gemini (generate, stream, count), Agent Engine (engines, queries, sessions).

Paths are those google-genai 2.x and vertexai (google-cloud-aiplatform 2.x) call; the wire format
(errors, request checks, reply pieces) is `wire`'s, the engines and sessions `state`'s. Serving,
faults and the request log are the `CloudEmulator` base's; this module is Vertex's own operations.
What the SDKs can call and it does not serve is routed from `surface`, each a 501 naming itself.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from podium.core.calls import Message, Usage
from podium.core.errors import StepError
from podium.providers._kit.brains import Answer, ScriptedBrain, Turn, forced_input
from podium.providers._kit.emulator import CloudEmulator, Route, new_id
from podium.providers._kit.faults import Fault
from podium.providers._kit.http import HttpRequest, HttpResponse
from podium.providers._kit.scripted import estimate_tokens
from podium.providers._kit.unserved import Unserved, unserved_message, unserved_routes
from podium.providers.vertex import sessions
from podium.providers.vertex.state import EngineRecord, Session, VertexState
from podium.providers.vertex.surface import UNSERVED, VERSION_PREFIX
from podium.providers.vertex.tags import AGENT, RUN, STEP, from_labels
from podium.providers.vertex.wire import (
    adk_config,
    asked,
    author_name,
    brain_error,
    camel,
    contents_of,
    forced_function,
    from_adk_config,
    generation_problem,
    google_error,
    history_of,
    invalid,
    json_response,
    json_text,
    labels_problem,
    snake_usage,
    sse_chunks,
    stream_error_line,
)

_V = r"^/(v1|v1beta1)/"
# a model id may hold a colon (another cloud's id, by mistake): still the model, so the answer is
# the service's "Publisher Model … was not found", not an unknown path
GENERATE = re.compile(
    _V + r"projects/([^/]+)/locations/([^/]+)/publishers/([^/]+)/models/([^/]+):generateContent$"
)
STREAM_GENERATE = re.compile(
    _V + r"projects/([^/]+)/locations/([^/]+)/publishers/([^/]+)/models/([^/]+):streamGenerateContent$"
)
COUNT_TOKENS = re.compile(
    _V + r"projects/([^/]+)/locations/([^/]+)/publishers/([^/]+)/models/([^/]+):countTokens$"
)
ENGINE = re.compile(_V + r"(projects/[^/]+/locations/[^/]+/reasoningEngines/[^/:]+)$")
QUERY = re.compile(_V + r"(projects/[^/]+/locations/[^/]+/reasoningEngines/[^/:]+):query$")
STREAM_QUERY = re.compile(_V + r"(projects/[^/]+/locations/[^/]+/reasoningEngines/[^/:]+):streamQuery$")
ENGINES = re.compile(_V + r"(projects/([^/]+)/locations/([^/]+))/reasoningEngines$")
OPERATION = re.compile(_V + r"(projects/[^/]+/locations/[^/]+/reasoningEngines/[^/:]+/operations/[^/:]+)$")
_SESSION = r"(projects/[^/]+/locations/[^/]+/reasoningEngines/[^/:]+)/sessions/([^/:]+)"
SESSIONS = re.compile(_V + r"(projects/[^/]+/locations/[^/]+/reasoningEngines/[^/:]+)/sessions$")
SESSION = re.compile(_V + _SESSION + "$")
APPEND_EVENT = re.compile(_V + _SESSION + ":appendEvent$")
EVENTS = re.compile(_V + _SESSION + "/events$")
SESSION_OPERATION = re.compile(
    _V + r"(projects/[^/]+/locations/[^/]+/reasoningEngines/[^/:]+/sessions/[^/:]+/operations/[^/:]+)$"
)
ENGINE_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/reasoningEngines/[0-9]+$")
GEMINI = re.compile(r"^gemini-[0-9a-z.-]+$")


class VertexRoutes(CloudEmulator):
    """Vertex's operations on the `CloudEmulator` base; `VertexEmulator` adds the public helpers."""

    provider = "vertex"
    state: VertexState
    any_engine: bool
    thoughts_tokens: int

    def routes(self) -> Sequence[Route]:
        return [
            Route("POST", GENERATE, "GenerateContent", self._route_generate),
            Route("POST", STREAM_GENERATE, "StreamGenerateContent", self._route_stream_generate),
            Route("GET", ENGINE, "GetReasoningEngine", self._route_get_engine),
            Route("POST", ENGINES, "CreateReasoningEngine", self._route_create_engine),
            Route("GET", ENGINES, "ListReasoningEngines", self._route_list_engines),
            Route("PATCH", ENGINE, "UpdateReasoningEngine", self._route_update_engine),
            Route("GET", OPERATION, "GetOperation", self._route_operation),
            Route("POST", QUERY, "Query", self._route_query),
            Route("POST", STREAM_QUERY, "StreamQuery", self._route_stream_query),
            Route("POST", COUNT_TOKENS, "CountTokens", self._route_count_tokens),
            Route("DELETE", ENGINE, "DeleteReasoningEngine", self._route_delete_engine),
            # the Sessions API, on the same sessions as the engines' class methods
            Route("POST", SESSIONS, "CreateSession", self._route_create_session),
            Route("GET", SESSIONS, "ListSessions", self._route_list_sessions),
            Route("GET", SESSION, "GetSession", self._route_get_session),
            Route("PATCH", SESSION, "UpdateSession", self._route_update_session),
            Route("DELETE", SESSION, "DeleteSession", self._route_delete_session),
            Route("POST", APPEND_EVENT, "AppendEvent", self._route_append_event),
            Route("GET", EVENTS, "ListEvents", self._route_list_events),
            Route("GET", SESSION_OPERATION, "GetOperation", self._route_operation),
            # what the SDKs can call and the emulator does not serve: a 501 naming the operation
            *unserved_routes(UNSERVED, self.unserved_response, prefix=VERSION_PREFIX),
        ]

    def unserved_response(self, entry: Unserved) -> HttpResponse:
        """An operation the emulator does not serve, as Google answers an unimplemented method."""
        return google_error(501, unserved_message(self.provider, entry.operation, entry.note))

    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> HttpResponse:
        return google_error(status, message, code=code if code.isupper() else None, retry_after=retry_after)

    def fault_response(self, fault: Fault, operation: str) -> HttpResponse:
        if fault.kind == "throttle":
            message = fault.message or "Resource exhausted. Please try again later."
            return google_error(429, message, retry_after=fault.retry_after)
        if fault.kind == "auth":
            return google_error(403, fault.message or "Permission denied on resource (or it may not exist).")
        status = fault.status or 500
        message = fault.message or (
            "The service is currently unavailable." if status in (502, 503) else "Internal error encountered."
        )
        return google_error(status, message, retry_after=fault.retry_after)

    malformed_code = "INVALID_ARGUMENT"

    def internal_error(self, exc: Exception) -> HttpResponse:
        return google_error(500, f"emulator error: {type(exc).__name__}")

    def _guarded(
        self,
        operation: str,
        request: HttpRequest,
        detail: dict[str, Any],
        handler: Callable[[dict[str, Any], Fault | None], HttpResponse],
    ) -> HttpResponse:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return google_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2"
                " access token, login cookie or other valid authentication credential.",
            )
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return invalid("Invalid JSON payload received.")
        if not isinstance(body, dict):
            return invalid("Invalid JSON payload received. Expected an object.")
        if step := self._step_of(body):
            detail["step"] = step  # logged for a faulted request too
        early, fault = self.take_fault(operation, detail)
        if early is not None:
            return early
        return handler(body, fault)

    def _step_of(self, body: dict[str, Any]) -> str | None:
        """The step podium tagged a request with: labels, query metadata, or the session's state."""
        if isinstance(body.get("labels"), dict):
            return from_labels(body["labels"], self._mock_keys()).get(STEP)
        given = body.get("input") if isinstance(body.get("input"), dict) else {}
        config = given.get("config")
        if isinstance(config, dict) and isinstance(config.get("metadata"), dict):
            return config["metadata"].get(STEP)
        if isinstance(given.get("state"), dict):  # create_session
            return given["state"].get(STEP)
        session = self.state.sessions.get(str(given.get("session_id") or ""))
        return None if session is None else session.state.get(STEP)

    def _answer(self, turn: Turn, detail: dict[str, Any]) -> Answer | HttpResponse:
        detail.update(step=turn.step, agent=turn.agent, input=turn.prompt)
        try:
            answer = self.brain.answer(turn)
        except StepError as exc:
            return brain_error(exc)
        detail["usage"] = answer.usage.model_dump()
        return answer

    def _mock_keys(self) -> tuple[str, ...]:
        brain = self.brain
        return tuple(brain.script.entries) if isinstance(brain, ScriptedBrain) else ()

    # --- Gemini generateContent -----------------------------------------------------------------

    def _route_generate(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        _version, project, location, publisher, model = match.groups()
        detail["model"] = model
        return self._guarded(
            "GenerateContent",
            request,
            detail,
            lambda body, fault: self._generate(project, location, publisher, model, body, fault, detail),
        )

    def _generate(
        self,
        project: str,
        location: str,
        publisher: str,
        model: str,
        body: dict[str, Any],
        fault: Fault | None,
        detail: dict[str, Any],
    ) -> HttpResponse:
        if publisher != "google" or not GEMINI.match(model):
            return self._model_missing(project, location, publisher, model)
        problem, messages, results = contents_of(body.get("contents"))
        if problem:
            return invalid(problem)
        system = body.get("systemInstruction") or {}
        instructions = (
            "".join(str(p.get("text", "")) for p in system.get("parts") or [] if isinstance(p, dict)) or None
        )
        config = body.get("generationConfig") or {}
        problem = generation_problem(config) or labels_problem(body.get("labels"))
        if problem:
            return invalid(problem)
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            return invalid("tools must be a list of Tool objects.")
        declared = {
            str(f.get("name")): f.get("parametersJsonSchema") or f.get("parameters") or {}
            for tool in body.get("tools") or []
            if isinstance(tool, dict)
            for f in tool.get("functionDeclarations") or []
            if isinstance(f, dict)
        }
        forced, problem = forced_function(body.get("toolConfig"), declared)
        if problem:
            return invalid(problem)
        tags = from_labels(body.get("labels") or {}, self._mock_keys())
        turn = Turn(
            # the user's last words (a chat's newest question); a function's result is not one
            prompt=asked(body["contents"]),
            messages=tuple(messages),
            instructions=instructions,
            step=tags.get(STEP),
            agent=tags.get(AGENT),
            run_id=tags.get(RUN),
            model=model,
            answers_tool=bool(results),
        )
        if results:
            detail["tool_results"] = results
        answered = self._answer(turn, detail)
        if isinstance(answered, HttpResponse):
            return answered
        usage, finish = answered.usage, "STOP"
        call = None
        if answered.tool is not None:
            if answered.tool.name not in declared:
                return invalid(
                    f"the scripted reply calls the function '{answered.tool.name}', which the request's"
                    f" tools do not declare (declared: {', '.join(sorted(declared)) or 'none'})"
                )
            call = (answered.tool.name, dict(answered.tool.input))
        if forced and (call is None or call[0] not in forced):
            # mode ANY: the model must call a function (one of allowedFunctionNames)
            call = (forced[0], forced_input(answered.text, declared[forced[0]]))
        if call is not None:
            detail["tool"] = call[0]
            parts: list[dict[str, Any]] = [{"functionCall": {"name": call[0], "args": call[1]}}]
        else:
            text = json_text(answered.text, config)
            limit = config.get("maxOutputTokens")
            if isinstance(limit, int) and usage.output_tokens > limit:
                text, finish = text[: limit * 4], "MAX_TOKENS"
                usage = usage.model_copy(update={"output_tokens": limit})
            parts = [{"text": text}]
        reply = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": finish, "avgLogprobs": -0.1}
            ],
            "usageMetadata": self.usage_metadata(usage),
            "modelVersion": model,
            "createTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
            "responseId": new_id().hex[:22],
        }
        return self.reply_with(json_response(200, reply), fault)

    def _route_stream_generate(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        _version, project, location, publisher, model = match.groups()
        detail["model"] = model

        def stream(body: dict[str, Any], fault: Fault | None) -> HttpResponse:
            whole = self._generate(project, location, publisher, model, body, None, detail)
            if whole.status != 200 or not isinstance(whole.body, bytes):
                return whole
            chunks = sse_chunks(json.loads(whole.body))
            if request.query.get("alt", [""])[0] != "sse":
                # without alt=sse the REST API streams one JSON array of the chunks, as its docs show
                pieces = [
                    (b"[" if i == 0 else b",\r\n") + json.dumps(chunk).encode()
                    for i, chunk in enumerate(chunks)
                ]
                array = self.stream_with(
                    [*pieces, b"]"],
                    fault,
                    corrupt=lambda _frame: b",{not json",
                    error=lambda f: b"," + stream_error_line(f).strip() + b"]",
                )
                return HttpResponse(200, {"Content-Type": "application/json; charset=UTF-8"}, array)
            frames = [b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n" for chunk in chunks]
            sent = self.stream_with(
                frames,
                fault,
                corrupt=lambda _frame: b"data: {not json\r\n\r\n",
                error=lambda f: b"data: " + stream_error_line(f).strip() + b"\r\n\r\n",
            )
            return HttpResponse(200, {"Content-Type": "text/event-stream"}, sent)

        return self._guarded("StreamGenerateContent", request, detail, stream)

    def _route_count_tokens(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        _version, project, location, publisher, model = match.groups()
        detail["model"] = model

        def count(body: dict[str, Any], fault: Fault | None) -> HttpResponse:
            if publisher != "google" or not GEMINI.match(model):
                return self._model_missing(project, location, publisher, model)
            contents = body.get("contents")
            if not isinstance(contents, list) or not contents:
                return invalid("Unable to submit request because it has an empty contents field.")
            texts = [
                str(part.get("text", ""))
                for item in [*contents, body.get("systemInstruction") or {}]
                if isinstance(item, dict)
                for part in item.get("parts") or []
                if isinstance(part, dict)
            ]
            # the emulator's tokenizer: about four characters a token, as its usage reports
            total = sum(estimate_tokens(text) for text in texts)
            reply = {
                "totalTokens": total,
                "totalBillableCharacters": sum(len(text.replace(" ", "")) for text in texts),
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}],
            }
            return self.reply_with(json_response(200, reply), fault)

        return self._guarded("CountTokens", request, detail, count)

    def _model_missing(self, project: str, location: str, publisher: str, model: str) -> HttpResponse:
        return google_error(
            404,
            f"Publisher Model `projects/{project}/locations/{location}/publishers/"
            f"{publisher}/models/{model}` was not found or your project does not have"
            " access to it. Please ensure you are using a valid model version.",
        )

    def usage_metadata(self, usage: Usage) -> dict[str, Any]:
        """usageMetadata as Vertex reports it: the prompt includes the cached tokens, and thinking is apart.

        The brain's output tokens are what is billed as output: `thoughts_tokens` of them (at most)
        are reported as thoughts, the rest as candidates.
        """
        thoughts = min(self.thoughts_tokens, usage.output_tokens)
        prompt = usage.input_tokens + usage.cache_read_tokens
        metadata: dict[str, Any] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": usage.output_tokens - thoughts,
            "totalTokenCount": prompt + usage.output_tokens,
            "trafficType": "ON_DEMAND",
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        }
        if usage.cache_read_tokens:
            metadata["cachedContentTokenCount"] = usage.cache_read_tokens
        if thoughts:
            metadata["thoughtsTokenCount"] = thoughts
        return metadata

    # --- Agent Engine -----------------------------------------------------------------------------

    def engine(self, name: str) -> EngineRecord | None:
        """The engine named, or (serving a workflow's --emulate) one made for it on first use."""
        found = self.state.engine(name)
        if found is None and self.any_engine and ENGINE_NAME.match(name) and name not in self.state.deleted:
            found = self.state.add_engine("podium-emulated", name=name, kind="any")
        return found

    def _engine_missing(self, name: str) -> HttpResponse:
        return google_error(404, f"The ReasoningEngine {name} does not exist.")

    def _route_get_engine(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)
        detail["engine"] = name
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return google_error(401, "Request is missing required authentication credential.")
        early, _fault = self.take_fault("GetReasoningEngine", detail)
        if early is not None:
            return early
        engine = self.engine(name)
        return json_response(200, engine.resource()) if engine else self._engine_missing(name)

    # --- the control plane: create, update, list (each answers a finished long-running operation) ---

    def _control(
        self,
        operation: str,
        request: HttpRequest,
        detail: dict[str, Any],
        handler: Callable[[dict[str, Any]], HttpResponse],
    ) -> HttpResponse:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return google_error(401, "Request is missing required authentication credential.")
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return invalid("Invalid JSON payload received.")
        if not isinstance(body, dict):
            return invalid("Invalid JSON payload received. Expected an object.")
        early, _fault = self.take_fault(operation, detail)
        if early is not None:
            return early
        return handler(body)

    def _route_create_engine(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        parent, project, location = match.group(2), match.group(3), match.group(4)

        def create(body: dict[str, Any]) -> HttpResponse:
            display = body.get("displayName")
            if not isinstance(display, str) or not display.strip():
                return invalid("ReasoningEngine.display_name is required.")
            body = camel(body)
            config = adk_config(body.get("spec"))
            name = f"{parent}/reasoningEngines/{next(self.state.ids)}"
            record = self.state.add_engine(
                display,
                name=name,
                kind="adk" if config else "query",
                spec=body.get("spec") or {},
                description=body.get("description"),
                labels=body.get("labels") or {},
                **from_adk_config(config),
            )
            detail.update(engine=record.name, project=project, location=location)
            return json_response(200, self.state.operation(record, "create"))

        return self._control("CreateReasoningEngine", request, detail, create)

    def _route_update_engine(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)
        detail["engine"] = name

        def update(body: dict[str, Any]) -> HttpResponse:
            record = self.state.engine(name)
            if record is None:
                return self._engine_missing(name)
            mask = ",".join(request.query.get("updateMask") or request.query.get("update_mask") or [])
            if not mask:
                return invalid("update_mask is required: name the fields to update.")
            changed = self.state.update_engine(record, camel(body), mask.split(","))
            for key, value in from_adk_config(adk_config(changed.spec)).items():
                setattr(changed, key, value)
            return json_response(200, self.state.operation(changed, "update"))

        return self._control("UpdateReasoningEngine", request, detail, update)

    def _route_delete_engine(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)
        detail["engine"] = name

        def delete(body: dict[str, Any]) -> HttpResponse:
            done = self.state.delete_engine(name)
            return self._engine_missing(name) if done is None else json_response(200, done)

        return self._control("DeleteReasoningEngine", request, detail, delete)

    # --- the Sessions API ---------------------------------------------------------------------------

    def _engine_session(
        self, engine_name: str, session_id: str
    ) -> tuple[Session | None, HttpResponse | None]:
        engine = self.engine(engine_name)
        if engine is None:
            return None, self._engine_missing(engine_name)
        session = self.state.sessions.get(session_id)
        if session is None or session.app_name != engine.name:
            return None, google_error(404, f"Session {engine_name}/sessions/{session_id} not found.")
        return session, None

    def _route_create_session(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)

        def create(body: dict[str, Any]) -> HttpResponse:
            engine = self.engine(name)
            if engine is None:
                return self._engine_missing(name)
            body = camel(body)
            user_id = body.get("userId")
            if not isinstance(user_id, str) or not user_id:
                return invalid("Session.user_id is required.")
            state = body.get("sessionState") if isinstance(body.get("sessionState"), dict) else {}
            wanted = (request.query.get("sessionId") or request.query.get("session_id") or [None])[0]
            if wanted and wanted in self.state.sessions:
                return google_error(409, f"Session {name}/sessions/{wanted} already exists.")
            session = self.state.create_session(engine, user_id, state, session_id=wanted)
            detail["session_id"] = session.id
            made = sessions.session_resource(session)
            return json_response(
                200,
                self.state.remember_operation(
                    made["name"], lambda op: sessions.operation(op, "Create", made)
                ),
            )

        return self._control("CreateSession", request, detail, create)

    def _route_list_sessions(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)

        def listing(body: dict[str, Any]) -> HttpResponse:
            engine = self.engine(name)
            if engine is None:
                return self._engine_missing(name)
            wanted = sessions.USER_FILTER.search(" ".join(request.query.get("filter") or []))
            found = [
                sessions.session_resource(s)
                for s in list(self.state.sessions.values())
                if s.app_name == engine.name and (wanted is None or s.user_id == wanted.group(1))
            ]
            return json_response(200, {"sessions": found} if found else {})

        return self._control("ListSessions", request, detail, listing)

    def _route_get_session(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        def get(body: dict[str, Any]) -> HttpResponse:
            session, missing = self._engine_session(match.group(2), match.group(3))
            if missing is not None or session is None:
                return missing or invalid("no session")
            return json_response(200, sessions.session_resource(session))

        return self._control("GetSession", request, detail, get)

    def _route_update_session(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        def update(body: dict[str, Any]) -> HttpResponse:
            session, missing = self._engine_session(match.group(2), match.group(3))
            if missing is not None or session is None:
                return missing or invalid("no session")
            body = camel(body)
            mask = ",".join(request.query.get("updateMask") or request.query.get("update_mask") or [])
            fields = [f.strip() for f in mask.split(",") if f.strip()] or ["sessionState"]
            if any(f in ("session_state", "sessionState") for f in fields) and isinstance(
                body.get("sessionState"), dict
            ):
                self.state.update_session(session, state=dict(body["sessionState"]))
            return json_response(200, sessions.session_resource(session))

        return self._control("UpdateSession", request, detail, update)

    def _route_delete_session(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        def delete(body: dict[str, Any]) -> HttpResponse:
            session, missing = self._engine_session(match.group(2), match.group(3))
            if missing is not None or session is None:
                return missing or invalid("no session")
            self.state.delete_session(session.id)
            name = f"{session.app_name}/sessions/{session.id}"
            return json_response(
                200, self.state.remember_operation(name, lambda op: sessions.operation(op, "Delete", None))
            )

        return self._control("DeleteSession", request, detail, delete)

    def _route_append_event(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        def append(body: dict[str, Any]) -> HttpResponse:
            session, missing = self._engine_session(match.group(2), match.group(3))
            if missing is not None or session is None:
                return missing or invalid("no session")
            event, problem = sessions.appended_event(body)
            if problem is not None or event is None:
                return invalid(problem or "no event")
            delta = event["actions"]["state_delta"]
            if delta:
                self.state.update_session(session, state={**session.state, **delta})
            self.state.record(session, event)
            return json_response(200, {})

        return self._control("AppendEvent", request, detail, append)

    def _route_list_events(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        def listing(body: dict[str, Any]) -> HttpResponse:
            session, missing = self._engine_session(match.group(2), match.group(3))
            if missing is not None or session is None:
                return missing or invalid("no session")
            found = [sessions.event_resource(session, e) for e in list(session.events)]
            return json_response(200, {"sessionEvents": found} if found else {})

        return self._control("ListEvents", request, detail, listing)

    def _route_list_engines(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        parent = match.group(2)
        listed = [e.resource() for e in self.state.engines.values() if e.name.startswith(parent + "/")]
        return self._control(
            "ListReasoningEngines",
            request,
            detail,
            lambda body: json_response(200, {"reasoningEngines": listed} if listed else {}),
        )

    def _route_operation(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        found = self.state.operations.get(match.group(2))
        if found is None:
            return google_error(404, f"Operation {match.group(2)} does not exist.")
        return self._control("GetOperation", request, detail, lambda body: json_response(200, found))

    def _route_query(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)
        detail["engine"] = name
        return self._guarded(
            "Query", request, detail, lambda body, fault: self._query(name, body, fault, detail)
        )

    def _route_stream_query(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        name = match.group(2)
        detail["engine"] = name
        return self._guarded(
            "StreamQuery", request, detail, lambda body, fault: self._stream_query(name, body, fault, detail)
        )

    def _method(
        self, name: str, body: dict[str, Any], expected_mode: tuple[str, ...]
    ) -> tuple[EngineRecord | None, str, dict[str, Any], HttpResponse | None]:
        engine = self.engine(name)
        if engine is None:
            return None, "", {}, self._engine_missing(name)
        method = str(body.get("classMethod") or "")
        given = body.get("input") or {}
        if not isinstance(given, dict):
            return (
                engine,
                method,
                {},
                invalid("input must be a JSON object of the method's keyword arguments."),
            )
        modes = {m["name"]: m["api_mode"] for m in engine.resource()["spec"]["classMethods"]}
        if method not in modes or modes[method] not in expected_mode:
            api = "query" if "" in expected_mode else "stream query"
            listed = ", ".join(sorted(modes))
            problem = f"Method {method!r} is not defined for the {api} API of this Reasoning Engine"
            return engine, method, given, invalid(f"{problem}; it has: {listed}.")
        return engine, method, given, None

    def _query(
        self, name: str, body: dict[str, Any], fault: Fault | None, detail: dict[str, Any]
    ) -> HttpResponse:
        engine, method, given, problem = self._method(name, body, ("",))
        if problem is not None or engine is None:
            return problem or self._engine_missing(name)
        detail["method"] = method
        if method == "query":
            text = given.get("input")
            if not isinstance(text, str) or not text.strip():
                return invalid("query() missing the keyword argument 'input' (the agent's input text).")
            config = given.get("config") if isinstance(given.get("config"), dict) else {}
            tags = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
            turn = self._engine_turn(engine, text, tags, [], None)
            answered = self._answer(turn, detail)
            if isinstance(answered, HttpResponse):
                return answered
            if answered.tool is not None:
                return invalid("an Agent Engine runs its own tools; script the agent's final reply instead")
            output: Any = {"input": text, "output": answered.text}
            return self.reply_with(json_response(200, {"output": output}), fault)
        user_id = given.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            return invalid(f"{method}() missing the keyword argument 'user_id'.")
        if method == "create_session":
            state = given.get("state") if isinstance(given.get("state"), dict) else {}
            session = self.state.create_session(engine, user_id, state)
            detail["session_id"] = session.id
            return self.reply_with(json_response(200, {"output": session.as_json()}), fault)
        if method == "list_sessions":
            found = [s.as_json(events=False) for s in self.state.user_sessions(engine, user_id)]
            return self.reply_with(json_response(200, {"output": {"sessions": found}}), fault)
        session_id = str(given.get("session_id") or "")
        session = self.state.session(engine, user_id, session_id)
        if session is None:
            return google_error(404, f"Session not found: {session_id} (user {user_id}).")
        if method == "delete_session":
            self.state.delete_session(session_id)
            return json_response(200, {"output": None})
        return self.reply_with(json_response(200, {"output": session.as_json()}), fault)

    def _engine_turn(
        self,
        engine: EngineRecord,
        text: str,
        tags: dict[str, Any],
        history: list[Message],
        session: Session | None,
    ) -> Turn:
        return Turn(
            prompt=text,
            messages=(*history, Message(role="user", content=text)),
            instructions=engine.instructions,
            step=tags.get(STEP),
            agent=tags.get(AGENT) or engine.podium_agent or engine.display_name,
            run_id=tags.get(RUN),
            model=engine.model,
            session_id=session.id if session else None,
        )

    def _stream_query(
        self, name: str, body: dict[str, Any], fault: Fault | None, detail: dict[str, Any]
    ) -> HttpResponse:
        engine, method, given, problem = self._method(name, body, ("stream", "async_stream"))
        if problem is not None or engine is None:
            return problem or self._engine_missing(name)
        detail["method"] = method
        adk = engine.kind == "adk" or (engine.kind == "any" and "user_id" in given)
        text = given.get("message") if adk else given.get("input")
        if not isinstance(text, str) or not text.strip():
            argument = "message" if adk else "input"
            return invalid(f"{method}() missing the keyword argument {argument!r} (the text to send).")
        session: Session | None = None
        tags: dict[str, Any] = {}
        if adk:
            user_id, session_id = str(given.get("user_id") or ""), str(given.get("session_id") or "")
            if not user_id:
                return invalid(f"{method}() missing the keyword argument 'user_id'.")
            session = self.state.session(engine, user_id, session_id) if session_id else None
            if session_id and session is None:
                return google_error(404, f"Session not found: {session_id} (user {user_id}).")
            if session is None:
                session = self.state.create_session(engine, user_id, {})
            tags = session.state
            detail["session_id"] = session.id
        history = history_of(session.events) if session else []
        turn = self._engine_turn(engine, text, tags, history, session)
        answered = self._answer(turn, detail)
        if isinstance(answered, HttpResponse):
            return answered
        if answered.tool is not None:
            return invalid("an Agent Engine runs its own tools; script the agent's final reply instead")
        invocation = f"e-{new_id()}"
        asked = {
            "content": {"parts": [{"text": text}], "role": "user"},
            "author": "user",
            "invocation_id": invocation,
            "id": str(new_id()),
            "timestamp": time.time(),
        }
        event: dict[str, Any] = {
            "content": {"parts": [{"text": answered.text}], "role": "model"},
            "author": author_name(engine.display_name),
            "invocation_id": invocation,
            "id": str(new_id()),
            "timestamp": time.time(),
            "actions": {"state_delta": {}, "artifact_delta": {}, "requested_auth_configs": {}},
        }
        if engine.reports_usage and adk:
            event["usage_metadata"] = snake_usage(self.usage_metadata(answered.usage))
        if session is not None:
            self.state.record(session, asked, event)
        frames = [json.dumps(event).encode() + b"\n", b"\n"]
        stream = self.stream_with(
            frames, fault, corrupt=lambda _frame: b"{not json\n", error=stream_error_line
        )
        return HttpResponse(200, {"Content-Type": "application/json"}, stream)
