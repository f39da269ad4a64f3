"""For commands, podium's own and plugins': podium's errors as a message, a fix and an exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click


def fail(exc: BaseException) -> NoReturn:
    """Print a user-facing error (a traceback only with `podium --debug`) and exit with its code."""
    from podium.core.errors import PodiumError

    context = click.get_current_context(silent=True)
    debug = bool(context and context.find_root().params.get("debug"))
    if debug or not isinstance(exc, PodiumError):
        raise exc
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a click command so a PodiumError ends it with `fail` (2 for bad input, else 1)."""
    from podium.core.errors import PodiumError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import sqlite3

        try:
            return fn(*args, **kwargs)
        except PodiumError as exc:
            fail(exc)
        except sqlite3.OperationalError as exc:  # e.g. another process holds the write lock
            fail(
                PodiumError(
                    f"the run database is busy or unusable: {exc}",
                    fix="another podium process may be holding it: try again, or stop that process",
                )
            )

    return wrapper


def echo_json(data: Any) -> None:
    """Print data as indented JSON (what every `--json` option prints)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def parse_pairs(pairs: tuple[str, ...], option: str, example: str) -> dict[str, str]:
    """`NAME=VALUE` options (`-i`, `--field`, `--set`) as a dict; a malformed one is bad input."""
    from podium.core.errors import InputError

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} {pair}: expected name=value", fix=f"write e.g. {option} {example}")
        out[key.strip()] = value
    return out
