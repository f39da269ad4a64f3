"""Secrets out of text: known credential shapes, secret-named fields, and passwords in URLs.

One set of patterns for everything podium writes or shows: the trace's `Redactor` scans exported
values with it, and `redact_message` runs over every error message before the store keeps it and
before a command prints it. Written by hand (a table of patterns) because the scanners that exist
look for secrets in files, line by line, not in values on their way out.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from typing import Any

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

MIN_SECRET_LENGTH = 6  # shorter values ("true", "1") would redact ordinary words

# userinfo in a URL (`scheme://user:password@host`, `https://TOKEN@host`): dropped from messages
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@]+@")

# the fields of an event's data that carry an error's words (CallFailed, StepFailed, RunFinished's
# error, RunStopped's reason, a warning's message): what `redact_error_fields` scans
ERROR_FIELDS = ("message", "fix", "traceback", "reason", "error")
_ERROR_KEYS = frozenset(ERROR_FIELDS)


@functools.lru_cache(maxsize=4096)  # attribute and field names repeat across every span
def secret_name(name: str) -> bool:
    """Whether a field or variable named `name` holds a secret (``api_key``, ``DB_PASSWORD``)."""
    return bool(SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the environment's secret-named variables, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if secret_name(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def strip_userinfo(text: str) -> str:
    """`text` with the user and password taken out of every URL in it (`http://a:b@h/` → `http://h/`)."""
    return _USERINFO.sub(r"\1", text) if "@" in text else text


def redact_patterns(text: str) -> str:
    """`text` with every known credential shape in it replaced by ``[REDACTED]``."""
    if not _ANY.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_message(text: str, environ: Mapping[str, str] | None = None) -> str:
    """An error message as podium may keep or show it: no URL userinfo, no credential shapes, and
    none of the values of the environment's secret-named variables (`OPENAI_API_KEY`, …)."""
    for secret in environment_secrets(environ):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return redact_patterns(strip_userinfo(text))


def redact_error_fields(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data with `redact_message` run over its error fields (`ERROR_FIELDS`), at any
    depth inside them; the same dict when it has none (most events)."""
    if _ERROR_KEYS.isdisjoint(data):  # (one C-level pass over the keys: this runs for every event)
        return data
    return {k: _redacted(v) if k in ERROR_FIELDS else v for k, v in data.items()}


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_message(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value
