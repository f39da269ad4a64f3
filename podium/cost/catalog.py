"""Price lookup by provider, model and date: genai-prices' offline snapshot, podium's overlay, user files.

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

import difflib
import fnmatch
import functools
import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from podium.core.calls import Usage
from podium.core.errors import BadInput, Problem
from podium.cost.pricefile import (
    OVERLAY,
    TOKEN_PRICES,
    Dated,
    EquivalentGroup,
    FeeEntry,
    Loc,
    ModelPriceEntry,
    PriceFileError,
    PriceSource,
    config_sources,
    dotted,
    line_of,
    load_source,
    where,
)

OVERLAY_PATH = Path(__file__).with_name("prices.yaml")
MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
CENT = Decimal("0.01")
# podium's own provider names: always known, even before their plugins are installed
PODIUM_PROVIDERS = ("bedrock", "vertex", "azure", "local")
NATIVE_FALLBACK = ("aws", "google", "azure")  # where a local model's id is looked for when unrecognised
_GEO_PREFIX = re.compile(r"^(?:us|eu|apac|global|jp|au|ca|us-gov|regional)\.")


# --- what a call is priced at --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fee:
    name: str
    per: str  # request | session
    usd: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class Rate:
    """What one call is priced at: dollars per million tokens by kind, plus per-call fees.

    Token cost is computed by genai-prices' own arithmetic (tiers included) on its price for the
    date, or on a price-file entry; podium's `input_tokens` are the uncached ones, so they are
    handed over as `input = input + cache_read + cache_write`, as genai-prices counts them.
    """

    provider: str  # the podium provider of the call
    model: str  # the model id as called
    catalog_provider: str  # genai-prices provider id, or the price file's provider
    catalog_model: str  # the model id the catalog matched
    origin: str  # "genai-prices 0.2.3", "podium prices.yaml" or a user file path
    source: str  # where the price was published
    input_mtok: Decimal | None
    output_mtok: Decimal | None
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    effective_from: date | None = None
    tiered: bool = False
    fees: tuple[Fee, ...] = ()
    model_price: Any = field(default=None, repr=False, compare=False)  # genai ModelPrice

    @property
    def request_usd(self) -> Decimal:
        own = getattr(self.model_price, "requests_kcount", None)
        base = own / 1000 if isinstance(own, Decimal) else ZERO
        return base + sum((f.usd for f in self.fees if f.per == "request"), ZERO)

    @property
    def session_usd(self) -> Decimal:
        return sum((f.usd for f in self.fees if f.per == "session"), ZERO)

    def cost(self, usage: Usage, *, new_session: bool = False) -> Decimal:
        """Dollars for one call's usage; `new_session` adds the per-session fees (first call only)."""
        total = self.token_cost(usage)
        for fee in self.fees:
            if fee.per == "request" or new_session:
                total += fee.usd
        return exact(total)

    def token_cost(self, usage: Usage) -> Decimal:
        """The tokens' dollars (and the model's own per-request price, if it has one).

        A flat price is applied here directly — each kind of token at its price, a cache kind
        without a price of its own at the input price, as genai-prices does — because this runs
        for every call and genai-prices' general arithmetic is ten times slower. A tiered price
        goes to genai-prices. `test_flat_prices_match_genai_prices_arithmetic` holds the two equal.
        """
        if self.tiered:
            return self.genai_cost(usage)
        base = self.input_mtok or ZERO
        read = base if self.cache_read_mtok is None else self.cache_read_mtok
        write = base if self.cache_write_mtok is None else self.cache_write_mtok
        tokens = (
            usage.input_tokens * base
            + usage.cache_read_tokens * read
            + usage.cache_write_tokens * write
            + usage.output_tokens * (self.output_mtok or ZERO)
        ) / MILLION
        own = getattr(self.model_price, "requests_kcount", None)
        return tokens + own / 1000 if isinstance(own, Decimal) else tokens

    def genai_cost(self, usage: Usage) -> Decimal:
        """The tokens' dollars by genai-prices' own arithmetic (tiers and all)."""
        from genai_prices import Usage as GenaiUsage

        counted = GenaiUsage(
            input_tokens=usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
        )
        return Decimal(self.model_price.calc_price(counted)["total_price"])

    def describe(self) -> str:
        """'$0.15 in · $0.60 out · $0.075 cached per MTok + $0.01/request'."""
        parts = [f"{money(self.input_mtok)} in", f"{money(self.output_mtok)} out"]
        if self.cache_read_mtok is not None:
            parts.append(f"{money(self.cache_read_mtok)} cached")
        if self.cache_write_mtok is not None:
            parts.append(f"{money(self.cache_write_mtok)} cache write")
        text = " · ".join(parts) + " per MTok" + (" (tiered)" if self.tiered else "")
        if self.request_usd:
            text += f" + {money(self.request_usd)}/request"
        if self.session_usd:
            text += f" + {money(self.session_usd)}/session"
        return text


@dataclass(frozen=True, slots=True)
class Unpriced:
    """No price applies: the ledger keeps the call's tokens and says why, never $0."""

    provider: str
    model: str | None
    reason: str


Quote = Rate | Unpriced


@dataclass(frozen=True, slots=True)
class Equivalent:
    """Where `--as-provider` moves a model: the target's id for it, and how alike they are."""

    provider: str
    model: str
    basis: str  # "same model" | "comparable"
    group: str


@dataclass(frozen=True, slots=True)
class Listing:
    """One line of `podium prices`: a price (or fee) that applies, and where it came from."""

    provider: str
    model: str
    kind: str  # "tokens" | "fee"
    origin: str
    source: str
    input_mtok: Decimal | None = None
    output_mtok: Decimal | None = None
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    request_usd: Decimal | None = None
    session_usd: Decimal | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:  # type: ignore[attr-defined]
            value = getattr(self, name)
            out[name] = str(value) if isinstance(value, Decimal) else (
                value.isoformat() if isinstance(value, date) else value
            )  # fmt: skip
        return out


def money(value: Decimal | None) -> str:
    """Dollars for people: cents when it is at least $1, else up to six decimals (never rounded to 0)."""
    if value is None:
        return "-"
    if value != 0 and abs(value) < Decimal("0.000001"):
        return "<$0.000001"
    if abs(value) >= 1 or value == 0:
        return f"${value.quantize(CENT, ROUND_HALF_UP):,}"
    text = f"{value:.6f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{value.quantize(CENT, ROUND_HALF_UP)}"
    return f"${text}"


def exact(value: Decimal) -> Decimal:
    """The same amount without trailing zeros or an exponent: 0.000900 → 0.0009, 1E+1 → 10."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def model_key(model: str) -> str:
    """The id a price file is matched on: lower case, without an ARN or resource-name prefix."""
    key = model.strip().lower()
    return key.rsplit("/", 1)[1] if "/" in key else key


def _as_datetime(at: datetime | date) -> datetime:
    """A UTC datetime (a bare date means noon UTC that day)."""
    if isinstance(at, datetime):
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    return datetime(at.year, at.month, at.day, 12, tzinfo=UTC)


def _in_effect(entry: Dated, day: date) -> bool:
    return entry.effective_from <= day and (entry.effective_to is None or day < entry.effective_to)


@dataclass(frozen=True, slots=True)
class _Home:
    """A place a provider's models are priced: price-file names, and a genai-prices provider id."""

    names: tuple[str, ...]
    genai: str | None


@functools.cache
def _snapshot() -> Any:
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


@functools.cache
def _genai_version() -> str:
    import genai_prices

    return str(genai_prices.__version__)


@functools.cache
def genai_provider_ids() -> tuple[str, ...]:
    """The provider ids of genai-prices' snapshot (aws, google, azure, openai, anthropic, …)."""
    return tuple(p.id for p in _snapshot().providers)


class PriceCatalog:
    """Prices by (provider, model, date) from genai-prices, podium's overlay and user files.

    Build one with `load_catalog()`. Lookups are cached; a catalog is immutable once built.
    """

    def __init__(self, sources: Sequence[PriceSource]) -> None:
        self.sources = list(sources)  # overlay first, then user files; the later wins
        self.providers: dict[str, str | None] = {}
        self._fees: dict[tuple[str, str, str], list[tuple[FeeEntry, PriceSource, Loc]]] = {}
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
            self._fees.update(fees)
            self.equivalents = list(source.content.equivalents) + self.equivalents
        self._models = models  # (provider, model id) -> its dated entries, from one layer
        self._cache: dict[tuple[str, str | None, datetime, str | None], Quote] = {}
        self._equivalent_index: dict[tuple[str, str], tuple[EquivalentGroup, str]] | None = None
        self.fingerprint = hashlib.sha256(
            "|".join([_genai_version(), *(s.file + ":" + s.digest for s in self.sources)]).encode()
        ).hexdigest()[:16]
        self._check()

    # --- checks ---------------------------------------------------------------------------------

    def known_providers(self) -> set[str]:
        return {*PODIUM_PROVIDERS, *self.providers, *genai_provider_ids()}

    def _check(self) -> None:
        known = self.known_providers()
        genai = set(genai_provider_ids())
        problems: list[Problem] = []

        def add(source: PriceSource, loc: Loc, message: str, fix: str | None) -> None:
            base: Loc = ("prices",) if source.file.endswith(".toml") else ()
            problems.append(
                Problem(source.file, dotted((*base, *loc)), message, line_of(source, loc), None, fix)
            )

        for source in self.sources:
            content = source.content
            for name, target in content.providers.items():
                if target is not None and target not in genai:
                    message = f"'{target}' is not a genai-prices provider id{_suggest(target, genai)}"
                    add(source, ("providers", name), message, "use a genai-prices id: aws, google, openai, …")
            for section, entries in (("models", content.models), ("fees", content.fees)):
                for i, entry in enumerate(entries):
                    if entry.provider not in known:
                        add(
                            source, (section, i, "provider"),
                            f"unknown provider '{entry.provider}'{_suggest(entry.provider, known)}",
                            "use a podium provider (bedrock, vertex, azure, local), a genai-prices id"
                            " (openai, anthropic, …), or declare it under providers:",
                        )  # fmt: skip
            for g, group in enumerate(content.equivalents):
                for name in group.models:
                    if name not in known:
                        message = f"unknown provider '{name}'{_suggest(name, known)}"
                        add(source, ("equivalents", g, "models", name), message, None)
        for key, entries in self._models.items():
            problems.extend(_overlaps(key, entries))
        for key, fees in self._fees.items():
            problems.extend(_overlaps(key, fees))
        if problems:
            raise PriceFileError(sorted(problems, key=lambda p: (p.file, p.line or 0)))

    # --- lookups ----------------------------------------------------------------------------------

    def homes(self, provider: str, model: str | None) -> list[_Home]:
        """Where `provider`'s models are priced, in the order tried (see the module docstring)."""
        genai = set(genai_provider_ids())
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
                native = _snapshot().find_provider(model_key(model), None, None).id
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
        when = _as_datetime(at)
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
            f"no price for model '{model}' on {provider} (neither genai-prices {_genai_version()}"
            " nor podium's overlay knows it)",
        )  # fmt: skip

    def _file_rate(
        self, provider: str, model: str, home: _Home, at: datetime, later: list[date], depth: int
    ) -> Rate | Unpriced | None:
        key = model_key(model)
        day = at.date()
        for name in home.names:
            for variant in dict.fromkeys([key, _GEO_PREFIX.sub("", key)]):
                entries = self._models.get((name, variant))
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
                    return _replace_model(target, model)
                later.extend(e.effective_from for e, _, _ in entries if e.effective_from > day)
        return None

    def _genai_rate(self, provider: str, model: str, pid: str, at: datetime) -> Rate | None:
        snapshot = _snapshot()
        try:
            found, info = snapshot.find_provider_model(model_key(model), None, pid, None)
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
            origin=f"genai-prices {_genai_version()}",
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
        for (provider, _name, pattern), entries in self._fees.items():
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
        return Rate(**{**_fields(rate), "fees": tuple(fees)})

    # --- what-if: another provider's equivalent ---------------------------------------------------

    def identity(self, provider: str, model: str) -> tuple[str, str] | None:
        """(catalog provider, catalog model) a call is priced as today, for matching equivalents."""
        quote = self.rate(provider, model, datetime.now(UTC))
        return (quote.catalog_provider, quote.catalog_model) if isinstance(quote, Rate) else None

    def equivalent(self, provider: str, model: str, target: str) -> Equivalent | None:
        """`model` on `provider` as `target` names it, from the equivalents table; None if absent."""
        if self._equivalent_index is None:
            index: dict[tuple[str, str], tuple[EquivalentGroup, str]] = {}
            for group in self.equivalents:
                for name in group.models:
                    member = group.member(name)
                    assert member is not None
                    ident = self.identity(name, member.model)
                    for k in (ident, (name, model_key(member.model))):
                        if k is not None:
                            index.setdefault(k, (group, name))
            self._equivalent_index = index
        found = self._equivalent_index.get((provider, model_key(model)))
        ident = self.identity(provider, model)
        if found is None and ident is not None:
            found = self._equivalent_index.get(ident)
        if found is None:
            return None
        group, name = found
        names = [target, *(n for n, t in self.providers.items() if t == target)]
        if self.providers.get(target):
            names.append(str(self.providers[target]))
        for candidate in names:
            member = group.member(candidate)
            if member is not None:
                source = group.member(name)
                same = member.basis == "same" and source is not None and source.basis == "same"
                return Equivalent(target, member.model, "same model" if same else "comparable", group.name)
        return None

    # --- podium prices ----------------------------------------------------------------------------

    def listing(
        self, provider: str | None = None, model: str | None = None, at: datetime | None = None
    ) -> list[Listing]:
        """What applies, and where it came from: price-file entries (every date) and genai prices."""
        at = _as_datetime(at or datetime.now(UTC))
        if provider is not None and provider not in self.known_providers():
            raise BadInput(
                f"unknown provider '{provider}'{_suggest(provider, self.known_providers())}",
                fix="name a podium provider (bedrock, vertex, azure, local) or a genai-prices id",
            )
        names = self.own_names(provider) if provider else None
        mapped = self.providers.get(provider) if provider else None
        if mapped is not None:
            genai_ids: Sequence[str] = [mapped]
        elif provider in genai_provider_ids():
            genai_ids = [str(provider)]
        else:  # all providers, or local: its models are found under their native providers
            genai_ids = genai_provider_ids() if model else []
        wanted = model_key(model) if model else None
        rows: list[Listing] = []
        seen: set[tuple[str, str, date]] = set()
        for (prov, key), entries in self._models.items():
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
        for (prov, _name, pattern), fees in self._fees.items():
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
        rows.extend(self._genai_listing(genai_ids, wanted, at, provider if mapped else None))
        return rows

    def _genai_listing(
        self, pids: Iterable[str], wanted: str | None, at: datetime, shown_as: str | None
    ) -> Iterator[Listing]:
        snapshot = _snapshot()
        for pid in dict.fromkeys(pids):
            found = next((p for p in snapshot.providers if p.id == pid), None)
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
                        origin=f"genai-prices {_genai_version()}",
                        source=(found.pricing_urls or [found.name])[0],
                        request_usd=per_request / 1000 if isinstance(per_request, Decimal) else None,
                        effective_from=since, note=note, **base,
                    )  # fmt: skip


# --- helpers ------------------------------------------------------------------------------------


def _fields(rate: Rate) -> dict[str, Any]:
    return {name: getattr(rate, name) for name in Rate.__slots__}  # type: ignore[attr-defined]


def _replace_model(rate: Rate, model: str) -> Rate:
    return Rate(**{**_fields(rate), "model": model})


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


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _overlaps(key: tuple[str, ...], entries: Sequence[tuple[Any, PriceSource, Loc]]) -> Iterator[Problem]:
    """Two entries for one model (or fee) whose date ranges meet: which one applies is ambiguous."""
    unique = list({id(e): (e, s, loc) for e, s, loc in entries}.values())
    ordered = sorted(unique, key=lambda t: t[0].effective_from)
    for (a, sa, la), (b, sb, lb) in itertools.pairwise(ordered):
        if a.effective_from == b.effective_from or (
            a.effective_to is not None and a.effective_to > b.effective_from
        ):
            end = a.effective_to or "open-ended"
            base: Loc = ("prices",) if sb.file.endswith(".toml") else ()
            yield Problem(
                sb.file,
                dotted((*base, *lb)),
                f"{key[0]} {key[-1] if len(key) == 2 else key[1]}: effective {b.effective_from} overlaps"
                f" the entry at {where(sa, la)} (effective {a.effective_from} to {end})",
                line_of(sb, lb),
                None,
                "give each price its own date range: end the earlier one (effective_to) where the"
                " later one starts, or remove one",
            )


def load_catalog(
    files: Sequence[str | Path] = (), *, config: str | Path | None = None, overlay: bool = True
) -> PriceCatalog:
    """The catalog: podium's overlay, then `config`'s [prices] (podium.toml), then `files`, in order.

    Cached by the files' paths and modification times, so the plugin can ask for it per call.
    """
    paths = tuple(Path(f).resolve() for f in files)
    conf = Path(config).resolve() if config is not None else None
    stamp = tuple((str(p), _mtime(p)) for p in (*paths, *((conf,) if conf else ())))
    return _cached_catalog(paths, conf, overlay, stamp)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


@functools.lru_cache(maxsize=16)
def _cached_catalog(
    paths: tuple[Path, ...], config: Path | None, overlay: bool, _stamp: tuple[tuple[str, float], ...]
) -> PriceCatalog:
    sources: list[PriceSource] = []
    if overlay:
        sources.append(_overlay_source())
    if config is not None and config.is_file():
        sources.extend(config_sources(config))
    for path in paths:
        if not path.is_file():
            raise BadInput(f"price file {path} does not exist", fix="check the path given to --prices")
        sources.append(load_source(path, str(path)))
    return PriceCatalog(sources)


@functools.cache
def _overlay_source() -> PriceSource:
    return load_source(OVERLAY_PATH, OVERLAY)


def default_config() -> Path | None:
    """`podium.toml` in the working directory, if there is one (its [prices] section applies)."""
    path = Path.cwd() / "podium.toml"
    return path if path.is_file() else None
