"""The price catalog: genai-prices' snapshot, podium's `prices.yaml` overlay and user price files.

One job a module: `rates` (the values a call is priced at, and money), `lookup` (the PriceCatalog
and how a provider, model and date find a price), `checks` (what is wrong with the layers taken
together), `equivalents` (`--as-provider`), `listing` (`podium prices`), `loading` (reading the
layers; the cached catalog) and `genai` (the snapshot). This module names what callers use.
"""

from podium.cost.catalog.genai import genai_provider_ids
from podium.cost.catalog.genai import genai_version as _genai_version
from podium.cost.catalog.genai import snapshot as _snapshot
from podium.cost.catalog.loading import OVERLAY_PATH, default_config, load_catalog
from podium.cost.catalog.lookup import NATIVE_FALLBACK, PODIUM_PROVIDERS, PriceCatalog
from podium.cost.catalog.rates import (
    CENT,
    MILLION,
    ZERO,
    Equivalent,
    Fee,
    Listing,
    Quote,
    Rate,
    Unpriced,
    exact,
    model_key,
    money,
)

__all__ = [
    "CENT",
    "MILLION",
    "NATIVE_FALLBACK",
    "OVERLAY_PATH",
    "PODIUM_PROVIDERS",
    "ZERO",
    "Equivalent",
    "Fee",
    "Listing",
    "PriceCatalog",
    "Quote",
    "Rate",
    "Unpriced",
    "_genai_version",
    "_snapshot",
    "default_config",
    "exact",
    "genai_provider_ids",
    "load_catalog",
    "model_key",
    "money",
]
