"""Registers the azure provider; kept tiny so loading plugins imports no Azure or openai SDK."""

from __future__ import annotations

from collections.abc import Callable

from podium.plugins import hookimpl
from podium.plugins.manager import ProviderRef


@hookimpl
def podium_register_providers(register: Callable[[ProviderRef], None]) -> None:
    # by reference: its module is imported when a step, a check or a listing first uses it
    register(ProviderRef("azure", "podium.providers.azure.provider:AzureProvider"))
