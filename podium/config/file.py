"""Find and read ``podium.toml``: the workflow's folder and upwards, then ``~/.podium/``; errors located."""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from podium.config.checks import check_config, model_problems
from podium.config.lines import key_lines
from podium.config.model import ConfigFile
from podium.core.errors import BadInput, ConfigError, Problem
from podium.core.loader.problems import _Problems

CONFIG_FILE = "podium.toml"


def home_config() -> Path:
    """``~/.podium/podium.toml``: a person's own profiles, used when no folder has a podium.toml."""
    return Path.home() / ".podium" / CONFIG_FILE


def find_config(start: Path) -> Path | None:
    """The podium.toml that serves a workflow in `start`: the nearest in `start` or a folder above
    it, else ``~/.podium/podium.toml``; None when there is none."""
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    home = home_config()
    return home if home.is_file() else None


def looked_in(start: Path) -> str:
    """Where `find_config` looks, for a message saying it found nothing."""
    return f"{start.resolve()} and the folders above it, then {home_config()}"


# what to do about tomllib's complaints, by the words they start with
_SYNTAX_FIXES = (
    ("Invalid value", 'quote text: write key = "value" (numbers and true/false go bare)'),
    ("Cannot declare", "each table once: merge the two [sections] into one"),
    ("Cannot overwrite", "each key once per table: remove one of the two"),
    ("Expected '=' after a key", 'write each setting as key = value, e.g. region = "eu-west-1"'),
    ("Invalid statement", 'write each setting as key = value, e.g. region = "eu-west-1"'),
    ("Unclosed", "close the string, table or array that this line opens"),
)


def _syntax_problem(file: str, exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    line = column = None
    if "(at line " in message:  # tomllib: "Invalid value (at line 3, column 10)"
        message, _, where = message.rpartition(" (at line ")
        head, _, tail = where.rstrip(")").partition(", column ")
        line, column = int(head), int(tail) if tail.isdigit() else None
    elif message.endswith("(at end of document)"):
        message = message.removesuffix(" (at end of document)")
    fix = next((f for start, f in _SYNTAX_FIXES if message.startswith(start)), None)
    return Problem(
        file,
        "",
        f"not valid TOML: {message}",
        line,
        column,
        fix or "see https://toml.io: key = value lines under [profiles.NAME] tables",
    )


def parse_config(
    text: str,
    *,
    file: str = CONFIG_FILE,
    providers: Collection[str] | None = None,
    provider_configs: Mapping[str, type[BaseModel]] | None = None,
    provider_bindings: Mapping[str, type[BaseModel]] | None = None,
) -> ConfigFile:
    """Parse and check a podium.toml's text; ConfigError lists every problem with file, line and fix.

    `providers`, `provider_configs` and `provider_bindings` are the installed providers' names,
    settings models and binding models, as for a workflow (checks against what is not given are skipped).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, exc)]) from None
    except RecursionError:  # tomllib reads nested arrays and tables recursively, with no limit of its own
        raise ConfigError(
            [Problem(file, "", "the TOML nests too deep to read", fix="flatten its nested arrays and tables")]
        ) from None
    lines = key_lines(text)
    problems = _Problems(file, lines)  # type: ignore[arg-type]
    try:
        config = ConfigFile.model_validate(data)
    except ValidationError as exc:
        model_problems(exc, problems)
        # unknown keys alone: drop them and go on, so that one pass reports the other problems too
        if any(e["type"] != "extra_forbidden" for e in exc.errors()):
            raise ConfigError(_sorted(problems)) from None
        for err in exc.errors():
            parent: Any = data
            for part in err["loc"][:-1]:
                parent = parent[part]
            parent.pop(err["loc"][-1], None)
        config = ConfigFile.model_validate(data)
    config._lines = lines
    check_config(config, problems, providers, provider_configs, provider_bindings)
    if problems.items:
        raise ConfigError(_sorted(problems))
    return config


def _sorted(problems: _Problems) -> list[Problem]:
    return sorted(problems.items, key=lambda p: (p.line or 0, p.column or 0))


def read_config(
    path: str | Path,
    *,
    providers: Collection[str] | None = None,
    provider_configs: Mapping[str, type[BaseModel]] | None = None,
    provider_bindings: Mapping[str, type[BaseModel]] | None = None,
) -> ConfigFile:
    """Read and check a podium.toml file (see `parse_config`)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(
            f"{path}: no such file", fix="check the path given to --config, or create the podium.toml"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"{path}: cannot read it ({exc})", fix="give the path of a podium.toml text file"
        ) from None
    config = parse_config(
        text,
        file=str(path),
        providers=providers,
        provider_configs=provider_configs,
        provider_bindings=provider_bindings,
    )
    config._path = file.resolve()
    return config
