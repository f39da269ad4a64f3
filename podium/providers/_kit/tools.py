"""The tool loop: a cloud agent asks for a tool by ``(name, args)``; podium runs the one the agent declared.

A cloud translates its own "call this tool" message (Bedrock's returnControl, a function call in a
Responses or Gemini reply) into a name and arguments, and the result back into its wire format;
everything in between is here: the agent's ``tools:`` looked up, the function imported once, called
in the provider's worker thread (an async tool awaited on the run's loop), a failure turned into
`AgentFailed` with a fix, and the result made JSON-able and recorded for the trace.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium.core.errors import AgentFailed, InvalidRequest, StepError
from podium.providers._kit.functions import FunctionCache, call_in_thread, user_traceback

if TYPE_CHECKING:
    from podium.core.calls import AgentRequest


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the agent declared: its name under ``tools:``, its ``module:function``, the callable."""

    name: str
    reference: str
    fn: Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call made: the arguments, the result as JSON values, and the result as text to send back;
    when it began (UTC) and how long it took, for the trace's span of it."""

    name: str
    arguments: dict[str, Any]
    result: Any
    text: str
    started_at: datetime | None = None
    duration_ms: float | None = None

    def record(self, **extra: Any) -> dict[str, Any]:
        """The call as the response's ``native.tool_calls`` entry."""
        out = {"name": self.name, **extra, "arguments": self.arguments, "result": self.result}
        if self.started_at is not None:
            out["started_at"] = self.started_at.isoformat()
            out["duration_ms"] = self.duration_ms
        return out


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
        try:
            result = call_in_thread(tool.fn, loop, **arguments)
        except StepError:
            raise
        except Exception as exc:
            error = AgentFailed(
                f"tool '{name}' ({tool.reference}) of agent '{request.agent}' raised"
                f" {type(exc).__name__}: {exc}",
                fix="fix the tool, or raise podium.core.errors.TransientError from it to have the step"
                " retried",
                provider=self.provider,
            )
            error.traceback = user_traceback(exc)
            raise error from exc
        took = round((time.perf_counter() - started) * 1000, 3)
        text = result if isinstance(result, str) else json.dumps(result, default=str, ensure_ascii=False)
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
