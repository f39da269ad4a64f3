"""Registers the bedrock provider; kept tiny so loading plugins imports no boto3."""

from __future__ import annotations

from collections.abc import Callable

from podium.plugins import hookimpl


@hookimpl
def podium_register_providers(register: Callable[[type], None]) -> None:
    from podium.providers.bedrock.provider import BedrockProvider

    register(BedrockProvider)
