"""Registers the A2A provider: a pluggy plugin like any other, loaded from podium's built-in list."""

from __future__ import annotations

from collections.abc import Callable

from podium.plugins import hookimpl
from podium.plugins.manager import ProviderRef


@hookimpl
def podium_register_providers(register: Callable[[ProviderRef], None]) -> None:
    """Register `a2a`. Loading this module imports no a2a-sdk: the provider imports it per call."""
    # by reference: its module is imported when a step, a check or a listing first uses it
    register(ProviderRef("a2a", "podium.providers.a2a.provider:A2AProvider"))
