"""Starting `podium ui`: its settings checked (database, address, token), its port bound, uvicorn run.

The socket is bound here, before uvicorn starts, so that a port in use is a clear error (and
`--port 0` can say which port it got) rather than a log line from deep inside the server.
"""

from __future__ import annotations

import errno
import getpass
import ipaddress
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podium.core.errors import BadInput, ExtraMissing

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
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")


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
        allowed_hosts=tuple(dict.fromkeys((*allowed, host.strip("[]")))),
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry): say so on decisions
        return "unknown"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a port in use (or not ours to take) is bad input."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BadInput(
                f"port {port} on {host} is in use (another podium ui, or another server)",
                fix=f"choose another port: --port {port + 1 if port < 65535 else 8765}, or --port 0 for any"
                " free one",
            ) from None
        if exc.errno == errno.EACCES:
            raise BadInput(
                f"port {port} on {host} needs privileges this user does not have",
                fix="use a port above 1023, e.g. --port 8765",
            ) from None
        raise BadInput(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            fix="check --host names an address of this machine (e.g. 127.0.0.1)",
        ) from None
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(settings: UISettings, *, port: int, announce: Callable[[str], None]) -> None:
    """Serve the page until interrupted (Ctrl-C); `announce` is told the URL once it listens."""
    try:
        import uvicorn

        from podium.ui.app import create_app
    except ImportError as exc:
        raise ExtraMissing(
            f"podium ui needs Starlette and uvicorn ({exc.name or exc} is not installed)",
            fix="pip install 'podium[ui]'",
        ) from None
    app = create_app(settings)
    sock = bind(settings.host, port)
    try:
        announce(url_of(sock))
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
