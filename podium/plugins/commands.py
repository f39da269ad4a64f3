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

    if _debugging() or not isinstance(exc, PodiumError):
        raise exc
    _error(str(exc), exc.exit_code)


def _debugging() -> bool:
    """Whether the command runs under `podium --debug` (errors then raise, with their traceback)."""
    context = click.get_current_context(silent=True)
    return bool(context and context.find_root().params.get("debug"))


def _error(text: str, code: int) -> NoReturn:
    from podium.core.redact import redact_message
    from podium.plugins.terminal import printable

    click.echo(f"error: {printable(redact_message(text))}", err=True)
    sys.exit(code)


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
        except sqlite3.Error as exc:  # busy, read-only, damaged, full: say which, and of what file
            from podium.core.store.faults import store_error

            fail(store_error(exc, _db_path()))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # click's own: usage errors, --help, an abort
        except Exception as exc:  # a bug in podium or a plugin: say so in a line, keep the trace for --debug
            _internal(exc)

    return wrapper


def _internal(exc: Exception) -> NoReturn:
    if _debugging():
        raise exc
    _error(
        f"internal: {type(exc).__name__}: {exc}\n"
        "  this is a bug: the same command after `podium --debug` shows where; report it",
        1,
    )


def _db_path() -> str:
    """The run database the current command uses: its --db, else the default."""
    from podium.core.store import default_db_path

    context = click.get_current_context(silent=True)
    db = context.params.get("db") if context is not None else None
    return str(db) if db else str(default_db_path())


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


class FittedTable:
    """A table laid out for the width it is printed at, for podium's commands and plugins' alike.

    The columns named in `flex` (at most one is wise) take what room is left after the others,
    which never shrink: names, statuses, counts and dollars stay whole. A flex column narrower than
    `least` is dropped rather than cut to a few letters. Rows are plain strings or rich Text.
    """

    def __init__(
        self,
        columns: list[tuple[str, str]],
        rows: list[list[Any]],
        *,
        flex: str,
        least: int = 8,
        most: int = 60,
        footer: list[str] | None = None,
        optional: tuple[str, ...] = (),
        **table: Any,
    ) -> None:
        self.columns = columns
        self.rows = rows
        self.flex = flex
        self.least = least
        self.most = most
        self.footer = footer
        self.optional = optional  # dropped in this order, after the flex column, until the rest fits
        self.table = table

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.table import Table

        def width(cell: Any) -> int:
            return len(getattr(cell, "plain", cell) or "")

        cells = [*self.rows, *([self.footer] if self.footer else [])]
        widths = [max([len(name), *(width(r[i]) for r in cells)]) for i, (name, _) in enumerate(self.columns)]
        names = [name for name, _ in self.columns]
        flex = names.index(self.flex)
        keep = [i for i in range(len(names)) if i != flex]
        for name in self.optional:  # too wide even without the flex column: the optional ones go
            if sum(widths[i] for i in keep) + 3 * (len(keep) + 1) + 1 <= options.max_width:
                break
            keep.remove(names.index(name))
        spare = options.max_width - sum(widths[i] for i in keep) - 3 * (len(keep) + 2) - 1
        room = min(widths[flex], spare, self.most)
        if room >= self.least:
            keep = sorted([*keep, flex])
        table = Table(expand=False, show_footer=self.footer is not None, **self.table)
        for i in keep:
            name, justify = self.columns[i]
            footer = self.footer[i] if self.footer else ""
            if i == flex:
                table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=room, footer=footer)
            else:
                table.add_column(name, justify=justify, no_wrap=True, min_width=widths[i], footer=footer)  # type: ignore[arg-type]
        for row in self.rows:
            table.add_row(*(row[i] for i in keep))
        yield table
