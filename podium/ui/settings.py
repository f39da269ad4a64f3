"""What one `podium ui` serves, and to whom: its settings, checked (the database, the address, the token)."""

from __future__ import annotations

import getpass
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from podium.core.errors import BadInput

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class UISettings:
    """What one `podium ui` serves, and to whom.

    `token`: when set, every visitor logs in once with it (and a name, recorded as `by` on their
    decisions); when not, the page is for this machine's user only (`user`, the OS user).
    `secret` signs the session cookies: new at each start, so a restart logs everyone out.
    """

    db: Path
    host: str = "127.0.0.1"
    token: str | None = None
    user: str = "unknown"
    secret: str = ""
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether `host` is an address only this machine can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def settings_for(*, db: str | Path | None, host: str, token: str | None) -> UISettings:
    """The settings of `podium ui --db --host --token`, checked: the database exists (it is never
    created empty), and an address off this machine has a token."""
    from podium.core.store import default_db_path, open_store

    path = Path(db).expanduser() if db else default_db_path()
    if not path.is_file():
        where = "--db" if db else "$PODIUM_DB" if os.environ.get("PODIUM_DB") else "the default"
        raise BadInput(
            f"no run database at {path} ({where}); podium ui does not create an empty one",
            fix="point --db (or $PODIUM_DB) at the file your runs went to, or run a workflow first"
            " (podium run FLOW.yaml) to create it",
        )
    open_store(path).close()  # a file that is not a run database fails here, with the store's message
    token = token or None
    if not is_loopback(host) and token is None:
        raise BadInput(
            f"--host {host} lets other machines reach this page, which can approve steps; it needs a token",
            fix="set PODIUM_UI_TOKEN (or pass --token) to a long random secret, or keep --host 127.0.0.1",
        )
    if token is not None and len(token) < 8:
        raise BadInput("the ui token is too short to guess-proof the page", fix="use at least 8 characters")
    allowed = LOOPBACK_NAMES if is_loopback(host) else ("*",)
    return UISettings(
        db=path.resolve(),
        host=host,
        token=token,
        user=_os_user(),
        secret=secrets.token_urlsafe(32),
        allowed_hosts=tuple(dict.fromkeys(_host_header(h) for h in (*allowed, host))),
    )


def _host_header(host: str) -> str:
    """How a browser names `host` in its Host header: an IPv6 address in brackets (`[::1]`), as
    Starlette's host check compares it."""
    bare = host.strip("[]")
    try:
        return f"[{bare}]" if ipaddress.ip_address(bare).version == 6 else bare
    except ValueError:
        return bare


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry): say so on decisions
        return "unknown"
