"""Registers the A2A provider: a pluggy plugin like any other, loaded from podium's built-in list."""

from __future__ import annotations

from collections.abc import Callable

from podium.plugins import hookimpl


@hookimpl
def podium_register_providers(register: Callable[[type], None]) -> None:
    """Register `a2a`. Loading this module imports no a2a-sdk: the provider imports it per call."""
    from podium.providers.a2a.provider import A2AProvider

    register(A2AProvider)
