"""What a call is priced at: the Rate, Fee and Unpriced values, the what-if and listing lines, and money.

Money is Decimal throughout; `money` formats it for people, `exact` for JSON (no trailing zeros).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from podium.core.calls import Usage

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
CENT = Decimal("0.01")


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


def as_datetime(at: datetime | date) -> datetime:
    """A UTC datetime (a bare date means noon UTC that day)."""
    if isinstance(at, datetime):
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    return datetime(at.year, at.month, at.day, 12, tzinfo=UTC)
