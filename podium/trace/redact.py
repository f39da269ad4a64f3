"""Secrets out of everything a trace exports: known credential shapes, secret-named fields, and the
values of the environment's secret-named variables.

Always on: whatever a prompt, a reply, a setting or an error message carried, an exported span
says ``[REDACTED]`` in its place. Written by hand (a table of patterns) because the scanners that
exist look for secrets in files, line by line, not in values on their way out.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from podium.trace.spans import Span, SpanEvent

REDACTED = "[REDACTED]"

# a field or variable whose name says it holds a secret
SECRET_NAME = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|credential|connection[-_]?string|conn[-_]?str|"
    r"(^|[-_.])auth([-_.]|$)|authorization|cookie|signature|"
    r"key$)"  # api_key, apikey, AccountKey, openai_key: whatever ends in key, but for the names below
)
# names that match SECRET_NAME but count things or name things, not secrets
_NOT_SECRET = re.compile(
    r"(?i)(tokens$|_tokens|token[-_]?(count|usage|type|limit)s?|"
    r"(idempotency|cache|sort|partition|primary|foreign|output|row|group|lookup|dedup)[-_]?key$|^key$)"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # AWS access key ids, and a secret access key written after its name
    (re.compile(r"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), REDACTED),
    (
        re.compile(
            r"(?i)(aws[_-]?secret[_-]?access[_-]?key|aws[_-]?session[_-]?token|secretaccesskey)"
            r"(\W{0,4})[A-Za-z0-9/+=]{16,}"
        ),
        r"\1\2" + REDACTED,
    ),
    # HTTP authorization: bearer tokens and basic credentials
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*"), r"\1 " + REDACTED),
    # JSON web tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
    # API keys with a known prefix: OpenAI/Anthropic (sk-…), Google (AIza…), GitHub, Slack
    (re.compile(r"\bsk-(ant-|proj-)?[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), REDACTED),
    (re.compile(r"\b(ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    # connection strings: Key=value; pairs whose key names a secret (Azure storage, SQL, Service Bus)
    (
        re.compile(
            r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd|ApiKey|"
            r"AccessKey|Secret|Token|sig)=([^;&\s\"']+)"
        ),
        r"\1=" + REDACTED,
    ),
    # a password in a URL: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
    # name=value or "name": "value" where the name says secret (in text: a log line, an error)
    (
        re.compile(
            r"(?i)([\"']?\b[\w.-]*(?:password|passwd|secret|api[-_]?key|access[-_]?key|auth[-_]?token|"
            r"private[-_]?key)[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}{]{4,})"
        ),
        r"\1" + REDACTED,
    ),
)

# one pass that finds whether any pattern could apply: most values (ids, names, numbers) have none,
# and a trace of 10,000 steps holds a few hundred thousand of them
_ANY = re.compile("|".join(f"(?:{p.pattern.removeprefix('(?i)')})" for p, _ in _PATTERNS), re.IGNORECASE)

_SEEN = 50_000  # short values remembered, redacted, per Redactor
_MIN_ENV_SECRET = 6  # shorter values ("true", "1") would redact ordinary words


@functools.lru_cache(maxsize=4096)  # attribute and field names repeat across every span
def secret_name(name: str) -> bool:
    """Whether a field or variable named `name` holds a secret (``api_key``, ``DB_PASSWORD``)."""
    return bool(SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the environment's secret-named variables, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if secret_name(k) and len(v) >= _MIN_ENV_SECRET}
    return sorted(values, key=len, reverse=True)


class Redactor:
    """Redacts text and values: patterns, secret-named fields, and known secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = [s for s in secrets if len(s) >= _MIN_ENV_SECRET]
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
        if _ANY.search(out):
            for pattern, replacement in _PATTERNS:
                out = pattern.sub(replacement, out)
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
