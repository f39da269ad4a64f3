"""genai-prices' offline snapshot: the base layer of the catalog, imported only when a price is needed."""

from __future__ import annotations

import functools
from typing import Any


def snapshot() -> Any:
    """The snapshot genai-prices ships (it caches it itself; podium never updates it at run time)."""
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


def genai_version() -> str:
    """genai-prices' version, named in every price it supplies (`genai-prices 0.2.3`).

    Read from its distribution's metadata, as genai-prices sets its own `__version__`: importing
    the package (httpx and its price-update machinery) is left to a lookup that needs its data.
    """
    return _version("genai-prices")


@functools.cache
def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def genai_provider_ids() -> tuple[str, ...]:
    """The provider ids of genai-prices' snapshot (aws, google, azure, openai, anthropic, …)."""
    return tuple(p.id for p in snapshot().providers)
