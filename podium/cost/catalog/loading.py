"""Loading the catalog: podium's `prices.yaml` overlay, `podium.toml [prices]` and the user's price files.

Three layers, the later winning, over genai-prices' snapshot: the overlay (cloud model ids the
snapshot lacks, agent-service fees, the provider map and the `--as-provider` equivalents), then the
[prices] section of `podium.toml`, then each `--prices FILE` in order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from podium.core.errors import BadInput
from podium.cost.catalog.lookup import PriceCatalog
from podium.cost.pricefile import OVERLAY, PriceSource, config_sources, load_source

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
