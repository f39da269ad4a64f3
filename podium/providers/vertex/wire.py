"""Vertex's wire format, as the emulator speaks it: Google's error shape, request checks, reply pieces.

Field names and messages follow what google-genai and vertexai send and parse (camelCase JSON,
``{"error": {"code", "message", "status", "details"}}``), and Vertex's own 400s where the service
refuses a request; see `routes` for the operations that use them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from podium.core.calls import Message
from podium.core.errors import StepError
from podium.providers._kit.brains import forced_input
from podium.providers._kit.faults import Fault
from podium.providers._kit.http import HttpResponse

LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        status,
        {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
        json.dumps(body).encode(),
    )


def google_error(
    status: int, message: str, *, code: str | None = None, retry_after: float | None = None
) -> HttpResponse:
    """An error as Google APIs send it: a throttle's wait is a google.rpc.RetryInfo detail, not a header."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": code or _STATUS.get(status, "UNKNOWN"),
    }
    if retry_after is not None:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
        ]
    return json_response(status, {"error": error})


def invalid(message: str) -> HttpResponse:
    return google_error(400, message)


_STRUCTS = frozenset({"jsonConfig", "parameters", "envVars", "labels"})  # free-form maps: keys kept as sent


def camel(value: Any) -> Any:
    """A request's JSON with field names in lowerCamelCase, as the service stores and returns them.

    Google's JSON mapping accepts snake_case names too (google-cloud-aiplatform sends some); the
    keys of free-form maps (an ADK config, a method's parameters) are data and stay as they are.
    """
    if isinstance(value, list):
        return [camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    done: dict[str, Any] = {}
    for key, item in value.items():
        name = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), str(key))
        done[name] = item if name in _STRUCTS else camel(item)
    return done


def adk_config(spec: Any) -> dict[str, Any]:
    """The ADK agent config a create or update carries (spec.sourceCodeSpec.agentConfigSource), if any."""
    source = ((spec or {}).get("sourceCodeSpec") or {}).get("agentConfigSource") or {}
    config = (source.get("adkConfig") or {}).get("jsonConfig")
    return config if isinstance(config, dict) else {}


def from_adk_config(config: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if isinstance(config.get("model"), str):
        found["model"] = config["model"]
    if isinstance(config.get("instruction"), str):
        found["instructions"] = config["instruction"]
    return found


def author_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name) or "agent"


def snake_usage(metadata: dict[str, Any]) -> dict[str, Any]:
    """usageMetadata in the snake_case an ADK event's model_dump gives."""
    return {
        re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): value
        for key, value in metadata.items()
        if key not in ("promptTokensDetails",)
    }


def history_of(events: list[dict[str, Any]]) -> list[Message]:
    messages = []
    for event in events:
        text = "".join(str(p.get("text", "")) for p in (event.get("content") or {}).get("parts") or [])
        messages.append(Message(role="user" if event.get("author") == "user" else "assistant", content=text))
    return messages


def stream_error_line(fault: Fault) -> bytes:
    code = fault.code or "INTERNAL"
    status = {v: k for k, v in _STATUS.items()}.get(code, 500)
    return (
        json.dumps({"error": {"code": status, "message": "Injected stream error.", "status": code}}).encode()
        + b"\n"
    )


def contents_of(raw: Any) -> tuple[str | None, list[Message], list[str]]:
    """The conversation from ``contents``: messages (function results as user turns) and the results sent."""
    if not isinstance(raw, list) or not raw:
        return "Unable to submit request because it has an empty contents field.", [], []
    messages: list[Message] = []
    results: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("role", "user") not in ("user", "model", "function"):
            return f"contents[{index}].role must be 'user' or 'model'.", [], []
        parts = item.get("parts")
        if not isinstance(parts, list) or not parts:
            return (
                f"Unable to submit request because it must include at least one parts field,"
                f" which describes the prompt input (contents[{index}]).",
                [],
                [],
            )
        texts = []
        for part in parts:
            if not isinstance(part, dict):
                return f"contents[{index}].parts must be objects.", [], []
            if "text" in part:
                texts.append(str(part["text"]))
            elif "functionResponse" in part:
                response = (part["functionResponse"] or {}).get("response")
                results.append(json.dumps(response, sort_keys=True))
                texts.append(results[-1])
            elif "functionCall" in part:
                texts.append(json.dumps(part["functionCall"], sort_keys=True))
        if texts and not any(t.strip() for t in texts):
            return f"contents[{index}].parts[0].text must not be empty.", [], []
        role = "assistant" if item.get("role") == "model" else "user"
        messages.append(Message(role=role, content="\n".join(texts)))
    if raw[-1].get("role", "user") == "model":
        return (
            "Please ensure that the last turn of contents comes from the user (or a function response).",
            [],
            [],
        )
    return None, messages, results


def asked(contents: list[dict[str, Any]]) -> str:
    """The text of the last user turn that says something (function responses only do not)."""
    for item in reversed(contents):
        said = [str(p["text"]) for p in item.get("parts") or [] if isinstance(p, dict) and "text" in p]
        if item.get("role", "user") == "user" and any(t.strip() for t in said):
            return "\n".join(said)
    return ""


def forced_function(config: Any, declared: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The functions a ``toolConfig`` forces the model to call from (mode ``ANY``: its
    ``allowedFunctionNames``, else every declared one; none otherwise), and why the service would
    refuse the config."""
    calling = (config or {}).get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return [], None
    allowed = calling.get("allowedFunctionNames") or []
    if not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed):
        return [], "toolConfig.functionCallingConfig.allowedFunctionNames must be a list of names."
    unknown = [str(n) for n in allowed if n not in declared]
    if unknown:
        return [], (
            f"allowedFunctionNames {', '.join(unknown)} are not declared in the request's tools"
            f" (declared: {', '.join(declared) or 'none'})."
        )
    if str(calling.get("mode", "AUTO")).upper() != "ANY" or not declared:
        return [], None
    return [str(n) for n in allowed] or list(declared), None


def json_text(text: str, config: Mapping[str, Any]) -> str:
    """The reply as the service gives it under ``responseMimeType: application/json``: JSON always
    (a reply that is not JSON fills the response schema's required fields, or becomes a JSON string)."""
    if config.get("responseMimeType") != "application/json":
        return text
    try:
        json.loads(text)
        return text
    except ValueError:
        pass
    schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
    if isinstance(schema, dict) and str(schema.get("type", "")).lower() == "object":
        return json.dumps(forced_input(text, schema))
    return json.dumps(text)


def generation_problem(config: Any) -> str | None:
    if not isinstance(config, dict):
        return "generationConfig must be an object."
    limit = config.get("maxOutputTokens")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        return "Unable to submit request because maxOutputTokens must be at least 1."
    checks = (("temperature", 0, 2), ("topP", 0, 1))
    for name, low, high in checks:
        value = config.get(name)
        if value is not None and (not isinstance(value, int | float) or not low <= value <= high):
            return f"Unable to submit request because {name} must be in the range [{low}, {high}]."
    return None


def labels_problem(labels: Any) -> str | None:
    if labels is None:
        return None
    if not isinstance(labels, dict) or len(labels) > 64:
        return "labels must be a map of at most 64 entries."
    for key, value in labels.items():
        if not LABEL_KEY.match(str(key)) or not isinstance(value, str) or not LABEL_VALUE.match(value):
            return (
                f"Label {key!r}: keys and values may contain only lowercase letters, numbers, underscores and"
                " dashes, at most 63 characters; keys start with a letter."
            )
    return None


def brain_error(exc: StepError) -> HttpResponse:
    """A brain's podium error (a scripted ``error:``) as Vertex's own error."""
    message = exc.message + (f" ({exc.fix})" if exc.kind == "invalid_request" and exc.fix else "")
    status = {"throttled": 429, "invalid_request": 400, "auth": 403, "timeout": 504}.get(exc.kind, 503)
    return google_error(status, message, retry_after=exc.retry_after)


def sse_chunks(reply: dict[str, Any], pieces: int = 3) -> list[dict[str, Any]]:
    """A generateContent reply as streamGenerateContent sends it: the text in a few chunks, each a
    GenerateContentResponse; the finish reason and the usage come with the last one."""
    candidate = reply["candidates"][0]
    parts = candidate["content"]["parts"]
    text = parts[0].get("text") if len(parts) == 1 else None
    if not text:
        return [reply]
    size = max(1, -(-len(text) // pieces))
    texts = [text[i : i + size] for i in range(0, len(text), size)]
    chunks = []
    for index, piece in enumerate(texts):
        last = index == len(texts) - 1
        chunk: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": piece}]}}],
            "modelVersion": reply.get("modelVersion"),
            "createTime": reply.get("createTime"),
            "responseId": reply.get("responseId"),
        }
        if last:
            chunk["candidates"][0]["finishReason"] = candidate.get("finishReason", "STOP")
            chunk["usageMetadata"] = reply.get("usageMetadata")
        chunks.append(chunk)
    return chunks
