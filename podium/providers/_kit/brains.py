"""The brains that answer an emulator's questions: the workflow's mock replies, an echo, a python callable.

An emulated agent or model does not think: each turn put to it goes to a `Brain`. The scripted
brain keys the workflow's ``mock:`` replies exactly as the local provider does, so a workflow
answers the same locally and on an emulated cloud.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from podium.core.calls import AgentRequest, Message, Usage
from podium.core.errors import InvalidRequest
from podium.core.spec import MockReply, MockTool
from podium.providers._kit.scripted import (
    Script,
    estimate_tokens,
    raise_scripted_error,
    reply_text,
    usage_for,
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One question put to an emulated agent or model, in podium's words.

    `step`, `agent` and `run_id` are known when podium itself is the client (it tags its calls);
    other clients leave them None, and a scripted brain then keys on `agent` alone.
    """

    prompt: str
    messages: tuple[Message, ...] = ()
    instructions: str | None = None
    step: str | None = None
    agent: str | None = None
    run_id: str | None = None
    model: str | None = None
    session_id: str | None = None
    # the turn carries the results of tools the brain asked for: it goes on with a conversation.
    # None (an emulator that does not say): a turn with more than its one question goes on
    answers_tool: bool | None = None

    @property
    def goes_on(self) -> bool:
        """Whether this turn continues a conversation rather than asking its question afresh."""
        return self.answers_tool if self.answers_tool is not None else len(self.messages) > 1

    def as_request(self, provider: str) -> AgentRequest:
        """The same question as an AgentRequest, so that usage estimates match the local provider's."""
        return AgentRequest(
            run_id=self.run_id or "emulator",
            step=self.step or "",
            agent=self.agent or "",
            attempt=1,
            provider=provider,
            model=self.model,
            instructions=self.instructions,
            messages=list(self.messages) or [Message(role="user", content=self.prompt)],
            idempotency_key="",
            session_id=self.session_id or "",
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What a brain replied, and the tokens the emulator reports for it; with `tool`, a scripted
    request for a tool call (InvokeAgent returns control) rather than an answer."""

    text: str
    usage: Usage
    tool: MockTool | None = None


def forced_input(text: str, schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """A reply as the JSON object a client forces (a tool call's input, a structured answer): a reply
    that is a JSON object is itself; other text fills the schema's required fields (the text in
    strings, zero values elsewhere). Types may be JSON Schema's or Gemini's upper-case ones."""
    try:
        given = json.loads(text)
    except ValueError:
        given = None
    if isinstance(given, dict):
        return given
    zero = {"string": text, "number": 0, "integer": 0, "boolean": False, "array": [], "object": {}}
    # a schema of the wrong shape (the client's mistake) forces an empty object, never a crash
    schema = schema if isinstance(schema, Mapping) else {}
    properties = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    return {
        str(key): zero.get(str(field.get("type", "string")).lower(), text)
        if isinstance(field := properties.get(key) or {}, Mapping)
        else text
        for key in required
        if isinstance(key, str)
    }


def as_call(answer: Answer, name: str, schema: Mapping[str, Any] | None) -> Answer:
    """The answer turned into a call of the tool `name` a client forces (its input: `forced_input`)."""
    return replace(answer, text="", tool=MockTool(name=name, input=forced_input(answer.text, schema)))


class Brain(Protocol):
    """Answers one turn, or raises a podium StepError (Throttled, …) that the emulator sends as the
    service's own error."""

    def answer(self, turn: Turn) -> Answer: ...


class EchoBrain:
    """Replies with the prompt; usage estimated at four characters a token."""

    def answer(self, turn: Turn) -> Answer:
        sent = (turn.instructions or "") + "".join(m.content for m in turn.messages) or turn.prompt
        return Answer(
            text=turn.prompt,
            usage=Usage(input_tokens=estimate_tokens(sent), output_tokens=estimate_tokens(turn.prompt)),
        )


class CallableBrain:
    """A python function as the brain: ``fn(turn)`` returns text or an `Answer`, or raises."""

    def __init__(self, fn: Callable[[Turn], str | Answer]) -> None:
        self.fn = fn

    def answer(self, turn: Turn) -> Answer:
        result = self.fn(turn)
        if isinstance(result, Answer):
            return result
        text = str(result)
        return Answer(
            text=text,
            usage=Usage(input_tokens=estimate_tokens(turn.prompt), output_tokens=estimate_tokens(text)),
        )


class ScriptedBrain:
    """The workflow's ``mock:`` replies, keyed by step, else by agent, exactly as the local provider.

    A reply's ``latency`` is slept here (in the server's thread), its ``error`` is raised as a
    podium error for the emulator to send as the service's own, and its ``usage`` (or the same
    estimate the local provider makes) is what the service reports. A turn with no mock reply goes
    to `fallback`, or fails as a validation error naming the mock key to add.
    """

    def __init__(self, mock: Mapping[str, Any], *, provider: str, fallback: Brain | None = None) -> None:
        self.script = Script(mock)
        self.provider = provider
        self.fallback = fallback
        self._lock = threading.Lock()
        # conversations that stopped at a tool request, with their sequence position when they began
        self._open: dict[tuple[str, str | None, str | None, str], int] = {}

    def key_for(self, turn: Turn) -> str | None:
        for key in (turn.step, turn.agent):
            if key is not None and key in self.script.entries:
                return key
        return None

    def answer(self, turn: Turn) -> Answer:
        key = self.key_for(turn)
        if key is None:
            if self.fallback is not None:
                return self.fallback.answer(turn)
            named = " or ".join(repr(k) for k in (turn.step, turn.agent) if k) or "this call"
            raise InvalidRequest(
                f"the emulator has no mock reply for {named}",
                fix=f"add a reply under mock: keyed {named} to the workflow",
                provider=self.provider,
            )
        with self._lock:  # the sequence position is shared by concurrent calls
            reply = self._next(key, turn)
        if reply.latency:
            time.sleep(reply.latency)
        raise_scripted_error(reply, self.provider)
        if reply.tool is not None:
            asked = json.dumps(reply.tool.model_dump(), ensure_ascii=False)
            return Answer(
                text="", usage=usage_for(reply, turn.as_request(self.provider), asked), tool=reply.tool
            )
        text = reply_text(reply)
        return Answer(text=text, usage=usage_for(reply, turn.as_request(self.provider), text))

    def _next(self, key: str, turn: Turn) -> MockReply:
        """The next reply; a question asked again after its conversation stopped at a tool request
        (a person had to approve the tool, or the caller died) is answered from where it began,
        as the same agent asked the same thing would, and as the local provider does."""
        asked = (key, turn.run_id, turn.agent, turn.prompt)
        goes_on = turn.goes_on
        if not goes_on and asked in self._open:
            self.script.positions[key] = self._open.pop(asked)
        start = self.script.positions.get(key, 0)
        reply = self.script.next_reply(key, turn.prompt)
        if reply.tool is None:
            self._open.pop(asked, None)
        elif not goes_on:
            self._open[asked] = start
        return reply
