"""Shell completion of run ids and step ids, through click's own completion mechanism.

Completing must be quick and must change nothing: the run database is opened read-only (a missing
one completes nothing, and is not created), and any fault completes nothing rather than printing a
traceback into the user's prompt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

from click.shell_completion import CompletionItem

from podium.core.store.base import default_db_path
from podium.core.store.index import like_prefix

SHELLS = ("bash", "zsh", "fish")
MOST = 50  # runs offered at once: newest first


@contextmanager
def _read_only(ctx: Any) -> Iterator[sqlite3.Connection | None]:
    db = ctx.params.get("db") or (ctx.parent.params.get("db") if ctx.parent else None)
    path = Path(db).expanduser() if db else default_db_path()
    if not path.is_file():
        yield None
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        yield None
        return
    with closing(conn):
        yield conn


def run_ids(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """Run ids starting with `incomplete`, newest first, each with its workflow and status."""
    with suppress(sqlite3.Error), _read_only(ctx) as conn:
        if conn is None:
            return []
        rows = conn.execute(
            "SELECT run_id, workflow, status FROM runs WHERE run_id LIKE ? ESCAPE '\\'"
            " ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (like_prefix(incomplete), MOST),
        ).fetchall()
        return [CompletionItem(r, help=f"{w} · {s}") for r, w, s in rows]
    return []


def step_ids(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """The steps of the run named earlier on the line (`show RUN --step …`)."""
    return _steps(ctx, incomplete, waiting_only=False)


def waiting_steps(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """The steps of the run named earlier on the line that wait for a decision (`approve RUN …`)."""
    return _steps(ctx, incomplete, waiting_only=True)


def _steps(ctx: Any, incomplete: str, *, waiting_only: bool) -> list[CompletionItem]:
    # completing an option's value (`show RUN --step …`), click leaves the arguments unparsed in args
    run_id = ctx.params.get("run_id") or next((a for a in ctx.args if not a.startswith("-")), None)
    if not run_id:
        return []
    rows: list[tuple[str, str]] = []
    with suppress(sqlite3.Error), _read_only(ctx) as conn:
        if conn is None:
            return []
        full = conn.execute(
            "SELECT run_id FROM runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\'"
            " ORDER BY run_id = ? DESC LIMIT 2",
            (run_id, like_prefix(run_id), run_id),
        ).fetchall()
        if len(full) != 1 and (not full or full[0][0] != run_id):
            return []  # no such run, or a prefix naming several
        rows = conn.execute(
            "SELECT step, type FROM events WHERE run_id = ? AND step IS NOT NULL ORDER BY seq",
            (full[0][0],),
        ).fetchall()
    waiting: dict[str, bool] = {}
    for step, kind in rows:
        if kind == "ApprovalRequested":
            waiting[step] = True
        elif kind in ("ApprovalDecided", "StepSucceeded", "StepFailed", "StepSkipped", "StepRejected"):
            waiting[step] = False
        else:
            waiting.setdefault(step, False)
    return [
        CompletionItem(step, help="waiting for a decision" if wait else None)
        for step, wait in waiting.items()
        if step.startswith(incomplete) and (wait or not waiting_only)
    ]
