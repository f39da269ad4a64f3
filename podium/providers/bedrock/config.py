"""Bedrock's settings: `providers.bedrock:` in a workflow, and the options of `podium emulate bedrock`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from podium.core.calls import EmulatorOptions, ProviderConfig

# an AWS region's form (us-east-1, eu-central-2, us-gov-west-1, cn-north-1): a name of another form
# has no endpoint, and a run would only retry "cannot reach Bedrock" until it failed
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$")


class BedrockConfig(ProviderConfig):
    """Settings under `providers.bedrock:`."""

    region: str | None = Field(
        None,
        description="AWS region, like us-east-1 or eu-central-1 (else AWS_REGION or the profile's).",
    )
    profile: str | None = Field(None, description="A profile from ~/.aws/config (else AWS_PROFILE).")
    endpoint_url: str | None = Field(
        None, description="Another endpoint for all Bedrock services (an emulator)."
    )
    aws_access_key_id: str | None = Field(
        None,
        description="Only for emulators and tests (dummy values); real keys belong in a profile"
        " or the environment.",
    )
    aws_secret_access_key: str | None = Field(None, description="Only for emulators and tests, as above.")
    max_attempts: int = Field(
        1,
        ge=1,
        le=20,
        description="Attempts botocore makes per call, the first included. podium's own retry policy"
        " (visible in the run's events, honouring fallback) retries beyond it.",
    )
    retry_mode: Literal["standard", "adaptive", "legacy"] = Field(
        "standard", description="botocore's retry mode for the SDK's own retries."
    )
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to open a connection.")
    read_timeout: float = Field(300.0, gt=0, description="Seconds of silence before a call times out.")
    max_connections: int = Field(64, ge=1, description="Connections (and threads) per Bedrock service.")
    transport: Literal["threads", "loop"] = Field(
        "loop",
        description="How a Converse or InvokeAgent call of an agent without tools is made: 'loop' (botocore's"
        " own request, signed and parsed as boto3 does, sent on the event loop: no thread hop) or"
        " 'threads' (boto3 itself, in a worker thread). Calls 'loop' cannot serve (tools, max_attempts"
        " above 1, a proxy, a Bedrock API key, AgentCore runtimes) use boto3 in threads either way"
        " (bench/findings.md, 7c and 7d).",
    )
    agent_role_arn: str | None = Field(
        None, description="podium deploy: the IAM role the managed agents run as."
    )
    alias_name: str = Field("podium", description="podium deploy: the alias it creates and moves.")
    idle_session_ttl: int = Field(600, ge=60, le=3600, description="podium deploy: agents' session TTL.")

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not REGION.match(value):
            raise ValueError(
                f"{value!r} is not an AWS region name: use one like us-east-1, eu-central-1 or"
                " ap-southeast-2 (a region that serves Bedrock)"
            )
        return value


class BedrockEmulatorOptions(EmulatorOptions):
    """`podium emulate bedrock` options beyond the port."""

    region: str = Field("us-east-1", description="The AWS region the emulator answers as.")
