"""Registers the azure provider; kept tiny so loading plugins imports no Azure or openai SDK."""

from __future__ import annotations

from collections.abc import Callable

from podium.plugins import hookimpl


@hookimpl
def podium_register_providers(register: Callable[[type], None]) -> None:
    from podium.providers.azure.provider import AzureProvider

    register(AzureProvider)
