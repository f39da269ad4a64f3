"""The Vertex operations the emulator knows and does not serve, each answered 501 UNIMPLEMENTED by name.

The surface is what google-cloud-aiplatform's REST transports (their http rules) and google-genai's
``models`` and ``caches`` call for the services the emulator claims: Agent Engine (reasoning engines,
their execution, sessions, memories, runtime revisions and long-running operations) and Gemini on
publisher models (generateContent and its neighbours, cached contents). Templates are the SDK's,
without the API version (``v1`` and ``v1beta1`` both route here); a test compares this table with
the installed SDKs' rules. Express mode (an API key, no project in the path) gets the same
operations without ``projects/*/locations/*/``, all unserved.
"""

from __future__ import annotations

from podium.providers._kit.unserved import Unserved

ENGINE = "projects/*/locations/*/reasoningEngines/*"
MODEL = "projects/*/locations/*/publishers/*/models/*"
ENDPOINT = "projects/*/locations/*/endpoints/*"
LOCATION = "projects/*/locations/*"

VERSION_PREFIX = r"/(?:v1|v1beta1)/"

# the project-scoped operations served (the express-mode forms below answer 501 for them too)
SERVED = (
    ("POST", f"{{model={MODEL}}}:generateContent", "GenerateContent"),
    ("POST", f"{{model={MODEL}}}:streamGenerateContent", "StreamGenerateContent"),
    ("POST", f"{{endpoint={MODEL}}}:countTokens", "CountTokens"),
    ("POST", f"{{parent={LOCATION}}}/reasoningEngines", "CreateReasoningEngine"),
    ("GET", f"{{parent={LOCATION}}}/reasoningEngines", "ListReasoningEngines"),
    ("GET", f"{{name={ENGINE}}}", "GetReasoningEngine"),
    ("PATCH", f"{{reasoning_engine.name={ENGINE}}}", "UpdateReasoningEngine"),
    ("DELETE", f"{{name={ENGINE}}}", "DeleteReasoningEngine"),
    ("POST", f"{{name={ENGINE}}}:query", "Query"),
    ("POST", f"{{name={ENGINE}}}:streamQuery", "StreamQuery"),
    ("GET", f"{{name={ENGINE}/operations/*}}", "GetOperation"),
    ("POST", f"{{parent={ENGINE}}}/sessions", "CreateSession"),
    ("GET", f"{{parent={ENGINE}}}/sessions", "ListSessions"),
    ("GET", f"{{name={ENGINE}/sessions/*}}", "GetSession"),
    ("PATCH", f"{{session.name={ENGINE}/sessions/*}}", "UpdateSession"),
    ("DELETE", f"{{name={ENGINE}/sessions/*}}", "DeleteSession"),
    ("POST", f"{{name={ENGINE}/sessions/*}}:appendEvent", "AppendEvent"),
    ("GET", f"{{parent={ENGINE}/sessions/*}}/events", "ListEvents"),
    ("GET", f"{{name={ENGINE}/sessions/*/operations/*}}", "GetOperation"),
)

_ASYNC = "the emulator's engines answer :query and :streamQuery"
_MEMORIES = "Memory Bank is not emulated"
_REVISIONS = "runtime revisions are not emulated: call the engine itself"
_OPERATIONS = "the emulator's operations are done when they are made: get them with GetOperation"
_ENDPOINTS = "deployed and tuned model endpoints are not emulated: call publishers/google/models/{model}"
_MODELS = "the emulator serves Gemini text generation (generateContent, streamGenerateContent, countTokens)"
_CACHES = "context caches are not emulated"


def _operations(parent: str, *, get: bool) -> list[Unserved]:
    ops = [
        Unserved("GET", f"{{name={parent}}}/operations", "ListOperations", _OPERATIONS),
        Unserved("DELETE", f"{{name={parent}/operations/*}}", "DeleteOperation", _OPERATIONS),
        Unserved("POST", f"{{name={parent}/operations/*}}:cancel", "CancelOperation", _OPERATIONS),
        Unserved("POST", f"{{name={parent}/operations/*}}:wait", "WaitOperation", _OPERATIONS),
    ]
    if get:
        ops.append(Unserved("GET", f"{{name={parent}/operations/*}}", "GetOperation", _OPERATIONS))
    return ops


PROJECT_UNSERVED: tuple[Unserved, ...] = (
    # Agent Engine: execution
    Unserved("POST", f"{{name={ENGINE}}}:asyncQuery", "AsyncQueryReasoningEngine", _ASYNC),
    Unserved("POST", f"{{name={ENGINE}}}:cancelAsyncQuery", "CancelAsyncQueryReasoningEngine", _ASYNC),
    # runtime revisions
    Unserved("POST", f"{{name={ENGINE}/runtimeRevisions/*}}:query", "Query", _REVISIONS),
    Unserved("POST", f"{{name={ENGINE}/runtimeRevisions/*}}:streamQuery", "StreamQuery", _REVISIONS),
    Unserved("GET", f"{{name={ENGINE}/runtimeRevisions/*}}", "GetReasoningEngineRuntimeRevision", _REVISIONS),
    Unserved(
        "DELETE", f"{{name={ENGINE}/runtimeRevisions/*}}", "DeleteReasoningEngineRuntimeRevision", _REVISIONS
    ),
    Unserved(
        "GET", f"{{parent={ENGINE}}}/runtimeRevisions", "ListReasoningEngineRuntimeRevisions", _REVISIONS
    ),
    # Memory Bank
    Unserved("POST", f"{{parent={ENGINE}}}/memories", "CreateMemory", _MEMORIES),
    Unserved("GET", f"{{parent={ENGINE}}}/memories", "ListMemories", _MEMORIES),
    Unserved("GET", f"{{name={ENGINE}/memories/*}}", "GetMemory", _MEMORIES),
    Unserved("PATCH", f"{{memory.name={ENGINE}/memories/*}}", "UpdateMemory", _MEMORIES),
    Unserved("DELETE", f"{{name={ENGINE}/memories/*}}", "DeleteMemory", _MEMORIES),
    Unserved("POST", f"{{parent={ENGINE}}}/memories:generate", "GenerateMemories", _MEMORIES),
    Unserved("POST", f"{{parent={ENGINE}}}/memories:retrieve", "RetrieveMemories", _MEMORIES),
    # long-running operations of engines and what they hold
    *_operations(ENGINE, get=False),
    *_operations(f"{ENGINE}/sessions/*", get=False),
    *(
        op
        for child in ("memories/*", "runtimeRevisions/*")
        for op in _operations(f"{ENGINE}/{child}", get=True)
    ),
    # Gemini on publisher models: the rest of the prediction and LLM utility services
    Unserved("POST", f"{{endpoint={MODEL}}}:computeTokens", "ComputeTokens", _MODELS),
    Unserved("POST", f"{{model={MODEL}}}:embedContent", "EmbedContent", _MODELS),
    Unserved("POST", f"{{endpoint={MODEL}}}:predict", "Predict", _MODELS),
    Unserved("POST", f"{{endpoint={MODEL}}}:predictLongRunning", "PredictLongRunning", _MODELS),
    Unserved("POST", f"{{endpoint={MODEL}}}:fetchPredictOperation", "FetchPredictOperation", _MODELS),
    # ... and on deployed or tuned model endpoints
    Unserved("POST", f"{{model={ENDPOINT}}}:generateContent", "GenerateContent", _ENDPOINTS),
    Unserved("POST", f"{{model={ENDPOINT}}}:streamGenerateContent", "StreamGenerateContent", _ENDPOINTS),
    Unserved("POST", f"{{endpoint={ENDPOINT}}}:countTokens", "CountTokens", _ENDPOINTS),
    Unserved("POST", f"{{endpoint={ENDPOINT}}}:computeTokens", "ComputeTokens", _ENDPOINTS),
    Unserved("POST", f"{{endpoint={ENDPOINT}}}:predict", "Predict", _ENDPOINTS),
    # tuned models and context caches (google-genai's models.update / delete, caches)
    Unserved("GET", f"{{name={LOCATION}/models/*}}", "GetModel", _MODELS),
    Unserved("GET", f"{{parent={LOCATION}}}/models", "ListModels", _MODELS),
    Unserved("PATCH", f"{{model.name={LOCATION}/models/*}}", "UpdateModel", _MODELS),
    Unserved("DELETE", f"{{name={LOCATION}/models/*}}", "DeleteModel", _MODELS),
    Unserved("POST", f"{{parent={LOCATION}}}/cachedContents", "CreateCachedContent", _CACHES),
    Unserved("GET", f"{{parent={LOCATION}}}/cachedContents", "ListCachedContents", _CACHES),
    Unserved("GET", f"{{name={LOCATION}/cachedContents/*}}", "GetCachedContent", _CACHES),
    Unserved("PATCH", f"{{cached_content.name={LOCATION}/cachedContents/*}}", "UpdateCachedContent", _CACHES),
    Unserved("DELETE", f"{{name={LOCATION}/cachedContents/*}}", "DeleteCachedContent", _CACHES),
)

# not under a project by design (the Model Garden's catalogue): google-genai's models.get and list
CATALOGUE: tuple[Unserved, ...] = (
    Unserved("GET", "{name=publishers/*/models/*}", "GetPublisherModel", _MODELS),
    Unserved("GET", "{parent=publishers/*}/models", "ListPublisherModels", _MODELS),
)

_EXPRESS = (
    "express mode (an API key and no project in the path) is not emulated:"
    " use projects/{project}/locations/{location}/..."
)


def _express(method: str, template: str, operation: str) -> Unserved | None:
    for scope in (ENGINE, MODEL, ENDPOINT, LOCATION):
        if scope in template:
            short = {ENGINE: "reasoningEngines/*", MODEL: "publishers/*/models/*", ENDPOINT: "endpoints/*"}
            if scope == LOCATION:  # reasoningEngines (create, list); caches and models stay project-only
                if not template.endswith("}/reasoningEngines"):
                    return None
                return Unserved(method, "reasoningEngines", operation, _EXPRESS)
            return Unserved(method, template.replace(scope, short[scope]), operation, _EXPRESS)
    return None


EXPRESS: tuple[Unserved, ...] = tuple(
    found
    for method, template, operation in (
        *SERVED,
        *((u.method, u.template, u.operation) for u in PROJECT_UNSERVED),
    )
    if (found := _express(method, template, operation)) is not None
)

UNSERVED: tuple[Unserved, ...] = (*PROJECT_UNSERVED, *CATALOGUE, *EXPRESS)
