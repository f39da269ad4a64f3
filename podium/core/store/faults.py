"""What a SQLite failure means to the user: busy, read-only, damaged, full, or not there at all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from podium.core.errors import DatabaseFault, StoreError

_HEADER = b"SQLite format 3\x00"
_ELSEWHERE = "or point --db (or PODIUM_DB) at another database"


def looks_like_sqlite(path: Path) -> bool:
    """Whether the file starts as every SQLite database does (so a failure to read it is damage)."""
    try:
        with path.open("rb") as file:
            return file.read(len(_HEADER)) == _HEADER
    except OSError:
        return False


def store_error(exc: sqlite3.Error, path: Path | str) -> StoreError:
    """`exc`, raised using the run database at `path`, as an error that says what to do."""
    text = str(exc)
    lowered = text.lower()
    where = Path(path)
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(
            f"{where} is read-only: podium can list and show its runs, but not record new events",
            fix=f"make it and its folder writable (chmod u+w {where} {where.parent}), {_ELSEWHERE}",
        )
    if "locked" in lowered or "busy" in lowered:
        return StoreError(
            f"the run database {where} is busy: another process held its write lock too long ({text})",
            fix="try again; if it stays busy, stop the other podium process using it",
        )
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        if "not a database" in lowered and not looks_like_sqlite(where):
            return StoreError(
                f"{where}: cannot use this file as a podium database: it is not a SQLite database;"
                " nothing was changed",
                fix="point --db (or PODIUM_DB) at a podium database, or at a new path",
            )
        return DatabaseFault(
            f"the run database {where} is damaged ({text})",
            fix=f"restore it from a backup, or recover what is readable with"
            f" `sqlite3 {where} .recover | sqlite3 recovered.db`, {_ELSEWHERE}",
        )
    if "full" in lowered:
        return DatabaseFault(
            f"the disk holding the run database {where} is full ({text})",
            fix="free some space (`podium gc` removes old runs), then resume the run",
        )
    if "unable to open" in lowered:
        return StoreError(
            f"cannot open the run database {where} ({text})",
            fix=f"check that its folder exists and is readable and writable, {_ELSEWHERE}",
        )
    return DatabaseFault(f"the run database {where} failed: {text}", fix=f"check the disk, {_ELSEWHERE}")
