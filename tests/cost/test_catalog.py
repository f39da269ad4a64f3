"""The price catalog: genai-prices' snapshot, podium's overlay and user files; dates, fees, the local rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from podium.core.calls import Usage
from podium.core.errors import BadInput
from podium.cost.catalog import (
    OVERLAY_PATH,
    PriceCatalog,
    Rate,
    Unpriced,
    _snapshot,
    load_catalog,
    money,
)
from podium.cost.pricefile import parse_price_text

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CENT = D("0.01")


def rate(
    catalog: PriceCatalog, provider: str, model: str | None, at: datetime | date = NOW, **kw: str
) -> Rate:
    quote = catalog.rate(provider, model, at, **kw)
    assert isinstance(quote, Rate), quote
    return quote


# --- cost to the cent ---------------------------------------------------------------------------


def test_a_genai_price_to_the_cent_with_cached_and_uncached_input(catalog: PriceCatalog) -> None:
    # Claude 3.5 Haiku on Bedrock: $0.80 in, $4 out, $0.08 cache read, $1 cache write per MTok
    haiku = rate(catalog, "bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0")
    usage = Usage(
        input_tokens=2_000_000, output_tokens=500_000, cache_read_tokens=1_000_000, cache_write_tokens=100_000
    )
    cost = haiku.cost(usage)
    assert cost == D("1.60") + D("2.00") + D("0.08") + D("0.10")
    assert cost.quantize(CENT) == D("3.78")


def test_small_calls_are_exact_not_rounded_away(catalog: PriceCatalog) -> None:
    # claude-haiku-4-5 as a local model (native: anthropic): $1 in, $5 out, $0.10 cached, $1.25 cache write
    haiku = rate(catalog, "local", "claude-haiku-4-5")
    usage = Usage(input_tokens=1000, output_tokens=400, cache_read_tokens=2000, cache_write_tokens=500)
    assert haiku.cost(usage) == D("0.003825")
    assert (haiku.catalog_provider, haiku.catalog_model) == ("anthropic", "claude-haiku-4-5")


def test_an_overlay_model_the_snapshot_lacks_is_priced_from_prices_yaml(catalog: PriceCatalog) -> None:
    with pytest.raises(LookupError):
        _snapshot().find_provider_model("cohere.command-r-plus-v1:0", None, "aws", None)
    command = rate(catalog, "bedrock", "cohere.command-r-plus-v1:0")
    assert command.cost(Usage(input_tokens=10_000, output_tokens=2_000)) == D("0.06")
    assert command.origin == "podium prices.yaml"
    assert "aws.amazon.com/bedrock/pricing" in command.source and "prices.yaml:" in command.source


def test_per_request_and_per_session_fees_are_added_to_tokens(write: Callable[..., Path]) -> None:
    path = write(
        "fees.yaml",
        """
        models:
          - {provider: local, model: house-model, input_mtok: 2, output_mtok: 10,
             effective_from: 2026-01-01, source: https://example.com/house}
        fees:
          - {provider: local, name: gateway, per: request, usd: 0.002, effective_from: 2026-01-01,
             source: https://example.com/gateway}
          - {provider: local, name: sandbox, per: session, usd: 0.05, model: "house-*",
             effective_from: 2026-01-01, source: https://example.com/sandbox}
        """,
    )
    house = rate(load_catalog([path]), "local", "house-model")
    usage = Usage(input_tokens=1500, output_tokens=300)  # $0.003 + $0.003 in tokens
    assert house.cost(usage) == D("0.008")  # + $0.002 a request
    assert house.cost(usage, new_session=True) == D("0.058")  # + $0.05 the session's first call
    assert house.request_usd == D("0.002") and house.session_usd == D("0.05")
    assert "+ $0.002/request + $0.05/session" in house.describe()


def test_agent_service_fees_apply_only_to_calls_through_the_agent_service(catalog: PriceCatalog) -> None:
    model_call = rate(catalog, "vertex", "gemini-2.0-flash")
    agent_call = rate(catalog, "vertex", "gemini-2.0-flash", service="agent")
    usage = Usage(input_tokens=10_000, output_tokens=1_000)  # $0.001 + $0.0004
    assert model_call.cost(usage) == D("0.0014")
    assert agent_call.cost(usage) == D("0.0019")  # + Agent Engine's session events
    assert [f.name for f in agent_call.fees] == ["Agent Engine Sessions"]


def test_a_tiered_genai_price_applies_its_tier(catalog: PriceCatalog) -> None:
    sonnet = rate(catalog, "local", "claude-sonnet-4-5")
    assert sonnet.tiered
    small = sonnet.cost(Usage(input_tokens=100_000, output_tokens=0))
    large = sonnet.cost(Usage(input_tokens=300_000, output_tokens=0))
    assert small == D("0.3")  # $3 per MTok
    assert large > small * 3  # past 200K tokens every input token costs the higher rate


# --- by date ------------------------------------------------------------------------------------


def test_a_genai_historic_price_is_chosen_by_the_call_date(catalog: PriceCatalog) -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    before = rate(catalog, "local", "o3", datetime(2025, 6, 1, tzinfo=UTC))
    after = rate(catalog, "local", "o3", datetime(2025, 6, 10, 0, 1, tzinfo=UTC))
    assert before.cost(usage) == D("50")  # $10 / $40 until the price cut
    assert after.cost(usage) == D("10")  # $2 / $8 from 2025-06-10
    assert after.effective_from == date(2025, 6, 10)


def test_a_price_file_entry_is_chosen_by_date_and_before_the_first_there_is_none(
    write: Callable[..., Path],
) -> None:
    path = write(
        "dated.yaml",
        """
        models:
          - {provider: bedrock, model: acme.widget-v1, input_mtok: 4, output_mtok: 8,
             effective_from: 2025-01-01, effective_to: 2025-07-01, source: https://example.com/v1}
          - {provider: bedrock, model: acme.widget-v1, input_mtok: 2, output_mtok: 6,
             effective_from: 2025-07-01, source: https://example.com/v2}
        """,
    )
    catalog = load_catalog([path])
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert rate(catalog, "bedrock", "acme.widget-v1", date(2025, 6, 30)).cost(usage) == D("12")
    assert rate(catalog, "bedrock", "acme.widget-v1", date(2025, 7, 1)).cost(usage) == D("8")
    early = catalog.rate("bedrock", "acme.widget-v1", date(2024, 12, 31))
    assert isinstance(early, Unpriced)
    assert "in effect on 2024-12-31" in early.reason and "prices start 2025-01-01" in early.reason


# --- which price a call finds -------------------------------------------------------------------


def test_a_local_model_is_priced_as_its_native_provider(catalog: PriceCatalog) -> None:
    assert rate(catalog, "local", "gpt-4o-mini").catalog_provider == "openai"
    assert rate(catalog, "local", "gemini-2.0-flash").catalog_provider == "google"
    nova = rate(catalog, "local", "amazon.nova-micro-v1:0")  # no native match: tried as Bedrock
    assert (nova.catalog_provider, nova.catalog_model) == ("aws", "amazon.nova-micro-v1:0")
    logical = catalog.rate("local", "fast", NOW)
    assert isinstance(logical, Unpriced)
    assert "'fast'" in logical.reason and "genai-prices" in logical.reason


def test_cloud_ids_are_matched_through_arns_and_cross_region_prefixes(catalog: PriceCatalog) -> None:
    arn = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-instant-v1"
    assert rate(catalog, "bedrock", arn).catalog_model == "anthropic.claude-instant-v1"
    assert rate(catalog, "bedrock", "us.cohere.command-r-v1:0").catalog_model == "cohere.command-r-v1:0"
    assert (
        rate(catalog, "bedrock", "anthropic.claude-v2:1").catalog_model == "anthropic.claude-v2"
    )  # an alias
    vertex = rate(
        catalog, "vertex", "projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-001"
    )
    assert vertex.catalog_model == "gemini-2.0-flash"


def test_a_call_without_a_model_is_unpriced(catalog: PriceCatalog) -> None:
    quote = catalog.rate("bedrock", None, NOW)
    assert isinstance(quote, Unpriced) and "no model" in quote.reason


def test_a_user_file_overrides_the_overlay_and_adds_aliases(write: Callable[..., Path]) -> None:
    path = write(
        "mine.yaml",
        """
        models:
          - {provider: bedrock, model: cohere.command-r-v1:0, input_mtok: 0.4, output_mtok: 1.2,
             effective_from: 2024-01-01, source: our enterprise agreement}
          - {provider: azure, model: prod-gpt4o-deployment, same_as: gpt-4o,
             effective_from: 2024-01-01, source: our Azure deployment names}
        """,
    )
    catalog = load_catalog([path])
    mine = rate(catalog, "bedrock", "cohere.command-r-v1:0")
    assert (mine.input_mtok, mine.output_mtok, mine.origin) == (D("0.4"), D("1.2"), str(path))
    deployment = rate(catalog, "azure", "prod-gpt4o-deployment")
    assert deployment.catalog_model == "gpt-4o" and deployment.model == "prod-gpt4o-deployment"
    assert deployment.cost(Usage(input_tokens=1_000_000, output_tokens=0)) == D("2.5")


def test_a_provider_mapping_in_a_user_file_prices_a_plugin_provider(write: Callable[..., Path]) -> None:
    path = write("map.yaml", "providers: {mycloud: openai}\n")
    catalog = load_catalog([path])
    assert rate(catalog, "mycloud", "gpt-4o-mini").catalog_provider == "openai"


# --- the overlay itself -------------------------------------------------------------------------


def test_every_overlay_model_is_one_the_snapshot_lacks(catalog: PriceCatalog) -> None:
    overlay = parse_price_text(OVERLAY_PATH.read_text(), str(OVERLAY_PATH))
    for entry in overlay.models:
        pid = overlay.providers.get(entry.provider, entry.provider)
        with pytest.raises(LookupError):
            _snapshot().find_provider_model(entry.model, None, pid, None)
        assert entry.source.startswith("https://") and entry.effective_from


def test_every_equivalent_in_the_overlay_has_a_price(catalog: PriceCatalog) -> None:
    for group in catalog.equivalents:
        for provider in group.models:
            member = group.member(provider)
            assert member is not None
            assert isinstance(catalog.rate(provider, member.model, NOW), Rate), (group.name, provider)


def test_equivalents_map_a_model_to_another_provider(catalog: PriceCatalog) -> None:
    same = catalog.equivalent("local", "claude-haiku-4-5", "bedrock")
    assert same is not None
    assert (same.model, same.basis) == ("anthropic.claude-haiku-4-5-20251001-v1:0", "same model")
    similar = catalog.equivalent("azure", "gpt-4o-mini", "bedrock")
    assert similar is not None and (similar.model, similar.basis) == ("amazon.nova-lite-v1:0", "comparable")
    assert catalog.equivalent("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "vertex").model == (
        "claude-sonnet-4-5@20250929"
    )
    assert catalog.equivalent("local", "house-model", "azure") is None


# --- podium prices --------------------------------------------------------------------------------


def test_listing_names_where_each_price_came_from(catalog: PriceCatalog) -> None:
    bedrock = catalog.listing("bedrock")
    origins = {entry.origin for entry in bedrock}
    assert "podium prices.yaml" in origins and any(o.startswith("genai-prices") for o in origins)
    command = next(e for e in bedrock if e.model == "cohere.command-r-plus-v1:0")
    assert (command.input_mtok, command.output_mtok, command.effective_from) == (
        D("3.0"),
        D("15.0"),
        date(2024, 4, 30),
    )
    fee = next(e for e in bedrock if e.kind == "fee")
    assert fee.request_usd == 0 and "InvokeAgent" in (fee.note or "")
    history = catalog.listing("local", "o3")
    assert {e.effective_from for e in history if e.model == "o3"} >= {None, date(2025, 6, 10)}


def test_listing_an_unknown_provider_is_bad_input(catalog: PriceCatalog) -> None:
    with pytest.raises(BadInput, match="unknown provider 'bedrok'; did you mean 'bedrock'"):
        catalog.listing("bedrok")


def test_money_for_people() -> None:
    assert money(D("0.000123")) == "$0.000123"
    assert money(D("0.5")) == "$0.50"
    assert money(D("12.345")) == "$12.35"
    assert money(D("1234.5")) == "$1,234.50"
    assert money(D("0")) == "$0.00"
    assert money(D("0.0000001")) == "<$0.000001"
    assert money(None) == "-"


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("local", "gpt-4o-mini"),
        ("local", "claude-haiku-4-5"),
        ("bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
        ("bedrock", "cohere.command-r-plus-v1:0"),
        ("vertex", "gemini-2.0-flash"),
        ("azure", "o3-mini"),
    ],
)
def test_flat_prices_match_genai_prices_arithmetic(catalog: PriceCatalog, provider: str, model: str) -> None:
    priced = rate(catalog, provider, model)
    assert not priced.tiered
    for usage in (
        Usage(input_tokens=1234, output_tokens=567),
        Usage(input_tokens=10, output_tokens=0, cache_read_tokens=98_765, cache_write_tokens=4_321),
        Usage(input_tokens=0, output_tokens=0),
    ):
        assert priced.token_cost(usage) == priced.genai_cost(usage)
