"""Registers the vertex provider; kept tiny so loading plugins imports no Google SDK."""

from __future__ import annotations

from collections.abc import Callable

from podium.plugins import hookimpl


@hookimpl
def podium_register_providers(register: Callable[[type], None]) -> None:
    from podium.providers.vertex.provider import VertexProvider

    register(VertexProvider)
