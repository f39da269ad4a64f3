"""What `podium prices` lists: every price and fee that applies, and where each came from.

Price-file entries are listed with every date range they have; genai-prices' prices are listed as
in effect at the date asked for, or with their whole history when a model is named.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from podium.core.errors import BadInput
from podium.cost.catalog.checks import suggest
from podium.cost.catalog.genai import genai_version, snapshot
from podium.cost.catalog.rates import Listing, as_datetime, model_key
from podium.cost.pricefile import TOKEN_PRICES, where

if TYPE_CHECKING:
    from podium.cost.catalog.lookup import PriceCatalog


def price_listing(
    catalog: PriceCatalog, provider: str | None = None, model: str | None = None, at: datetime | None = None
) -> list[Listing]:
    """What applies, and where it came from: price-file entries (every date) and genai prices."""
    at = as_datetime(at or datetime.now(UTC))
    if provider is not None and provider not in catalog.known_providers():
        raise BadInput(
            f"unknown provider '{provider}'{suggest(provider, catalog.known_providers())}",
            fix="name a podium provider (bedrock, vertex, azure, local) or a genai-prices id",
        )
    names = catalog.own_names(provider) if provider else None
    mapped = catalog.providers.get(provider) if provider else None
    if mapped is not None:
        genai_ids: Sequence[str] = [mapped]
    elif provider in catalog.genai_ids:
        genai_ids = [str(provider)]
    else:  # all providers, or local: its models are found under their native providers
        genai_ids = catalog.genai_ids if model else []
    wanted = model_key(model) if model else None
    rows: list[Listing] = []
    seen: set[tuple[str, str, date]] = set()
    for (prov, key), entries in catalog.model_entries.items():
        if names is not None and prov not in names:
            continue
        if wanted is not None and wanted not in key:
            continue
        for entry, source, loc in entries:
            mark = (prov, entry.model, entry.effective_from)
            if mark in seen:
                continue
            seen.add(mark)
            rows.append(
                Listing(
                    provider=prov, model=entry.model, kind="tokens", origin=source.origin,
                    source=f"{entry.source} ({where(source, loc)})",
                    input_mtok=entry.input_mtok, output_mtok=entry.output_mtok,
                    cache_read_mtok=entry.cache_read_mtok, cache_write_mtok=entry.cache_write_mtok,
                    effective_from=entry.effective_from, effective_to=entry.effective_to,
                    note=f"same as {entry.same_as}" if entry.same_as else entry.note,
                )
            )  # fmt: skip
    for (prov, _name, pattern), fees in catalog.fee_entries.items():
        if names is not None and prov not in names:
            continue
        if wanted is not None and not fnmatch.fnmatchcase(wanted, pattern.lower()):
            continue
        for fee, source, loc in fees:
            rows.append(
                Listing(
                    provider=prov, model=pattern, kind="fee", origin=source.origin,
                    source=f"{fee.source} ({where(source, loc)})",
                    request_usd=fee.usd if fee.per == "request" else None,
                    session_usd=fee.usd if fee.per == "session" else None,
                    effective_from=fee.effective_from, effective_to=fee.effective_to,
                    note=fee.name + (f" ({fee.service} calls)" if fee.service else "")
                    + (f": {fee.note}" if fee.note else ""),
                )
            )  # fmt: skip
    rows.extend(_genai_listing(genai_ids, wanted, at, provider if mapped else None))
    return rows


def _genai_listing(
    pids: Iterable[str], wanted: str | None, at: datetime, shown_as: str | None
) -> Iterator[Listing]:
    data = snapshot()
    for pid in dict.fromkeys(pids):
        found = next((p for p in data.providers if p.id == pid), None)
        if found is None:
            continue
        for info in found.models:
            if wanted is not None and wanted not in info.id.lower() and not info.is_match(wanted):
                continue
            history = info.prices if isinstance(info.prices, list) else [None]
            for conditional in history:
                price = info.prices if conditional is None else conditional.prices
                constraint = getattr(conditional, "constraint", None)
                since = getattr(constraint, "start_date", None)
                # without --model, only the price in effect at `at`; with it, the history too
                if wanted is None and conditional is not None and price is not info.get_prices(at):
                    continue
                values = {k: getattr(price, k, None) for k in TOKEN_PRICES}
                tiered = any(not isinstance(v, Decimal | None) for v in values.values())
                base = {k: (v if isinstance(v, Decimal | None) else v.base) for k, v in values.items()}
                per_request = getattr(price, "requests_kcount", None)
                note = "tiered above a prompt size" if tiered else None
                if constraint is not None and since is None:
                    note = "time-of-day price"
                yield Listing(
                    provider=shown_as or pid, model=info.id, kind="tokens",
                    origin=f"genai-prices {genai_version()}",
                    source=(found.pricing_urls or [found.name])[0],
                    request_usd=per_request / 1000 if isinstance(per_request, Decimal) else None,
                    effective_from=since, note=note, **base,
                )  # fmt: skip
