"""The `--as-provider` equivalents: which model on another provider a call's model corresponds to.

The table is data (`equivalents:` in prices.yaml and the user's price files): groups of models that
are the same model on several clouds (`basis: same`) or merely comparable. A model is matched by the
id it was called with, or by the catalog entry it is priced as (so `us.anthropic.claude-…` on
Bedrock finds the group that names `anthropic.claude-…`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from podium.cost.catalog.rates import Equivalent, model_key

if TYPE_CHECKING:
    from podium.cost.catalog.lookup import PriceCatalog
    from podium.cost.pricefile import EquivalentGroup


class Equivalents:
    """A catalog's equivalents table, indexed on first use by call id and by catalog identity."""

    def __init__(self, catalog: PriceCatalog) -> None:
        self._catalog = catalog
        self._index: dict[tuple[str, str], tuple[EquivalentGroup, str]] | None = None

    def _build(self) -> dict[tuple[str, str], tuple[EquivalentGroup, str]]:
        index: dict[tuple[str, str], tuple[EquivalentGroup, str]] = {}
        for group in self._catalog.equivalents:
            for name in group.models:
                member = group.member(name)
                assert member is not None
                ident = self._catalog.identity(name, member.model)
                for k in (ident, (name, model_key(member.model))):
                    if k is not None:
                        index.setdefault(k, (group, name))
        return index

    def find(self, provider: str, model: str, target: str) -> Equivalent | None:
        """`model` on `provider` as `target` names it; None if the table has no such group member."""
        if self._index is None:
            self._index = self._build()
        catalog = self._catalog
        found = self._index.get((provider, model_key(model)))
        ident = catalog.identity(provider, model)
        if found is None and ident is not None:
            found = self._index.get(ident)
        if found is None:
            return None
        group, name = found
        names = [target, *(n for n, t in catalog.providers.items() if t == target)]
        if catalog.providers.get(target):
            names.append(str(catalog.providers[target]))
        for candidate in names:
            member = group.member(candidate)
            if member is not None:
                source = group.member(name)
                same = member.basis == "same" and source is not None and source.basis == "same"
                return Equivalent(target, member.model, "same model" if same else "comparable", group.name)
        return None
