"""Cost reports: roll-ups of ledger rows as rich tables, CSV and JSON; the run summary; the what-if.

Money in CSV and JSON is a decimal string (`"0.012345"`), exact. `cost_usd` sums the priced calls;
when `unpriced_calls` is not 0 it is a lower bound, and the unpriced models are listed with why.
The what-if (`--as-provider bedrock,azure`) adds `as_<provider>_usd` and
`as_<provider>_unpriced_calls` for each provider named, in the order named.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as Map
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from podium.core.errors import BadInput
from podium.core.loader import suggest
from podium.cost.catalog import PODIUM_PROVIDERS, PriceCatalog, Rate, exact, model_key, money
from podium.cost.ledger import JSON_FIELDS, LedgerRow

if TYPE_CHECKING:
    from rich.console import RenderableType

    from podium.cost.model_classes import ModelClasses


DIMENSIONS = ("workflow", "run", "provider", "model", "agent", "step", "day")
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
ZERO = Decimal(0)


# --- roll-ups -----------------------------------------------------------------------------------


@dataclass
class Group:
    """The sum of some ledger rows: calls, retries, tokens by kind, and dollars."""

    key: tuple[str, ...] = ()
    calls: int = 0
    retries: int = 0
    unpriced_calls: int = 0
    free_calls: int = 0
    mock_calls: int = 0  # scripted replies that no price applies to
    unknown_calls: int = 0  # calls whose service reported no usage: their cost is not known
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = ZERO
    # the same usage on each --as-provider: None until one of its calls is priced there
    what_ifs: dict[str, Decimal | None] = field(default_factory=dict)
    what_if_unpriced: dict[str, int] = field(default_factory=dict)

    def add(self, row: LedgerRow, what_ifs: Map[str, Decimal | None] | None = None) -> None:
        self.calls += 1
        self.retries += int(row.retry)
        self.unpriced_calls += int(row.status == "unpriced")
        self.free_calls += int(row.status == "free")
        self.mock_calls += int(row.status == "mock")
        self.unknown_calls += int(row.status == "unknown")
        for name in TOKENS:
            setattr(self, name, getattr(self, name) + getattr(row, name))
        if row.cost is not None:
            self.cost += row.cost
        for target, cost in (what_ifs or {}).items():
            if cost is None:
                self.what_ifs.setdefault(target, None)
                self.what_if_unpriced[target] = self.what_if_unpriced.get(target, 0) + 1
            else:
                self.what_ifs[target] = (self.what_ifs.get(target) or ZERO) + cost

    def to_json(self, by: Sequence[str] = (), as_providers: Sequence[str] = ()) -> dict[str, Any]:
        out: dict[str, Any] = dict(zip(by, self.key, strict=True))
        out.update(
            calls=self.calls,
            retries=self.retries,
            unpriced_calls=self.unpriced_calls,
            free_calls=self.free_calls,
            mock_calls=self.mock_calls,
            unknown_usage_calls=self.unknown_calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cost_usd=str(exact(self.cost)),
        )
        for target in as_providers:
            value = self.what_ifs.get(target)
            out[f"as_{target}_usd"] = None if value is None else str(exact(value))
            out[f"as_{target}_unpriced_calls"] = self.what_if_unpriced.get(target, 0)
        return out


def _dimension(row: LedgerRow, name: str) -> str:
    if name == "day":
        return row.day.isoformat()
    if name == "run":
        return row.run_id
    value = getattr(row, name)
    return "-" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Mapping:
    """How --as-provider moved one model: to which model on the target, and how alike they are."""

    provider: str
    model: str | None
    target_model: str | None
    basis: str  # "same model", "comparable", "model class fast", or why there is no price
    calls: int
    target: str = ""
    model_class: str | None = None  # the class whose model on the target was used, if it came to that


@dataclass
class Report:
    """A cost report: rows grouped by some dimensions, a total, and the what-if if asked for."""

    rows: list[LedgerRow]
    by: tuple[str, ...]
    groups: list[Group]
    total: Group
    as_providers: tuple[str, ...] = ()
    mappings: list[Mapping] = field(default_factory=list)
    title: str = "cost"

    @property
    def as_provider(self) -> str | None:
        """The what-if providers as `--as-provider` takes them (`bedrock,azure`); None if none."""
        return ",".join(self.as_providers) or None

    def unpriced(self) -> list[dict[str, Any]]:
        """Each unpriced (provider, model) with its call count and the reason."""
        found: dict[tuple[str, str | None], dict[str, Any]] = {}
        for row in self.rows:
            if row.status == "unpriced":
                entry = found.setdefault(
                    (row.provider, row.model),
                    {"provider": row.provider, "model": row.model, "calls": 0, "reason": row.price},
                )
                entry["calls"] += 1
        return list(found.values())


def parse_by(text: str | None, default: str) -> tuple[str, ...]:
    """`--by workflow,provider` → ('workflow', 'provider'); 'call' lists rows one by one."""
    names = tuple(n.strip() for n in (text or default).split(",") if n.strip())
    for name in names:
        if name not in (*DIMENSIONS, "call"):
            raise BadInput(
                f"--by {text}: '{name}' is not a dimension",
                fix=f"use some of: {', '.join(DIMENSIONS)} (comma-separated), or call",
            )
    if "call" in names and len(names) > 1:
        raise BadInput(f"--by {text}: 'call' lists every call and goes alone", fix="use --by call")
    return names


def parse_as_providers(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """`--as-provider bedrock,vertex --as-provider azure` → ('bedrock', 'vertex', 'azure'), once each."""
    if values is None:
        return ()
    texts = [values] if isinstance(values, str) else list(values)
    names = [name.strip() for text in texts for name in text.split(",")]
    return tuple(dict.fromkeys(name for name in names if name))


def check_as_providers(catalog: PriceCatalog, targets: Sequence[str]) -> None:
    """Raise BadInput naming every one of `targets` that has no prices of its own, and the ones that do."""
    known = catalog.known_providers()
    bad = [t for t in targets if t not in known or t == "local"]
    if not bad:
        return
    clouds = [p for p in PODIUM_PROVIDERS if p != "local"]
    hint = suggest(bad[0], [p for p in known if p != "local"]) if len(bad) == 1 else ""
    names = ", ".join(bad)
    raise BadInput(
        f"--as-provider {names}: {'not a provider' if len(bad) == 1 else 'not providers'} with prices"
        f" of {'its' if len(bad) == 1 else 'their'} own{hint}",
        fix=f"name one or more of {', '.join(clouds)}, comma-separated (or a catalog provider id such as"
        " anthropic or openai: `podium prices --provider ID` lists its prices)",
    )


def class_counterpart(
    classes: ModelClasses, provider: str, model: str, target: str
) -> tuple[str, str] | None:
    """(class, `target`'s model) when `model` is a model class's model on `provider` and that class has
    a model on `target`; the first such class in the table's order (gemini-2.5-pro is both smart and
    reasoning on vertex: it is priced as smart)."""
    key = model_key(model)
    for name in classes.names():
        own, there = classes.model(name, provider), classes.model(name, target)
        if own is not None and there is not None and model_key(own) == key:
            return name, there
    return None


def what_if(
    rows: Sequence[LedgerRow], catalog: PriceCatalog, target: str, classes: ModelClasses | None = None
) -> tuple[list[Decimal | None], list[Mapping]]:
    """Each row's cost had its usage gone to `target`'s equivalent model, and the mapping used.

    The equivalents table answers first; where it has no counterpart and `classes` is given, a model
    that is a model class's model on its provider is priced as that class's model on `target`.
    """
    check_as_providers(catalog, [target])
    costs: list[Decimal | None] = []
    seen: dict[tuple[str, str | None], Mapping] = {}
    for row in rows:
        if row.status == "free":
            costs.append(ZERO)
            continue
        key = (row.provider, row.model)
        same_home = catalog.providers.get(row.provider, row.provider) == catalog.providers.get(target, target)
        equivalent = catalog.equivalent(row.provider, row.model, target) if row.model else None
        counterpart = None
        if row.model and not same_home and equivalent is None and classes is not None:
            counterpart = class_counterpart(classes, row.provider, row.model, target)
        model: str | None
        model_class: str | None = None
        if row.model and same_home:
            model, basis = row.model, "same model"
        elif equivalent is not None:
            model, basis = equivalent.model, equivalent.basis
        elif counterpart is not None:
            model_class, model = counterpart
            basis = f"model class {model_class}"
        else:
            model, basis = None, f"no {target} equivalent in the catalog's equivalents table"
        cost: Decimal | None = None
        if model is not None:
            quote = catalog.rate(target, model, row.at, service=row.service)
            if isinstance(quote, Rate):
                cost = quote.cost(row.usage, new_session=row.new_session)
            else:
                basis = quote.reason
        costs.append(cost)
        if key in seen:
            old = seen[key]
            seen[key] = Mapping(
                old.provider, old.model, old.target_model, old.basis, old.calls + 1, target, old.model_class
            )
        else:
            seen[key] = Mapping(row.provider, row.model, model, basis, 1, target, model_class)
    return costs, list(seen.values())


def build_report(
    rows: Sequence[LedgerRow],
    by: Sequence[str],
    *,
    catalog: PriceCatalog | None = None,
    as_provider: str | Sequence[str] | None = None,
    classes: ModelClasses | None = None,
    title: str = "cost",
) -> Report:
    """Group rows by `by` (in first-seen order) and total them; reprice on each of `as_provider`
    (a name, `bedrock,azure`, or a list) if given, falling back on `classes` (see `what_if`)."""
    rows = list(rows)
    targets = parse_as_providers(as_provider)
    per_row: list[dict[str, Decimal | None]] = [{} for _ in rows]
    mappings: list[Mapping] = []
    if targets:
        assert catalog is not None, "--as-provider needs the catalog"
        check_as_providers(catalog, targets)  # every bad name at once, before any pricing
        for target in targets:
            costs, found = what_if(rows, catalog, target, classes)
            for row_costs, cost in zip(per_row, costs, strict=True):
                row_costs[target] = cost
            mappings += found
    groups: dict[tuple[str, ...], Group] = {}
    total = Group()
    dims = () if by == ("call",) else tuple(by)
    for row, costs in zip(rows, per_row, strict=True):
        key = tuple(_dimension(row, d) for d in dims)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(key=key)
        group.add(row, costs)
        total.add(row, costs)
    ordered = sorted(groups.values(), key=lambda g: g.key) if "day" in dims else list(groups.values())
    return Report(rows, tuple(by), ordered, total, targets, mappings, title)


# --- CSV and JSON -------------------------------------------------------------------------------


def to_json(report: Report) -> dict[str, Any]:
    """The report as JSON-able data; `groups` (or `calls` with --by call), `total`, `unpriced`, and
    with --as-provider the `mappings`, each naming the provider it is `as_provider` for."""
    out: dict[str, Any] = {
        "currency": "USD",
        "by": list(report.by),
        "as_provider": report.as_provider,
        "as_providers": list(report.as_providers),
    }
    if report.by == ("call",):
        out["calls"] = [row.to_json() for row in report.rows]
    else:
        out["groups"] = [g.to_json(report.by, report.as_providers) for g in report.groups]
    out["total"] = report.total.to_json((), report.as_providers)
    out["unpriced"] = report.unpriced()
    if report.as_providers:
        out["mappings"] = [
            {
                "as_provider": m.target,
                "provider": m.provider,
                "model": m.model,
                "as_model": m.target_model,
                "basis": m.basis,
                "model_class": m.model_class,
                "calls": m.calls,
            }
            for m in report.mappings
        ]
    return out


def to_csv(report: Report) -> str:
    """One line per group (or per call with --by call), a header first; no total line."""
    buffer = io.StringIO()
    if report.by == ("call",):
        rows = [r.to_json() for r in report.rows]
        fields = list(JSON_FIELDS)
    else:
        rows = [g.to_json(report.by, report.as_providers) for g in report.groups]
        fields = list(Group().to_json((), report.as_providers))
        fields = [*report.by, *fields]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


# --- tables for people --------------------------------------------------------------------------


def _int(value: int) -> str:
    return f"{value:,}"


def _cost_cell(group: Group) -> str:
    if group.calls and group.free_calls == group.calls:
        return "free"
    if group.calls and group.mock_calls == group.calls:
        return "mock"
    if group.calls and group.free_calls + group.mock_calls == group.calls:
        return "free"
    text = money(group.cost)
    if group.unpriced_calls:
        text += f" + {group.unpriced_calls} unpriced"
    if group.unknown_calls:
        text += f" + {group.unknown_calls} unknown"
    return text


def _what_if_cell(group: Group, target: str) -> str:
    value = group.what_ifs.get(target)
    text = money(value) if value is not None else "-"
    if unpriced := group.what_if_unpriced.get(target, 0):
        text += f" + {unpriced} unpriced"
    return text


def render_table(report: Report) -> RenderableType:
    """A rich table of the report with a total line, and notes on unpriced calls and mappings."""
    from rich.console import Group as RichGroup
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    table = Table(title=report.title, title_justify="left", show_footer=True)
    caches = bool(report.total.cache_read_tokens or report.total.cache_write_tokens)
    if report.by == ("call",):
        for col in ("run", "step", "attempt", "provider", "model", "at"):
            table.add_column(col, footer="total" if col == "run" else "", no_wrap=True)
        table.add_column("in", justify="right", footer=_int(report.total.input_tokens))
        table.add_column("out", justify="right", footer=_int(report.total.output_tokens))
        if caches:
            table.add_column("cached", justify="right", footer=_int(report.total.cache_read_tokens))
        table.add_column("cost", justify="right", footer=_cost_cell(report.total))
        table.add_column("price", overflow="fold")
        for row in report.rows:
            cells = [
                row.run_id, row.step + ("" if row.item is None else f"[{row.item}]"),
                str(row.attempt) + (" (retry)" if row.retry else ""), row.provider, row.model or "-",
                row.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                _int(row.input_tokens), _int(row.output_tokens),
            ]  # fmt: skip
            if caches:
                cells.append(_int(row.cache_read_tokens))
            cells.append(money(row.cost) if row.cost is not None else "unpriced")
            cells.append(row.price)
            table.add_row(*cells)
    else:
        for i, name in enumerate(report.by):
            table.add_column(name, footer="total" if i == 0 else "", no_wrap=True)
        table.add_column("calls", justify="right", footer=_int(report.total.calls))
        table.add_column("retries", justify="right", footer=_int(report.total.retries))
        table.add_column("in", justify="right", footer=_int(report.total.input_tokens))
        table.add_column("out", justify="right", footer=_int(report.total.output_tokens))
        if caches:
            table.add_column("cached", justify="right", footer=_int(report.total.cache_read_tokens))
            table.add_column("cache write", justify="right", footer=_int(report.total.cache_write_tokens))
        table.add_column("cost", justify="right", footer=_cost_cell(report.total))
        for target in report.as_providers:
            table.add_column(f"as {target}", justify="right", footer=_what_if_cell(report.total, target))
        for group in report.groups:
            cells = [*group.key, _int(group.calls), _int(group.retries), _int(group.input_tokens),
                     _int(group.output_tokens)]  # fmt: skip
            if caches:
                cells += [_int(group.cache_read_tokens), _int(group.cache_write_tokens)]
            cells.append(_cost_cell(group))
            cells += [_what_if_cell(group, target) for target in report.as_providers]
            table.add_row(*cells)
    parts.append(table)
    if not report.rows:
        parts.append(Text("no metered calls in this selection", style="dim"))
    for entry in report.unpriced():
        parts.append(
            Text(
                f"unpriced: {entry['calls']} call{'' if entry['calls'] == 1 else 's'}"
                f" to {entry['model'] or '(no model)'} on"
                f" {entry['provider']} — {entry['reason']}; add a price with --prices FILE"
                " (see `podium prices`)",
                style="yellow",
            )
        )
    for m in report.mappings:
        arrow = f"{m.provider} {m.model or '-'} → {m.target} {m.target_model or '-'}"
        parts.append(Text(f"as {m.target}: {arrow} ({m.basis})", style="dim"))
    return RichGroup(*parts)


# --- the end of `podium run` --------------------------------------------------------------------


def run_cost_json(rows: Sequence[LedgerRow]) -> dict[str, Any]:
    """A run's cost for `--json`: total, per step, tokens in and out, retries, what is unpriced."""
    report = build_report(rows, ("step",))
    total = report.total.to_json()
    out: dict[str, Any] = {"currency": "USD", "total_usd": total.pop("cost_usd"), **total}
    out["complete"] = report.total.unpriced_calls == 0 and report.total.unknown_calls == 0
    out["steps"] = {
        g.key[0]: {k: v for k, v in g.to_json(("step",)).items() if k != "step"} for g in report.groups
    }
    out["unpriced"] = report.unpriced()
    return out


def run_summary(rows: Sequence[LedgerRow], order: Sequence[str] = ()) -> RenderableType:
    """The cost lines printed after a run: per step (model, calls, tokens in/out, cost) and total."""
    from rich.console import Group as RichGroup
    from rich.text import Text

    from podium.plugins.commands import FittedTable

    report = build_report(rows, ("step",))
    rank = {sid: i for i, sid in enumerate(order)}
    report.groups.sort(key=lambda g: rank.get(g.key[0], len(rank)))
    models: dict[str, list[str]] = {}
    for row in rows:
        names = models.setdefault(row.step, [])
        label = row.model or "-"
        if label not in names:
            names.append(label)
    lines = []
    for group in report.groups:
        retries = (
            f" ({group.retries} {'retry' if group.retries == 1 else 'retries'})" if group.retries else ""
        )
        lines.append(
            [group.key[0], ", ".join(models.get(group.key[0], [])), _int(group.calls) + retries,
             _int(group.input_tokens), _int(group.output_tokens), _cost_cell(group)]
        )  # fmt: skip
    footer = ["total", "", _int(report.total.calls), _int(report.total.input_tokens),
              _int(report.total.output_tokens), _cost_cell(report.total)]  # fmt: skip
    columns = [("step", "left"), ("model", "left"), ("calls", "right"), ("in", "right"),
               ("out", "right"), ("cost", "right")]  # fmt: skip
    # step names, counts and dollars never shrink: the model column gives way, then goes
    table = FittedTable(
        columns, lines, flex="model", most=40, footer=footer, title="cost", title_justify="left"
    )
    parts: list[Any] = [table]
    if report.total.cache_read_tokens or report.total.cache_write_tokens:
        parts.append(
            Text(
                f"cached tokens: {_int(report.total.cache_read_tokens)} read,"
                f" {_int(report.total.cache_write_tokens)} written",
                style="dim",
            )
        )
    for entry in report.unpriced():
        parts.append(
            Text(
                f"unpriced: {entry['calls']} call{'' if entry['calls'] == 1 else 's'}"
                f" to {entry['model'] or '(no model)'} on"
                f" {entry['provider']}: {entry['reason']}",
                style="yellow",
            )
        )
    unknown: dict[str, int] = {}
    for row in rows:
        if row.status == "unknown":
            unknown[row.provider] = unknown.get(row.provider, 0) + 1
    for provider, count in sorted(unknown.items()):
        parts.append(
            Text(
                f"usage unknown: {count} call{'' if count == 1 else 's'} on {provider} reported no token"
                " usage, so their cost is not known (the total is a lower bound)",
                style="yellow",
            )
        )
    mocked: dict[str, set[str]] = {}
    for row in rows:
        if row.status == "mock":
            mocked.setdefault(row.provider, set()).add(row.model or "(no model)")
    for provider, names in sorted(mocked.items()):
        parts.append(
            Text(
                f"mock replies to {', '.join(sorted(names))} on {provider} are not priced: map the"
                f" model{'s' if len(names) > 1 else ''} to real ones under providers.{provider}.models"
                " to see what the calls would cost",
                style="dim",
            )
        )
    return RichGroup(*parts)


# --- --since ------------------------------------------------------------------------------------

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|w)\s*$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | None, now: datetime | None = None, *, option: str = "--since") -> datetime | None:
    """`7d`, `24h`, `2w`, `30m` ago, or an ISO date (`2026-11-01`, UTC midnight) or time; a bad
    one is refused naming `option`."""
    if text is None:
        return None
    now = now or datetime.now(UTC)
    if match := _SINCE.match(text):
        try:
            return now - timedelta(seconds=float(match.group(1)) * _SECONDS[match.group(2)])
        except OverflowError:  # further back than year 1: all of it
            return datetime.min.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise BadInput(
                f"{option} {text}: not a duration or a date",
                fix=f"write e.g. {option} 7d, 24h, or 2026-11-01",
            ) from None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rows_sum(rows: Iterable[LedgerRow]) -> Decimal:
    return sum((r.cost for r in rows if r.cost is not None), ZERO)
