"""The price file format — podium's prices.yaml, `--prices FILE`, `podium.toml [prices]` — read and checked.

Every problem is reported at once, each naming the file, the line, the entry and the fix; only the
format is checked here (types, signs, dates, required keys). What needs the whole catalog — unknown
providers, overlapping dates — is checked by `PriceCatalog`.
"""

from __future__ import annotations

import contextlib
import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from podium.core.errors import BadInput, Problem

OVERLAY = "podium prices.yaml"
TOKEN_PRICES = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


class PriceFileError(BadInput):
    """A price file is invalid; `problems` lists every problem found, each with its entry."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in price file {self.problems[0].file}"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


# --- the file format (prices.yaml, --prices FILE, podium.toml [prices]) ---------------------------


def _money(value: Any) -> Any:
    """Decimal from a YAML/TOML scalar, without going through binary floating point."""
    if isinstance(value, bool):
        raise ValueError("must be a number of US dollars, not true/false")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip().lstrip("$"))
        except InvalidOperation:
            raise ValueError(f"must be a number of US dollars (got {value!r})") from None
    return value


Money = Annotated[Decimal, BeforeValidator(_money), Field(ge=0, allow_inf_nan=False)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dated(_Entry):
    effective_from: date = Field(description="First day (UTC) this price applies.")
    effective_to: date | None = Field(None, description="First day it no longer applies (exclusive).")
    source: str = Field(min_length=1, description="Where the price was published (a URL).")
    note: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> Dated:
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError(
                f"effective_to {self.effective_to} must be after effective_from {self.effective_from}"
            )
        return self


class ModelPriceEntry(Dated):
    """Dollars per million tokens of one model on one provider, from a date; or `same_as` another id."""

    provider: str
    model: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list, description="Other ids the cloud uses for it.")
    same_as: str | None = Field(None, description="Price it as this model id (a deployment name, say).")
    input_mtok: Money | None = None
    output_mtok: Money | None = None
    cache_read_mtok: Money | None = None
    cache_write_mtok: Money | None = None

    @model_validator(mode="after")
    def _priced(self) -> ModelPriceEntry:
        given = [k for k in TOKEN_PRICES if getattr(self, k) is not None]
        if self.same_as is not None and given:
            raise ValueError(f"give either same_as or prices ({', '.join(given)}), not both")
        if self.same_as is None and (self.input_mtok is None or self.output_mtok is None):
            raise ValueError("needs input_mtok and output_mtok (dollars per million tokens), or same_as")
        return self


class FeeEntry(Dated):
    """A charge per request or per session on top of tokens (an agent service's own fee)."""

    provider: str
    name: str = Field(min_length=1)
    per: Literal["request", "session"]
    usd: Money
    model: str = Field("*", description="A glob of the model ids it applies to.")
    service: Literal["agent", "model"] | None = Field(
        None,
        description="Only calls the provider marks so (CallFinished native.service); unset: every call.",
    )


class EquivalentModel(_Entry):
    model: str
    basis: Literal["same", "comparable"] = "same"


class EquivalentGroup(_Entry):
    """One model (or a class of comparable models) as each provider names it: the --as-provider table."""

    name: str
    models: dict[str, str | EquivalentModel]

    def member(self, provider: str) -> EquivalentModel | None:
        value = self.models.get(provider)
        if value is None:
            return None
        return EquivalentModel(model=value) if isinstance(value, str) else value


class PriceFile(_Entry):
    """A whole price file: the shipped overlay and user files share this format."""

    providers: dict[str, str | None] = Field(
        default_factory=dict,
        description="podium provider name → genai-prices provider id (null: the model's native provider).",
    )
    models: list[ModelPriceEntry] = Field(default_factory=list)
    fees: list[FeeEntry] = Field(default_factory=list)
    equivalents: list[EquivalentGroup] = Field(default_factory=list)


# --- reading files, with every problem located ---------------------------------------------------

Loc = tuple[str | int, ...]


def dotted(path: Loc) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _plain(node: Any, path: Loc, positions: dict[Loc, int]) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            sub = (*path, str(key))
            with contextlib.suppress(KeyError, TypeError):
                positions[sub] = node.lc.key(key)[0] + 1
            out[str(key)] = _plain(value, sub, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            with contextlib.suppress(KeyError, TypeError, IndexError):
                positions[(*path, i)] = node.lc.item(i)[0] + 1
            items.append(_plain(value, (*path, i), positions))
        return items
    if isinstance(node, str):
        return str(node)
    return node


class _Problems:
    def __init__(self, file: str, positions: Mapping[Loc, int], base: Loc = ()) -> None:
        self.file = file
        self.positions = positions
        self.base = base
        self.items: list[Problem] = []

    def line(self, path: Loc) -> int | None:
        probe = path
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return None

    def add(self, path: Loc, message: str, fix: str | None = None) -> None:
        self.items.append(
            Problem(self.file, dotted((*self.base, *path)), message, self.line(path), None, fix)
        )

    def raise_if_any(self) -> None:
        if self.items:
            self.items.sort(key=lambda p: p.line or 0)
            raise PriceFileError(self.items)


def _entry_label(data: Any, path: Loc) -> str:
    """'bedrock anthropic.claude-v2: ' so an error names the entry, not just its index."""
    if len(path) >= 2 and isinstance(path[1], int) and isinstance(data, dict):
        section = data.get(str(path[0]))
        if isinstance(section, list) and path[1] < len(section) and isinstance(section[path[1]], dict):
            item = section[path[1]]
            words = [str(item[k]) for k in ("provider", "model", "name") if item.get(k) is not None]
            if words:
                return f"{' '.join(dict.fromkeys(words))}: "
    return ""


_FIXES = {
    "greater_than_equal": "a price is dollars and cannot be negative",
    "decimal_parsing": "write the price as a number, e.g. 0.15",
    "value_error": None,
    "extra_forbidden": "remove it (or check its spelling)",
    "missing": "add it",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_parsing": "write the date as YYYY-MM-DD",
}


def _parse(data: Any, file: str, positions: Mapping[Loc, int], base: Loc = ()) -> PriceFile:
    problems = _Problems(file, positions, base)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add((), "a price file is a mapping with providers:, models:, fees:, equivalents:")
        problems.raise_if_any()
    try:
        parsed = PriceFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            # a union (str | EquivalentModel) reports each branch; keep the first
            loc = tuple(p for p in loc if p not in ("str", "EquivalentModel", "function-after[_dates()]"))
            message = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            if err["type"] not in ("missing", "value_error") and not isinstance(got, dict | list):
                message += f" (got {got!r})"
            fix = _FIXES.get(err["type"])
            if err["type"] == "extra_forbidden":
                message = f"unknown key '{loc[-1]}'"
            problems.add(loc, _entry_label(data, loc) + message, fix)
        problems.raise_if_any()
        raise AssertionError("unreachable") from None
    return parsed


def read_price_file(path: str | Path) -> PriceFile:
    """Read and check a YAML (or TOML) price file; raise PriceFileError naming each bad entry."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BadInput(
            f"cannot read price file {file}: {exc.strerror or exc}", fix="check the path given to --prices"
        ) from None
    if file.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PriceFileError([Problem(file, "", f"malformed TOML: {exc}")]) from None
        section = data.get("prices", data)
        return _parse(section, file, {}, ("prices",) if "prices" in data else ())
    return parse_price_text(text, file)


def parse_price_text(text: str, file: str) -> PriceFile:
    """Check YAML price text (`file` names it in errors)."""
    return _read_yaml(text, file)[0]


def _read_yaml(text: str, file: str) -> tuple[PriceFile, dict[Loc, int]]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from podium.core.loader.positions import yaml_reader

    try:
        node = yaml_reader().load(text)  # bounded depth and aliases, as a workflow file
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PriceFileError(
            [
                Problem(
                    file, "", f"malformed YAML: {exc.problem or exc.context}",
                    line=mark.line + 1 if mark else None,
                    fix="fix the YAML syntax at that line (indentation, quoting, a missing colon)",
                )
            ]
        ) from None  # fmt: skip
    except YAMLError as exc:
        raise PriceFileError([Problem(file, "", f"malformed YAML: {exc}")]) from None
    positions: dict[Loc, int] = {}
    return _parse(_plain(node, (), positions), file, positions), positions


@dataclass(frozen=True, slots=True)
class PriceSource:
    """One layer's file: its parsed content, and where each entry was written (for messages)."""

    file: str
    origin: str  # OVERLAY, or the user file's path
    content: PriceFile
    lines: Mapping[Loc, int] = field(default_factory=dict)
    digest: str = ""


def text_digest(text: str) -> str:
    """A price file's digest, as its layer of the catalog records it (in the catalog's fingerprint)."""
    return hashlib.sha256(text.encode()).hexdigest()


def load_source(path: Path, origin: str) -> PriceSource:
    """Read and check one price file (YAML, or TOML with a [prices] table) as a catalog layer."""
    text = path.read_text(encoding="utf-8")
    digest = text_digest(text)
    if path.suffix == ".toml":
        return PriceSource(str(path), origin, read_price_file(path), {}, digest)
    content, positions = _read_yaml(text, str(path))
    return PriceSource(str(path), origin, content, positions, digest)


def config_sources(config: Path) -> list[PriceSource]:
    """The price files `podium.toml`'s `[prices]` names (`files = [...]`) and its inline entries."""
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise BadInput(f"cannot read {config}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError([Problem(str(config), "", f"malformed TOML: {exc}")]) from None
    section = data.get("prices")
    if section is None:
        return []
    if not isinstance(section, dict):
        raise PriceFileError([Problem(str(config), "prices", "must be a table ([prices])")])
    section = dict(section)
    named = section.pop("files", None) or section.pop("file", None) or []
    named = [named] if isinstance(named, str) else named
    if not isinstance(named, list) or not all(isinstance(name, str) for name in named):
        problem = Problem(
            str(config),
            "prices.files",
            f"must be a price file's path or a list of them (got {named!r})",
            fix='write files = ["team-prices.yaml"] (paths are relative to podium.toml)',
        )
        raise PriceFileError([problem])
    sources = []
    for name in named:
        target = (config.parent / str(name)).resolve()
        if not target.is_file():
            raise BadInput(
                f"{config}: prices.files names {name}, which does not exist",
                fix="fix the path (it is relative to podium.toml)",
            )
        sources.append(load_source(target, str(target)))
    if section:
        content = _parse(section, str(config), {}, ("prices",))
        digest = hashlib.sha256(repr(sorted(section.items(), key=str)).encode()).hexdigest()
        sources.append(PriceSource(str(config), str(config), content, {}, digest))
    return sources


def line_of(source: PriceSource, loc: Loc) -> int | None:
    """The line an entry (or the nearest enclosing one) was written on, if known."""
    probe = loc
    while probe:
        if probe in source.lines:
            return source.lines[probe]
        probe = probe[:-1]
    return None


def where(source: PriceSource, loc: Loc) -> str:
    """'prices.yaml:25' (or the path and the entry, when lines are unknown): for sources and errors."""
    name = Path(source.file).name if source.origin == OVERLAY else source.file
    line = line_of(source, loc)
    return f"{name}:{line}" if line else f"{name} {dotted(loc)}"
