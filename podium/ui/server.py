"""Starting `podium ui`: its port bound, then uvicorn run on it.

The socket is bound here, before uvicorn starts, so that a port in use is a clear error (and
`--port 0` can say which port it got) rather than a log line from deep inside the server.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from podium.core.errors import BadInput, ExtraMissing
from podium.ui.settings import UISettings


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
