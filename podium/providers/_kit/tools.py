"""The tool loop: a cloud agent asks for a tool by ``(name, args)``; podium runs the one the agent declared.

A cloud translates its own "call this tool" message (Bedrock's returnControl or Converse toolUse,
a function call in a Responses or Gemini reply) into a name and arguments, and the result back into
its wire format; everything in between is here, the same for every cloud (`ToolLoop`): the round
limit (``max_tool_rounds``), the arguments checked against the tool's JSON Schema (a mismatch goes
back to the agent as a tool error), a call that finished before replayed from the run's events
instead of run again, a tool marked ``approval: true`` held for a person, the function imported
once and called in the provider's worker thread (an async tool awaited on the run's loop), a
failure turned into `AgentFailed` with a fix, and the result made JSON-able and recorded.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium.core.errors import AgentFailed, InvalidRequest, StepError, ToolApprovalNeeded
from podium.core.outputs import NotJson, json_text
from podium.providers._kit.functions import FunctionCache, call_in_thread, user_traceback, what_it_did
from podium.providers._kit.signatures import parameters_schema

if TYPE_CHECKING:
    from podium.core.calls import AgentRequest, Usage


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the agent declared: its name under ``tools:``, its ``module:function``, the callable."""

    name: str
    reference: str
    fn: Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call made: the arguments, the result as JSON values, and the result as text to send back;
    when it began (UTC) and how long it took, for the trace's span of it. `error`: the agent is sent
    a tool error (its arguments did not match, a person rejected it); `replayed`: the result is the
    one recorded when the call first finished, and the tool did not run again."""

    name: str
    arguments: dict[str, Any]
    result: Any
    text: str
    started_at: datetime | None = None
    duration_ms: float | None = None
    error: bool = False
    replayed: bool = False

    def record(self, **extra: Any) -> dict[str, Any]:
        """The call as the response's ``native.tool_calls`` entry."""
        out = {"name": self.name, **extra, "arguments": self.arguments, "result": self.result}
        if self.started_at is not None:
            out["started_at"] = self.started_at.isoformat()
            out["duration_ms"] = self.duration_ms
        if self.error:
            out["error"] = True
        if self.replayed:
            out["replayed"] = True
        return out

    def event(self) -> dict[str, Any]:
        """The call as its ToolCalled event records it."""
        return {
            "name": self.name,
            "arguments": self.arguments,
            "result": self.result,
            "text": self.text,
            "error": self.error,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "duration_ms": self.duration_ms,
        }


def tool_error(name: str, arguments: Mapping[str, Any], message: str) -> ToolCall:
    """A call the agent is told failed, with why, so that it can call again or answer without it."""
    return ToolCall(name, dict(arguments), {"error": message}, f"error: {message}", error=True)


@functools.lru_cache(maxsize=512)
def _validator(fn: Callable[..., Any]) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(parameters_schema(fn))


def argument_problems(fn: Callable[..., Any], arguments: Mapping[str, Any]) -> list[str]:
    """Why `arguments` do not match `fn`'s parameters (the JSON Schema the agent was given), if they don't."""
    try:
        validator = _validator(fn)
    except TypeError:  # an unhashable callable: check it without the cache
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(parameters_schema(fn))
    problems = []
    for error in sorted(validator.iter_errors(dict(arguments)), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path)
        problems.append(f"{where}: {error.message}" if where else error.message)
    return problems


class Toolbox:
    """The tools of a provider's agents: imported once each, thread-safe, run from worker threads."""

    def __init__(self, base_dir: Path, *, provider: str) -> None:
        self.functions = FunctionCache(base_dir)
        self.provider = provider

    def find(self, request: AgentRequest, *names: str) -> Tool | None:
        """The first of `names` the agent declares under ``tools:``, loaded; None when it declares none."""
        for name in names:
            reference = request.tools.get(name)
            if reference is None:
                continue
            try:
                fn = self.functions.load(reference)
            except Exception as exc:
                raise InvalidRequest(
                    f"cannot load tool '{name}' ({reference}) of agent '{request.agent}':"
                    f" {type(exc).__name__}: {exc}",
                    fix=f"check agents.{request.agent}.tools.{name}",
                    provider=self.provider,
                ) from None
            return Tool(name, reference, fn)
        return None

    def call(
        self,
        request: AgentRequest,
        tool: Tool,
        arguments: Mapping[str, Any],
        *,
        loop: asyncio.AbstractEventLoop | None,
        label: str | None = None,
    ) -> ToolCall:
        """Call `tool` with `arguments` (from a worker thread); a tool's own exception is `AgentFailed`.

        A podium error it raises (``TransientError`` to have the step retried) passes through.
        `label` is the name the agent used, when it differs from the declared one.
        """
        name = label or tool.name
        started_at, started = datetime.now(UTC), time.perf_counter()
        which = f"tool '{name}' ({tool.reference}) of agent '{request.agent}'"
        try:
            result = call_in_thread(tool.fn, loop, **arguments)
        except StepError:
            raise
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # (the tool's own: it ran in a thread)
            # sys.exit() in a tool ends the step, not podium
            error = AgentFailed(
                f"{which} {what_it_did(exc)}",
                fix="fix the tool, or raise podium.core.errors.TransientError from it to have the step"
                " retried",
                provider=self.provider,
            )
            error.traceback = user_traceback(exc)
            raise error from None
        took = round((time.perf_counter() - started) * 1000, 3)
        try:  # what the agent is sent: JSON, never a generator's or an object's repr
            text = result if isinstance(result, str) else json_text(result)
        except NotJson as exc:
            raise AgentFailed(
                f"{which} returned what is not JSON: {exc}", fix=NotJson.fix, provider=self.provider
            ) from None
        value = result if isinstance(result, str) else json.loads(text)
        return ToolCall(name, dict(arguments), value, text, started_at, took)

    def run(
        self,
        request: AgentRequest,
        name: str,
        arguments: Mapping[str, Any],
        *,
        loop: asyncio.AbstractEventLoop | None,
    ) -> ToolCall:
        """`find` then `call`; a tool the agent does not declare is an InvalidRequest naming the fix."""
        tool = self.find(request, name)
        if tool is None:
            raise InvalidRequest(
                f"agent '{request.agent}' asked for the tool '{name}', which agents.{request.agent}.tools"
                " does not declare",
                fix=f"declare it under the agent's tools: (tools: {{{name}: module:function}})",
                provider=self.provider,
            )
        return self.call(request, tool, arguments, loop=loop)

    def loop(self, request: AgentRequest, *, loop: asyncio.AbstractEventLoop | None, where: str) -> ToolLoop:
        """The tool loop of one call: its rounds, and its tool calls numbered in the order asked."""
        return ToolLoop(self, request, loop, where)


class ToolLoop:
    """The tool calls of one agent call, the same on every cloud: rounds counted against the step's
    ``max_tool_rounds``, each call numbered, checked, replayed or run, held for approval, recorded.

    `where` names the call in errors (``bedrock Converse <model> (agent 'w')``).
    """

    def __init__(
        self, toolbox: Toolbox, request: AgentRequest, loop: asyncio.AbstractEventLoop | None, where: str
    ) -> None:
        self.toolbox = toolbox
        self.request = request
        self.event_loop = loop
        self.where = where
        self.rounds = 0
        self.index = 0
        self.spent: Usage | None = None

    def round(self, spent: Usage | None = None) -> None:
        """The agent asks for tools again: one more round, or `AgentFailed` past ``max_tool_rounds``.

        `spent` is what the call has used so far (every round's usage): a call that stops to wait
        for a person's approval reports it, so the tokens are metered and priced all the same.
        """
        self.rounds += 1
        self.spent = spent
        limit = self.request.max_tool_rounds
        if self.rounds > limit:
            raise AgentFailed(
                f"{self.where} still asked for tools after {limit} rounds, without a final answer",
                fix="check the agent's instructions and the tools' results (it should answer once it has"
                " what it needs), or raise max_tool_rounds (defaults: or the step's)",
                provider=self.toolbox.provider,
            )

    def run(self, name: str, arguments: Mapping[str, Any]) -> ToolCall:
        """The declared tool `name` called with `arguments` (see `call`); undeclared: InvalidRequest."""
        tool = self.toolbox.find(self.request, name)
        if tool is None:
            raise InvalidRequest(
                f"{self.where} asked for the tool '{name}', which agents.{self.request.agent}.tools"
                " does not declare",
                fix=f"declare it under the agent's tools: (tools: {{{name}: module:function}})",
                provider=self.toolbox.provider,
            )
        return self.call(tool, arguments)

    def call(self, tool: Tool, arguments: Mapping[str, Any], *, label: str | None = None) -> ToolCall:
        """One call of `tool`: replayed if it finished before (same position, name and arguments),
        else checked against its schema (a mismatch is a tool error for the agent), held for a
        person's decision if the tool is marked ``approval: true``, run, and recorded as an event.
        """
        name = label or tool.name
        index, self.index = self.index, self.index + 1
        log = self.request.tool_log
        if log is not None and (done := log.finished(index, name, arguments)) is not None:
            return ToolCall(
                done.name, done.arguments, done.result, done.text, error=done.error, replayed=True
            )
        problems = argument_problems(tool.fn, arguments)
        if problems:
            call = tool_error(
                name,
                arguments,
                f"the arguments do not match the parameters of '{name}': {'; '.join(problems)}."
                f" Call it again with arguments that match its schema.",
            )
        elif tool.name in self.request.approval_tools:
            call = self._approved(tool, index, name, arguments)
        else:
            call = self.toolbox.call(self.request, tool, arguments, loop=self.event_loop, label=label)
        if log is not None:
            log.record(index, call.event())
        return call

    def _approved(self, tool: Tool, index: int, name: str, arguments: Mapping[str, Any]) -> ToolCall:
        log = self.request.tool_log
        if log is None:  # no run to wait in (a provider called directly): never run it unapproved
            return tool_error(
                name, arguments, "this tool needs a person's approval, and none can be asked here"
            )
        decision = log.decision(index, name, arguments)
        if decision is None:
            shown = json.dumps(dict(arguments), ensure_ascii=False, default=str)
            raise ToolApprovalNeeded(
                f"agent '{self.request.agent}' asks to call the tool '{name}' with {shown[:500]},"
                " which needs a person's approval",
                request={
                    "name": name,
                    "arguments": dict(arguments),
                    "item": self.request.item,
                    "index": index,
                },
                provider=self.toolbox.provider,
                usage=self.spent,
            )
        if decision.get("decision") != "approved":
            said = f": {decision.get('comment')}" if decision.get("comment") else ""
            by = decision.get("by") or "a person"
            return tool_error(name, arguments, f"{by} rejected this call{said}. Do not call it again.")
        return self.toolbox.call(self.request, tool, arguments, loop=self.event_loop)
