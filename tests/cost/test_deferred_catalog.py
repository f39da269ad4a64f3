"""podium's own catalog is loaded at a run's first priced call (`run_catalog`); a user's price files
are still read and checked when the run starts, each problem named as before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podium.cost.catalog import PriceCatalog, load_catalog
from podium.cost.catalog.loading import DeferredCatalog, run_catalog
from podium.cost.pricefile import PriceFileError

GOOD = "effective_from: 2026-01-01, source: https://example.com/p"
BAD_TOML = '[[prices.models]]\nprovider = "local"\nmodel = "m"\ninput_mtok = -2\noutput_mtok = 1\n'


def test_the_default_catalog_waits_for_a_lookup_and_answers_as_the_loaded_one(catalog: PriceCatalog) -> None:
    """Catches a deferred catalog pricing or stamping otherwise than the catalog it stands for."""
    deferred = DeferredCatalog()
    assert deferred._loaded is None and deferred.fingerprint == catalog.fingerprint
    at = datetime(2026, 6, 1, tzinfo=UTC)
    for provider, model in (
        ("bedrock", "amazon.nova-micro-v1:0"),
        ("local", "gpt-4o-mini"),
        ("local", "nope"),
    ):
        assert deferred.rate(provider, model, at) == catalog.rate(provider, model, at)
    assert deferred.known_providers() == catalog.known_providers()  # anything else: the loaded one's


def test_a_user_price_file_is_checked_when_the_run_starts(write: Callable[..., Path], tmp_path: Path) -> None:
    """Catches a run's price files deferred with podium's own (a bad one found only at a priced
    call, or never): `--prices` files and podium.toml's [prices] are read at once, as before."""
    assert isinstance(run_catalog(), DeferredCatalog)
    assert isinstance(run_catalog(config=write("podium.toml", "[profiles.dev]\n")), DeferredCatalog)
    bad = write(
        "prices.yaml", f"models:\n  - {{provider: local, model: m, input_mtok: -1, output_mtok: 1, {GOOD}}}\n"
    )
    with pytest.raises(PriceFileError, match=r"prices\.yaml") as info:
        run_catalog([bad])
    with pytest.raises(PriceFileError) as before:
        load_catalog([bad])
    assert str(info.value) == str(before.value)
    with pytest.raises(PriceFileError, match=r"podium\.toml"):
        run_catalog(config=write("podium.toml", BAD_TOML))
    good = write(
        "good.yaml", f"models:\n  - {{provider: local, model: m, input_mtok: 1, output_mtok: 1, {GOOD}}}\n"
    )
    assert not isinstance(run_catalog([good]), DeferredCatalog)
