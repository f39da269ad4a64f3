"""Scripted replies from a workflow's `mock:` section: by step, by prompt regex, or in sequence."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podium.core.calls import AgentRequest, Usage
from podium.core.errors import AuthError, InvalidRequest, StepError, Throttled, TransientError
from podium.core.spec import MockReply

_ERRORS: dict[str, type[StepError]] = {
    "throttled": Throttled,
    "transient": TransientError,
    "invalid_request": InvalidRequest,
    "auth": AuthError,
}


def estimate_tokens(text: str) -> int:
    """About four characters a token, the usual rule of thumb for English text."""
    return math.ceil(len(text) / 4) if text else 0


def _reply_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Script:
    """The mock replies of one workflow, with each key's position in its sequence."""

    entries: Mapping[str, Any]
    positions: dict[str, int] = field(default_factory=dict)

    def key_for(self, request: AgentRequest) -> str | None:
        if request.step in self.entries:
            return request.step
        if request.agent in self.entries:
            return request.agent
        return None

    def next_reply(self, key: str, prompt: str) -> MockReply:
        """The reply for one call: the first matching rule, else the next in the sequence."""
        entry = self.entries[key]
        items = entry if isinstance(entry, list) else [entry]
        replies = [i if isinstance(i, MockReply) else MockReply(reply=i) for i in items]
        for reply in replies:
            if reply.match is not None and re.search(reply.match, prompt):
                return reply
        sequence = [r for r in replies if r.match is None]
        if not sequence:
            raise InvalidRequest(
                f"no mock reply for '{key}' matches the prompt {prompt[:60]!r}",
                fix=f"add a reply without match: to mock.{key}, or widen a match: pattern",
            )
        position = self.positions.get(key, 0)
        self.positions[key] = position + 1
        return sequence[min(position, len(sequence) - 1)]


def usage_for(reply: MockReply, request: AgentRequest, text: str) -> Usage:
    """The reply's own usage if scripted, else an estimate from the text sent and received."""
    given = reply.usage or {}
    sent = (request.instructions or "") + "".join(m.content for m in request.messages)
    return Usage(
        input_tokens=given.get("input_tokens", estimate_tokens(sent)),
        output_tokens=given.get("output_tokens", estimate_tokens(text)),
        cache_read_tokens=given.get("cache_read_tokens", 0),
        cache_write_tokens=given.get("cache_write_tokens", 0),
    )


def raise_scripted_error(reply: MockReply, provider: str) -> None:
    if reply.error is None:
        return
    cls = _ERRORS[reply.error]
    raise cls(
        f"scripted {reply.error} error" + (f" ({_reply_text(reply.reply)})" if reply.reply else ""),
        retry_after=reply.retry_after,
        provider=provider,
    )


def reply_text(reply: MockReply) -> str:
    return _reply_text(reply.reply if reply.reply is not None else "")
