"""genai-prices' offline snapshot: the base layer of the catalog, imported only when a price is needed."""

from __future__ import annotations

from typing import Any


def snapshot() -> Any:
    """The snapshot genai-prices ships (it caches it itself; podium never updates it at run time)."""
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


def genai_version() -> str:
    """genai-prices' version, named in every price it supplies (`genai-prices 0.2.3`)."""
    import genai_prices

    return str(genai_prices.__version__)


def genai_provider_ids() -> tuple[str, ...]:
    """The provider ids of genai-prices' snapshot (aws, google, azure, openai, anthropic, …)."""
    return tuple(p.id for p in snapshot().providers)
