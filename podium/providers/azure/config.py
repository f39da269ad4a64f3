"""Azure's settings: `providers.azure:` in a workflow, and the options of `podium emulate azure`."""

from __future__ import annotations

from pydantic import Field

from podium.core.calls import EmulatorOptions, ProviderConfig


class AzureConfig(ProviderConfig):
    """Settings under `providers.azure:`."""

    endpoint: str | None = Field(
        None,
        description="The Foundry project endpoint, https://<resource>.services.ai.azure.com/api/projects/"
        "<project> (else AZURE_AI_PROJECT_ENDPOINT).",
    )
    api_version: str = Field("v1", description="The project REST API's version (agents, deploy).")
    token: str | None = Field(
        None,
        description="Only for emulators and tests: a fixed bearer token instead of the Azure credential"
        " chain (az login, environment, managed identity).",
    )
    ca_file: str | None = Field(
        None,
        description="A CA certificate to trust for this endpoint only (an emulator's); real endpoints"
        " use the system's trust store.",
    )
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to open a connection.")
    read_timeout: float = Field(300.0, gt=0, description="Seconds of silence before a call times out.")
    max_connections: int = Field(64, ge=1, description="Connections (and threads) for Azure calls.")
    conversations_file: str | None = Field(
        None,
        description="Where podium remembers each run step's Foundry conversation, so a resumed run"
        " continues it (default: .podium/azure-conversations.json next to the workflow).",
    )


class AzureEmulatorOptions(EmulatorOptions):
    """`podium emulate azure` options beyond the port."""

    project: str = Field("podium", description="The Foundry project the emulator answers as.")
