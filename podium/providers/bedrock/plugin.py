"""Registers the bedrock provider and its commands; kept tiny so loading plugins imports no boto3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from podium.plugins import hookimpl


@hookimpl
def podium_register_providers(register: Callable[[type], None]) -> None:
    from podium.providers.bedrock.provider import BedrockProvider

    register(BedrockProvider)


@hookimpl
def podium_register_commands(cli: Any) -> None:
    from podium.providers.bedrock.commands import add_commands

    add_commands(cli)
