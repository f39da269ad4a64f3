"""Vertex's settings: `providers.vertex:` in a workflow, and the options of `podium emulate vertex`."""

from __future__ import annotations

from pydantic import Field

from podium.core.calls import EmulatorOptions, ProviderConfig


class VertexConfig(ProviderConfig):
    """Settings under `providers.vertex:`."""

    project: str | None = Field(
        None, description="Google Cloud project id (else GOOGLE_CLOUD_PROJECT or the ADC's project)."
    )
    location: str = Field(
        "us-central1", description="Region of the Agent Engines and the Gemini endpoint (else us-central1)."
    )
    endpoint_url: str | None = Field(
        None, description="Another base URL for Vertex AI (an emulator); else the region's own."
    )
    api_version: str = Field("v1beta1", description="The Vertex AI REST version the SDKs call.")
    access_token: str | None = Field(
        None,
        description="Only for emulators and tests (a dummy token); real credentials come from"
        " Application Default Credentials (gcloud auth application-default login, or"
        " GOOGLE_APPLICATION_CREDENTIALS).",
    )
    read_timeout: float = Field(300.0, gt=0, description="Seconds a call may take before it times out.")
    max_connections: int = Field(32, ge=1, description="Calls (and threads) in flight to Vertex at once.")
    max_tool_rounds: int | None = Field(
        None,
        ge=1,
        le=50,
        description="Overrides defaults.max_tool_rounds (and the step's) for Gemini; prefer those.",
    )


class VertexEmulatorOptions(EmulatorOptions):
    """`podium emulate vertex` options beyond the port."""

    project: str = Field("podium-emulator", description="The Google Cloud project the emulator answers as.")
    location: str = Field("us-central1", description="The region the emulator answers as.")
