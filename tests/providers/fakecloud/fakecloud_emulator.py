"""FakeCloud's emulator: its routes on the kit's `CloudEmulator`; serving, faults and the log come free."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Sequence
from typing import Any

from podium.core.calls import Message
from podium.core.errors import StepError
from podium.providers._kit.brains import Turn
from podium.providers._kit.emulator import CloudEmulator, Route
from podium.providers._kit.http import HttpRequest, HttpResponse

_CODES = {"throttled": "RATE_LIMITED", "auth": "UNAUTHENTICATED", "timeout": "DEADLINE_EXCEEDED"}


def _json(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


class FakeCloudEmulator(CloudEmulator):
    provider = "fakecloud"

    def __init__(self, brain: Any = None, *, port: int = 0, project: str = "demo") -> None:
        self.project = project
        self.agents: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, str] = {}  # session → the input that asked for a tool
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        super().__init__(brain, port=port)

    def routes(self) -> Sequence[Route]:
        return [
            Route("POST", re.compile(r"^/v1/agents/([^/:]+):ask$"), "Ask", self.ask),
            Route("POST", re.compile(r"^/v1/models/([^/:]+):generate$"), "Generate", self.generate),
            Route("POST", re.compile(r"^/v1/agents$"), "CreateAgent", self.save),
            Route("POST", re.compile(r"^/v1/agents/([^/:]+)$"), "UpdateAgent", self.save),
            Route("GET", re.compile(r"^/v1/agents/([^/:]+)$"), "GetAgent", self.get),
        ]

    def settings(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint_url, "api_key": "fake-key", "project": self.project}

    def environment(self) -> dict[str, str]:
        return {"FAKECLOUD_ENDPOINT": self.endpoint_url}

    def _answer(
        self, request: HttpRequest, operation: str, detail: dict[str, Any], turn: Turn
    ) -> HttpResponse:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return self.error_response(401, "UNAUTHENTICATED", "no bearer token")
        early, fault = self.take_fault(operation, detail)
        if early is not None:
            return early
        detail.update(step=turn.step, input=turn.prompt)
        try:
            answer = self.brain.answer(turn)
        except StepError as exc:
            code = _CODES.get(exc.kind, "UNAVAILABLE")
            return self.error_response(429 if code == "RATE_LIMITED" else 503, code, exc.message)
        usage = {"in": answer.usage.input_tokens, "out": answer.usage.output_tokens}
        if answer.tool is not None:
            self.pending[turn.session_id or ""] = turn.prompt
            body = {"tool_call": {"name": answer.tool.name, "args": answer.tool.input}, "usage": usage}
        else:
            body = {"output": answer.text, "usage": usage}
        return self.reply_with(_json(200, body), fault)

    def ask(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        agent = self.agents.get(match.group(1))
        if agent is None:
            return self.error_response(404, "NOT_FOUND", f"no agent {match.group(1)}")
        body = json.loads(request.body)
        prompt = body.get("input") or self.pending.pop(body["session"], "")
        messages = [Message(role="user", content=prompt)]
        if "tool_result" in body:
            messages.append(Message(role="user", content=body["tool_result"]))
            detail["tool_result"] = body["tool_result"]
        tags = body.get("tags", {})
        turn = Turn(prompt, tuple(messages), agent["instructions"], tags.get("step"), tags.get("agent"),
                    tags.get("run"), agent["model"], body.get("session"))  # fmt: skip
        return self._answer(request, "Ask", detail, turn)

    def generate(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        body = json.loads(request.body)
        tags = body.get("tags", {})
        turn = Turn(body["prompt"], (Message(role="user", content=body["prompt"]),), body.get("system"),
                    tags.get("step"), tags.get("agent"), tags.get("run"), match.group(1))  # fmt: skip
        return self._answer(request, "Generate", detail, turn)

    def save(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        with self._lock:
            agent_id = match.group(1) if match.groups() else f"ag-{next(self._ids)}"
            version = self.agents.get(agent_id, {}).get("version", 0) + 1
            self.agents[agent_id] = {**json.loads(request.body), "id": agent_id, "version": version}
            return _json(200, self.agents[agent_id])

    def get(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        agent = self.agents.get(match.group(1))
        return _json(200, agent) if agent else self.error_response(404, "NOT_FOUND", "no such agent")
