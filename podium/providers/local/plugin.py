"""Registers the local provider; kept tiny so loading plugins imports nothing heavy."""

from __future__ import annotations

from collections.abc import Callable

from podium.plugins import hookimpl


@hookimpl
def podium_register_providers(register: Callable[[type], None]) -> None:
    from podium.providers.local.provider import LocalProvider

    register(LocalProvider)
