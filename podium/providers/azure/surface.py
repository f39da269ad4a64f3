"""The Foundry operations the Azure emulator knows and does not serve, each answered 501 by name.

The surface is what the emulator claims: azure-ai-projects' ``agents`` operations (the project's
REST API, ``?api-version=v1``) and the OpenAI ``responses`` and ``conversations`` resources of the
client ``get_openai_client()`` returns (``/openai/v1/…``). Templates are relative to the project
endpoint (``/api/projects/{project}``); a test compares this table with the installed SDKs'.
"""

from __future__ import annotations

from podium.providers._kit.unserved import Unserved

PROJECT_PREFIX = r"/api/projects/[^/]+"

# azure-ai-projects `agents.<method>` -> (HTTP method, path template, the emulator's operation name)
AGENT_OPERATIONS: dict[str, tuple[str, str, str]] = {
    "get": ("GET", "/agents/{agent_name}", "GetAgent"),
    "delete": ("DELETE", "/agents/{agent_name}", "DeleteAgent"),
    "list": ("GET", "/agents", "ListAgents"),
    "create_version": ("POST", "/agents/{agent_name}/versions", "CreateAgentVersion"),
    "create_version_from_manifest": (
        "POST", "/agents/{agent_name}/versions:import", "CreateAgentVersionFromManifest",
    ),
    "get_version": ("GET", "/agents/{agent_name}/versions/{agent_version}", "GetAgentVersion"),
    "delete_version": ("DELETE", "/agents/{agent_name}/versions/{agent_version}", "DeleteAgentVersion"),
    "list_versions": ("GET", "/agents/{agent_name}/versions", "ListAgentVersions"),
    "update_details": ("PATCH", "/agents/{agent_name}", "UpdateAgentDetails"),
    # the same path as create_version: told apart by its x-ms-code-zip-sha256 header (see routes)
    "create_version_from_code": ("POST", "/agents/{agent_name}/versions", "CreateAgentVersionFromCode"),
    "download_code": ("GET", "/agents/{agent_name}/code:download", "DownloadAgentCode"),
    "enable": ("POST", "/agents/{agent_name}:enable", "EnableAgent"),
    "disable": ("POST", "/agents/{agent_name}:disable", "DisableAgent"),
    "create_session": ("POST", "/agents/{agent_name}/endpoint/sessions", "CreateAgentSession"),
    "get_session": ("GET", "/agents/{agent_name}/endpoint/sessions/{session_id}", "GetAgentSession"),
    "delete_session": ("DELETE", "/agents/{agent_name}/endpoint/sessions/{session_id}", "DeleteAgentSession"),
    "stop_session": ("POST", "/agents/{agent_name}/endpoint/sessions/{session_id}:stop", "StopAgentSession"),
    "list_sessions": ("GET", "/agents/{agent_name}/endpoint/sessions", "ListAgentSessions"),
    "get_session_log_stream": (
        "GET",
        "/agents/{agent_name}/versions/{agent_version}/sessions/{session_id}:logstream",
        "GetAgentSessionLogStream",
    ),
    "create_optimization_job": ("POST", "/agent_optimization_jobs", "CreateOptimizationJob"),
    "estimate_optimization_job": ("POST", "/agent_optimization_jobs:estimate", "EstimateOptimizationJob"),
    "get_optimization_job": ("GET", "/agent_optimization_jobs/{job_id}", "GetOptimizationJob"),
    "list_optimization_jobs": ("GET", "/agent_optimization_jobs", "ListOptimizationJobs"),
    "cancel_optimization_job": ("POST", "/agent_optimization_jobs/{job_id}:cancel", "CancelOptimizationJob"),
    "delete_optimization_job": ("DELETE", "/agent_optimization_jobs/{job_id}", "DeleteOptimizationJob"),
    "list_optimization_candidates": (
        "GET", "/agent_optimization_jobs/{job_id}/candidates", "ListOptimizationCandidates",
    ),
    "get_optimization_candidate": (
        "GET", "/agent_optimization_jobs/{job_id}/candidates/{candidate_id}", "GetOptimizationCandidate",
    ),
    "promote_optimization_candidate": (
        "POST",
        "/agent_optimization_jobs/{job_id}/candidates/{candidate_id}:promote",
        "PromoteOptimizationCandidate",
    ),
    "publish_to_microsoft365": ("POST", "/agents/{agent_name}/microsoft365/publish", "PublishToMicrosoft365"),
    "get_microsoft365_package": ("POST", "/agents/{agent_name}/microsoft365/zip", "GetMicrosoft365Package"),
    "get_microsoft365_publish_defaults": (
        "GET", "/agents/{agent_name}/microsoft365/publishdefaults", "GetMicrosoft365PublishDefaults",
    ),
    "upload_session_file": (
        "PUT", "/agents/{agent_name}/endpoint/sessions/{session_id}/files/content", "UploadSessionFile",
    ),
    "download_session_file": (
        "GET", "/agents/{agent_name}/endpoint/sessions/{session_id}/files/content", "DownloadSessionFile",
    ),
    "list_session_files": (
        "GET", "/agents/{agent_name}/endpoint/sessions/{session_id}/files", "ListSessionFiles",
    ),
    "delete_session_file": (
        "DELETE", "/agents/{agent_name}/endpoint/sessions/{session_id}/files", "DeleteSessionFile",
    ),
}  # fmt: skip

# the openai client's `responses` and `conversations` resources -> (method, path, operation)
OPENAI_OPERATIONS: dict[str, tuple[str, str, str]] = {
    "responses.create": ("POST", "/openai/v1/responses", "CreateResponse"),
    "responses.retrieve": ("GET", "/openai/v1/responses/{response_id}", "GetResponse"),
    "responses.delete": ("DELETE", "/openai/v1/responses/{response_id}", "DeleteResponse"),
    "responses.cancel": ("POST", "/openai/v1/responses/{response_id}/cancel", "CancelResponse"),
    "responses.compact": ("POST", "/openai/v1/responses/compact", "CompactResponse"),
    "responses.input_items.list": ("GET", "/openai/v1/responses/{response_id}/input_items", "ListInputItems"),
    "responses.input_tokens.count": ("POST", "/openai/v1/responses/input_tokens", "CountInputTokens"),
    "conversations.create": ("POST", "/openai/v1/conversations", "CreateConversation"),
    "conversations.retrieve": ("GET", "/openai/v1/conversations/{conversation_id}", "GetConversation"),
    "conversations.update": ("POST", "/openai/v1/conversations/{conversation_id}", "UpdateConversation"),
    "conversations.delete": ("DELETE", "/openai/v1/conversations/{conversation_id}", "DeleteConversation"),
    "conversations.items.create": (
        "POST", "/openai/v1/conversations/{conversation_id}/items", "CreateConversationItems",
    ),
    "conversations.items.retrieve": (
        "GET", "/openai/v1/conversations/{conversation_id}/items/{item_id}", "GetConversationItem",
    ),
    "conversations.items.list": (
        "GET", "/openai/v1/conversations/{conversation_id}/items", "ListConversationItems",
    ),
    "conversations.items.delete": (
        "DELETE", "/openai/v1/conversations/{conversation_id}/items/{item_id}", "DeleteConversationItem",
    ),
}  # fmt: skip

SERVED = frozenset(
    {
        "GetAgent", "DeleteAgent", "ListAgents", "CreateAgentVersion", "GetAgentVersion",
        "DeleteAgentVersion", "ListAgentVersions",
        "CreateResponse", "GetResponse", "DeleteResponse", "ListInputItems",
        "CreateConversation", "GetConversation", "UpdateConversation", "DeleteConversation",
        "CreateConversationItems", "GetConversationItem", "ListConversationItems", "DeleteConversationItem",
    }
)  # fmt: skip

_WHY = {
    "CreateAgentVersionFromManifest": "create the version from its definition with agents.create_version",
    "CreateAgentVersionFromCode": "hosted (code) agents are not emulated: create a prompt agent",
    "CancelResponse": "the emulator answers every response at once: there is nothing in progress to cancel",
}


def _note(operation: str, sdk_method: str) -> str:
    return f"{sdk_method}; " + _WHY.get(operation, "not emulated") if operation in _WHY else sdk_method


UNSERVED: tuple[Unserved, ...] = tuple(
    Unserved(method, template, operation, _note(operation, sdk_method))
    for sdk_method, (method, template, operation) in (
        *((f"agents.{name}", spec) for name, spec in AGENT_OPERATIONS.items()),
        *OPENAI_OPERATIONS.items(),
    )
    if operation not in SERVED and operation != "CreateAgentVersionFromCode"
)
