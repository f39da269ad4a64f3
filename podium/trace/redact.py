"""Secrets out of everything a trace exports: known credential shapes, secret-named fields, and the
values of the environment's secret-named variables.

Always on: whatever a prompt, a reply, a setting or an error message carried, an exported span
says ``[REDACTED]`` in its place. The patterns are podium's one set (`podium.core.redact`), which
error messages are redacted with too before they are stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from podium.core.redact import (
    MIN_SECRET_LENGTH,
    REDACTED,
    SECRET_NAME,
    environment_secrets,
    redact_patterns,
    secret_name,
)
from podium.trace.spans import Span, SpanEvent

__all__ = ["REDACTED", "SECRET_NAME", "Redactor", "environment_secrets", "secret_name"]

_SEEN = 50_000  # short values remembered, redacted, per Redactor


class Redactor:
    """Redacts text and values: patterns, secret-named fields, and known secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH]
        self._known = re.compile("|".join(re.escape(s) for s in known)) if known else None
        self._seen: dict[str, str] = {}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        return cls(environment_secrets(environ))

    def text(self, value: str) -> str:
        done = self._seen.get(value)
        if done is not None:
            return done
        out = value
        if self._known is not None:
            out = self._known.sub(REDACTED, out)
        out = redact_patterns(out)
        if len(self._seen) < _SEEN and len(value) < 256:  # short values repeat: names, ids, statuses
            self._seen[value] = out
        return out

    def value(self, value: Any, name: str | None = None) -> Any:
        """`value` with every secret in it redacted; a value under a secret `name` entirely."""
        if (
            name is not None
            and isinstance(value, str | Mapping | list | tuple)
            and value
            and secret_name(name)
        ):
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        # attribute names are podium's own and the convention's: only their values are scanned,
        # except for names that themselves say secret (a plugin's `x.api_key`)
        out: dict[str, Any] = {}
        for name, value in attributes.items():
            leaf = name.rsplit(".", 1)[-1]
            out[name] = self.value(value, leaf if secret_name(leaf) else None)
        return out

    def span(self, span: Span) -> Span:
        """A copy of `span` with its name, message, attributes and events redacted."""
        # constructed, not validated again: only strings changed, and they stay strings
        return Span.model_construct(
            trace_id=span.trace_id,
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            name=self.text(span.name),
            kind=span.kind,
            start_time=span.start_time,
            end_time=span.end_time,
            status=span.status,
            status_message=None if span.status_message is None else self.text(span.status_message),
            attributes=self.attributes(span.attributes),
            events=[
                SpanEvent(name=e.name, time=e.time, attributes=self.attributes(e.attributes))
                for e in span.events
            ],
        )
