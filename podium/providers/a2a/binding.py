"""What an agent's `a2a:` section says (where the agent is, which transport, which credentials) and
the provider's settings under `providers.a2a:`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from podium.core.calls import EmulatorOptions, ProviderConfig

TRANSPORTS = {"jsonrpc": "JSONRPC", "rest": "HTTP+JSON", "grpc": "GRPC"}
# protocol versions podium speaks (the a2a-sdk's current one, and the one before, which it bridges)
PROTOCOL_VERSIONS = ("1.0", "0.3")


class A2AAuth(BaseModel):
    """How podium authenticates to the agent: a bearer token, or a cloud's own credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bearer", "sigv4", "google", "entra"] = Field(
        description="bearer (a static token), sigv4 (AWS, e.g. AgentCore), google (ADC, Agent Engine),"
        " entra (Azure, Foundry)."
    )
    token_env: str | None = Field(
        None, description="bearer: the environment variable holding the token (never the token itself)."
    )
    region: str | None = Field(None, description="sigv4: the AWS region the agent runs in.")
    service: str = Field("bedrock-agentcore", description="sigv4: the service name signed for.")
    scope: str | None = Field(
        None, description="google or entra: the OAuth scope asked for (each cloud's default when omitted)."
    )


class A2ABinding(BaseModel):
    """An agent's `a2a:` section: `{url: https://agent.example/…, transport: jsonrpc, auth: {…}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        description="The agent's base URL (its card is at /.well-known/agent-card.json) or its card's URL."
    )
    transport: Literal["jsonrpc", "rest", "grpc"] | None = Field(
        None, description="The transport to use; the card's preferred one that podium speaks when omitted."
    )
    auth: A2AAuth | None = Field(None, description="Credentials; none when the agent needs none.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the agent's URL must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _auth_for_this_host(self) -> A2ABinding:
        why = auth_mismatch(self)
        if why:
            raise ValueError(why)
        if self.auth is not None and self.auth.type == "bearer" and not self.auth.token_env:
            raise ValueError("a bearer auth needs token_env: the environment variable holding the token")
        return self


class A2AConfig(ProviderConfig):
    """Settings under `providers.a2a:`."""

    read_timeout: float = Field(300.0, gt=0, description="Seconds a request may wait for the agent's answer.")
    poll_interval: float = Field(
        0.5, gt=0, description="Seconds between tasks/get while a task the agent took on is still working."
    )
    endpoint_url: str | None = Field(
        None,
        description="Send every agent's calls to <endpoint_url>/agents/<agent> instead of its binding's"
        " url, with no credentials: podium's A2A emulator (`podium run --emulate` sets it).",
    )


# each cloud's hosts, to refuse one cloud's credentials sent to another's agent
_CLOUD_HOSTS = {
    "sigv4": ("amazonaws.com", "AWS"),
    "google": ("googleapis.com", "Google Cloud"),
    "entra": ("azure.com", "Azure"),
}


def auth_mismatch(binding: A2ABinding) -> str | None:
    """Why `binding.auth` cannot be meant for `binding.url` (one cloud's credentials, another's host)."""
    if binding.auth is None or binding.auth.type == "bearer":
        return None
    from urllib.parse import urlsplit

    host = (urlsplit(binding.url).hostname or "").lower()
    cloud = _CLOUD_HOSTS[binding.auth.type][1]
    for kind, (suffix, other) in _CLOUD_HOSTS.items():
        if kind != binding.auth.type and (host == suffix or host.endswith("." + suffix)):
            return (
                f"auth type {binding.auth.type} is {cloud}'s, but {host} is an {other} host"
                f" (use {kind} for it, or bearer)"
            )
    return None


class A2AEmulatorOptions(EmulatorOptions):
    """`podium emulate a2a` takes no options beyond the port."""
