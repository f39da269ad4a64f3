"""Loading the catalog: podium's `prices.yaml` overlay, `podium.toml [prices]` and the user's price files.

Three layers, the later winning, over genai-prices' snapshot: the overlay (cloud model ids the
snapshot lacks, agent-service fees, the provider map and the `--as-provider` equivalents), then the
[prices] section of `podium.toml`, then each `--prices FILE` in order.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from podium.core.errors import BadInput
from podium.cost.catalog.lookup import PriceCatalog, fingerprint
from podium.cost.catalog.rates import Quote
from podium.cost.pricefile import OVERLAY, PriceSource, config_sources, load_source, text_digest

OVERLAY_PATH = Path(__file__).parent.parent / "prices.yaml"


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


# memos, not state: a catalog is immutable and keyed by its files and their modification times
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


def run_catalog(files: Sequence[str | Path] = (), *, config: str | Path | None = None) -> PriceCatalog:
    """The catalog a run is metered with: `load_catalog`'s, loaded when a call is first priced.

    A run of python functions prices nothing, yet its ledger is stamped with the catalog's
    fingerprint; podium's own catalog (genai-prices' snapshot and the overlay) is ~7 MiB of
    price entries, pydantic models and genai-prices' data, with the httpx it imports. So when
    the run names no price file of its own (no `--prices`, no `[prices]` in `podium.toml`),
    the catalog is a `DeferredCatalog`: its fingerprint at once, its prices at the first lookup.
    A user's price file is read and checked when the run starts, as before.
    """
    if files or not _no_prices(config):
        return load_catalog(files, config=config)
    return cast(PriceCatalog, _deferred())  # it answers as the PriceCatalog it stands for


def _no_prices(config: str | Path | None) -> bool:
    """True if `config` adds no layer to the catalog (no file, or a TOML file without [prices])."""
    if config is None:
        return True
    try:
        return "prices" not in tomllib.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # load_catalog reports it, as it always has


@functools.cache
def _deferred() -> DeferredCatalog:
    return DeferredCatalog()


class DeferredCatalog:
    """podium's own catalog (`load_catalog()`), loaded at its first lookup; its fingerprint now.

    The fingerprint is the one the loaded catalog has (`lookup.fingerprint` of the same layer,
    the overlay's path and digest, and genai-prices' version from its metadata), so a ledger
    stamped before the prices were loaded, or without them, is not re-derived for it.
    Anything but `fingerprint` and `rate` is the loaded catalog's own attribute.
    """

    __slots__ = ("_loaded", "fingerprint")

    def __init__(self) -> None:
        overlay = OVERLAY_PATH.read_text(encoding="utf-8")
        self.fingerprint = fingerprint([(str(OVERLAY_PATH), text_digest(overlay))])
        self._loaded: PriceCatalog | None = None

    def loaded(self) -> PriceCatalog:
        if self._loaded is None:
            self._loaded = load_catalog()
        return self._loaded

    def rate(
        self, provider: str, model: str | None, at: datetime | date, *, service: str | None = None
    ) -> Quote:
        return self.loaded().rate(provider, model, at, service=service)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_loaded":  # copy and pickle probe a bare instance
            raise AttributeError(name)
        return getattr(self.loaded(), name)
