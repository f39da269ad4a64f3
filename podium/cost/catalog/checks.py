"""What is wrong with a catalog as a whole: unknown providers, and price entries whose dates overlap.

Each price file's format is checked as it is read (`podium.cost.pricefile`); what needs every layer
at once is checked here, every problem reported together, each with its file, line, entry and fix.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from podium.core.errors import Problem
from podium.cost.pricefile import Loc, PriceSource, dotted, line_of, where

if TYPE_CHECKING:
    from podium.cost.catalog.lookup import PriceCatalog


def catalog_problems(catalog: PriceCatalog) -> list[Problem]:
    """Every problem with the catalog's layers taken together, sorted by file and line."""
    known = catalog.known_providers()
    genai = set(catalog.genai_ids)
    problems: list[Problem] = []

    def add(source: PriceSource, loc: Loc, message: str, fix: str | None) -> None:
        base: Loc = ("prices",) if source.file.endswith(".toml") else ()
        problems.append(Problem(source.file, dotted((*base, *loc)), message, line_of(source, loc), None, fix))

    for source in catalog.sources:
        content = source.content
        for name, target in content.providers.items():
            if target is not None and target not in genai:
                message = f"'{target}' is not a genai-prices provider id{suggest(target, genai)}"
                add(source, ("providers", name), message, "use a genai-prices id: aws, google, openai, …")
        for section, entries in (("models", content.models), ("fees", content.fees)):
            for i, entry in enumerate(entries):
                if entry.provider not in known:
                    add(
                        source, (section, i, "provider"),
                        f"unknown provider '{entry.provider}'{suggest(entry.provider, known)}",
                        "use a podium provider (bedrock, vertex, azure, local), a genai-prices id"
                        " (openai, anthropic, …), or declare it under providers:",
                    )  # fmt: skip
        for g, group in enumerate(content.equivalents):
            for name in group.models:
                if name not in known:
                    message = f"unknown provider '{name}'{suggest(name, known)}"
                    add(source, ("equivalents", g, "models", name), message, None)
    for key, entries in catalog.model_entries.items():
        problems.extend(_overlaps(key, entries))
    for key, fees in catalog.fee_entries.items():
        problems.extend(_overlaps(key, fees))
    return sorted(problems, key=lambda p: (p.file, p.line or 0))


def suggest(name: str, options: Iterable[str]) -> str:
    """`; did you mean 'bedrock'?` when a known name is close, else nothing."""
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
