"""Price lookup: the PriceCatalog resolves a call's provider, model and date to a Rate (or Unpriced).

Three layers, the later winning: the snapshot genai-prices ships (never updated at run time), podium's
`prices.yaml` (cloud model ids the snapshot lacks, agent-service fees, the provider map and the
`--as-provider` equivalents), then the user's price files (`--prices FILE`, `podium.toml [prices]`).

How a call on podium provider P with model M finds its price, on the date of the call:
  1. M is normalised: lower case, anything up to the last `/` dropped (ARNs, resource names), and for
     Bedrock a cross-region prefix (`us.`, `eu.`, `global.`, …) is tried both with and without.
  2. P's *homes* are tried in order. A cloud has one: bedrock → genai-prices' `aws`, vertex → `google`,
     azure → `azure` (the `providers:` map). `local` has none of its own, so a local model is priced as
     its native provider: the one genai-prices recognises from the id (gpt-… → openai, claude-… →
     anthropic, gemini-… → google), then aws, google and azure in turn (so `amazon.nova-micro-v1:0`
     prices as Bedrock). That is why `providers.local.models: {fast: gpt-4o-mini}` makes the demo's
     logical `fast` model cost what gpt-4o-mini costs.
  3. In each home, a price-file entry (user, then overlay) for that model in effect on the date wins;
     otherwise genai-prices' price for the date. Fees (per request or per session) matching the
     provider, model and date are added on top.
A model found nowhere is *unpriced*: the ledger keeps its tokens and flags it, never prices it at $0.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from podium.cost.catalog.checks import catalog_problems
from podium.cost.catalog.genai import genai_provider_ids, genai_version, snapshot
from podium.cost.catalog.rates import Fee, Quote, Rate, Unpriced, as_datetime, model_key
from podium.cost.pricefile import (
    TOKEN_PRICES,
    Dated,
    EquivalentGroup,
    FeeEntry,
    Loc,
    ModelPriceEntry,
    PriceFileError,
    PriceSource,
    where,
)

if TYPE_CHECKING:
    from podium.cost.catalog.equivalents import Equivalents
    from podium.cost.catalog.rates import Equivalent, Listing

# podium's own provider names: always known, even before their plugins are installed
PODIUM_PROVIDERS = ("bedrock", "vertex", "azure", "local")
NATIVE_FALLBACK = ("aws", "google", "azure")  # where a local model's id is looked for when unrecognised
_GEO_PREFIX = re.compile(r"^(?:us|eu|apac|global|jp|au|ca|us-gov|regional)\.")


def _in_effect(entry: Dated, day: date) -> bool:
    return entry.effective_from <= day and (entry.effective_to is None or day < entry.effective_to)


def fingerprint(layers: Sequence[tuple[str, str]]) -> str:
    """What the ledger stamps on a run's rows: genai-prices' version and each layer's file and digest.

    A function of its own so that a catalog not loaded yet (`loading.DeferredCatalog`) has the
    same fingerprint as the one it becomes.
    """
    text = "|".join([genai_version(), *(file + ":" + digest for file, digest in layers)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Home:
    """A place a provider's models are priced: price-file names, and a genai-prices provider id."""

    names: tuple[str, ...]
    genai: str | None


class PriceCatalog:
    """Prices by (provider, model, date) from genai-prices, podium's overlay and user files.

    Build one with `load_catalog()`. Lookups are cached; a catalog is immutable once built.
    """

    def __init__(self, sources: Sequence[PriceSource]) -> None:
        self.sources = list(sources)  # overlay first, then user files; the later wins
        self.providers: dict[str, str | None] = {}
        self.fee_entries: dict[tuple[str, str, str], list[tuple[FeeEntry, PriceSource, Loc]]] = {}
        self.equivalents: list[EquivalentGroup] = []
        for source in self.sources:
            self.providers.update(source.content.providers)
        models: dict[tuple[str, str], list[tuple[ModelPriceEntry, PriceSource, Loc]]] = {}
        for source in self.sources:
            layer: dict[tuple[str, str], list[tuple[ModelPriceEntry, PriceSource, Loc]]] = {}
            for i, entry in enumerate(source.content.models):
                for name in (entry.model, *entry.aliases):
                    layer.setdefault((entry.provider, model_key(name)), []).append(
                        (entry, source, ("models", i))
                    )
            models.update(layer)  # a later layer's entries for a model replace earlier ones
            fees: dict[tuple[str, str, str], list[tuple[FeeEntry, PriceSource, Loc]]] = {}
            for i, fee in enumerate(source.content.fees):
                fees.setdefault((fee.provider, fee.name, fee.model), []).append((fee, source, ("fees", i)))
            self.fee_entries.update(fees)
            self.equivalents = list(source.content.equivalents) + self.equivalents
        self.model_entries = models  # (provider, model id) -> its dated entries, from one layer
        self._cache: dict[tuple[str, str | None, datetime, str | None], Quote] = {}
        self._equivalents: Equivalents | None = None  # the what-if table, indexed on first use
        self.genai_ids = genai_provider_ids()
        self.fingerprint = fingerprint([(s.file, s.digest) for s in self.sources])
        if problems := catalog_problems(self):
            raise PriceFileError(problems)

    def known_providers(self) -> set[str]:
        return {*PODIUM_PROVIDERS, *self.providers, *self.genai_ids}

    # --- lookups ----------------------------------------------------------------------------------

    def homes(self, provider: str, model: str | None) -> list[_Home]:
        """Where `provider`'s models are priced, in the order tried (see the module docstring)."""
        genai = set(self.genai_ids)
        if provider in self.providers:
            target = self.providers[provider]
            if target is not None:
                return [_Home(tuple(dict.fromkeys((provider, target))), target)]
        elif provider in genai:
            return [_Home((provider,), provider)]
        # local (or a provider podium knows nothing of): the model's native provider
        homes = [_Home((provider,), None)]
        if model:
            try:
                native = snapshot().find_provider(model_key(model), None, None).id
                homes.append(_Home((native,), native))
            except LookupError:
                pass
        for pid in NATIVE_FALLBACK:
            names = tuple(dict.fromkeys([*(n for n, t in self.providers.items() if t == pid), pid]))
            homes.append(_Home(names, pid))
        return homes

    def rate(
        self, provider: str, model: str | None, at: datetime | date, *, service: str | None = None
    ) -> Quote:
        """The price of a call on `provider` with `model` at `at` (its request time), or why none."""
        when = as_datetime(at)
        key = (provider, model, when.replace(second=0, microsecond=0), service)
        quote = self._cache.get(key)
        if quote is None:
            found = self._base_rate(provider, model, when, 0)
            quote = self._with_fees(found, when.date(), service) if isinstance(found, Rate) else found
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = quote
        return quote

    def _base_rate(self, provider: str, model: str | None, at: datetime, depth: int) -> Rate | Unpriced:
        if not model:
            return Unpriced(provider, model, "the call reported no model")
        if depth > 4:
            return Unpriced(provider, model, f"same_as entries for '{model}' go round in a circle")
        day = at.date()
        later: list[date] = []
        for home in self.homes(provider, model):
            found = self._file_rate(provider, model, home, at, later, depth)
            if isinstance(found, Unpriced):
                return found
            if found is None and home.genai is not None:
                found = self._genai_rate(provider, model, home.genai, at)
            if found is not None:
                return found
        if later:
            return Unpriced(
                provider, model, f"no price for {model} on {provider} in effect on {day}"
                f" (prices start {min(later)})",
            )  # fmt: skip
        return Unpriced(
            provider, model,
            f"no price for model '{model}' on {provider} (neither genai-prices {genai_version()}"
            " nor podium's overlay knows it)",
        )  # fmt: skip

    def _file_rate(
        self, provider: str, model: str, home: _Home, at: datetime, later: list[date], depth: int
    ) -> Rate | Unpriced | None:
        key = model_key(model)
        day = at.date()
        for name in home.names:
            for variant in dict.fromkeys([key, _GEO_PREFIX.sub("", key)]):
                entries = self.model_entries.get((name, variant))
                if not entries:
                    continue
                for entry, source, loc in entries:
                    if not _in_effect(entry, day):
                        continue
                    if entry.same_as is None:
                        return _entry_rate(provider, model, entry, source, loc)
                    target = self._base_rate(provider, entry.same_as, at, depth + 1)
                    if isinstance(target, Unpriced):
                        return Unpriced(
                            provider, model, f"'{model}' is priced as {entry.same_as}, which is unpriced:"
                            f" {target.reason}",
                        )  # fmt: skip
                    return dataclasses.replace(target, model=model)
                later.extend(e.effective_from for e, _, _ in entries if e.effective_from > day)
        return None

    def _genai_rate(self, provider: str, model: str, pid: str, at: datetime) -> Rate | None:
        data = snapshot()
        try:
            found, info = data.find_provider_model(model_key(model), None, pid, None)
        except LookupError:
            return None
        price = info.get_prices(at)
        values = {k: getattr(price, k, None) for k in TOKEN_PRICES}
        tiered = any(not isinstance(v, Decimal | None) for v in values.values())
        base = {k: (v if isinstance(v, Decimal | None) else v.base) for k, v in values.items()}
        since = None
        if isinstance(info.prices, list):
            for conditional in reversed(info.prices):
                constraint = conditional.constraint
                if constraint is None or constraint.active(at):
                    since = getattr(constraint, "start_date", None)
                    break
        return Rate(
            provider=provider,
            model=model,
            catalog_provider=found.id,
            catalog_model=info.id,
            origin=f"genai-prices {genai_version()}",
            source=(found.pricing_urls or [found.name])[0],
            effective_from=since,
            tiered=tiered,
            model_price=price,
            **base,
        )

    def own_names(self, provider: str) -> set[str]:
        """The names a provider's own price entries and fees are filed under: bedrock and aws."""
        target = self.providers.get(provider)
        return {provider} if target is None else {provider, target}

    def _with_fees(self, rate: Rate, day: date, service: str | None) -> Rate:
        # fees are the service's own: a local model priced as its native provider pays none of theirs
        names = self.own_names(rate.provider)
        fees = []
        for (provider, _name, pattern), entries in self.fee_entries.items():
            if provider not in names or not (
                fnmatch.fnmatchcase(model_key(rate.model), pattern.lower())
                or fnmatch.fnmatchcase(rate.model, pattern)
            ):
                continue
            for fee, source, loc in entries:
                if _in_effect(fee, day) and (fee.service is None or fee.service == service):
                    fees.append(Fee(fee.name, fee.per, fee.usd, f"{fee.source} ({where(source, loc)})"))
        if not fees:
            return rate
        return dataclasses.replace(rate, fees=tuple(fees))

    # --- what-if: another provider's equivalent ---------------------------------------------------

    def identity(self, provider: str, model: str) -> tuple[str, str] | None:
        """(catalog provider, catalog model) a call is priced as today, for matching equivalents."""
        quote = self.rate(provider, model, datetime.now(UTC))
        return (quote.catalog_provider, quote.catalog_model) if isinstance(quote, Rate) else None

    def equivalent(self, provider: str, model: str, target: str) -> Equivalent | None:
        """`model` on `provider` as `target` names it, from the equivalents table; None if absent."""
        if self._equivalents is None:
            from podium.cost.catalog.equivalents import Equivalents

            self._equivalents = Equivalents(self)
        return self._equivalents.find(provider, model, target)

    # --- podium prices ----------------------------------------------------------------------------

    def listing(
        self, provider: str | None = None, model: str | None = None, at: datetime | None = None
    ) -> list[Listing]:
        """What applies, and where it came from: price-file entries (every date) and genai prices."""
        from podium.cost.catalog.listing import price_listing

        return price_listing(self, provider, model, at)


def _entry_rate(provider: str, model: str, entry: ModelPriceEntry, source: PriceSource, loc: Loc) -> Rate:
    from genai_prices.types import ModelPrice

    prices = {k: getattr(entry, k) for k in TOKEN_PRICES if getattr(entry, k) is not None}
    return Rate(
        provider=provider,
        model=model,
        catalog_provider=entry.provider,
        catalog_model=entry.model,
        origin=source.origin,
        source=f"{entry.source} ({where(source, loc)})",
        effective_from=entry.effective_from,
        model_price=ModelPrice(**prices),
        input_mtok=entry.input_mtok,
        output_mtok=entry.output_mtok,
        cache_read_mtok=entry.cache_read_mtok,
        cache_write_mtok=entry.cache_write_mtok,
    )
