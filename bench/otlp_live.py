"""What live OTLP export adds to a run: the same chain with and without export, to a collector.

In memory, the export is `LiveExport` in the run's process. Into a SQLite store (as `podium run`
does) it is either that or `FollowExport`: a follower process that tails the store. The collector
is a small OTLP/HTTP receiver (it reads each request and answers 200, as a collector does) in a
process of its own, as a real one would be, so its work does not share this process's GIL. A dead
collector is a port nothing listens on. The figure is the run's time (`Engine.run`); starting the
follower and closing the export (sending what is still queued) are timed apart.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from itertools import count
from pathlib import Path
from typing import Literal

import podium_side
from workloads import Chain

from podium.core.clock import new_run_id
from podium.core.engine import Engine
from podium.core.store import MemoryStore, SQLiteStore
from podium.plugins.manager import load_plugins
from podium.trace.follow import FollowExport
from podium.trace.otlp import LiveExport

# the receiver, run by `python -c` in a process of its own: it reads each request, answers 200
_COLLECTOR = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Collector(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Collector).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def collector() -> tuple[str, subprocess.Popen[bytes]]:
    """A receiver on 127.0.0.1 in a process of its own; its URL, once it answers."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", _COLLECTOR, str(port)])
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
        except OSError:
            time.sleep(0.05)
    return f"http://127.0.0.1:{port}", proc


def runner(
    chain: Chain, endpoint: str | None, closes: list[float], runs: list[tuple[int, int]]
) -> Callable[[], Awaitable[float]]:
    """A timed run of `chain`: with a LiveExport to `endpoint` (None: without); each close's time
    goes to `closes`, and the spans each export sent and dropped to `runs`."""

    async def run() -> float:
        wf = podium_side.workflow(chain)
        plugins = load_plugins(entry_points_too=False)
        live = LiveExport(endpoint) if endpoint else None
        if live is not None:
            plugins.register(live, name="otlp-live")
        engine = Engine(plugins=plugins, store=MemoryStore())
        started = time.perf_counter()
        result = await engine.run(wf, {})
        took = time.perf_counter() - started
        assert result.ok, result.error
        if live is not None:
            closing = time.perf_counter()
            live.close()
            closes.append(time.perf_counter() - closing)
            runs.append((live.sent, live.dropped))
        return took

    return run


def dead_endpoint() -> str:
    return f"http://127.0.0.1:{_free_port()}"


_files = count()


def sqlite_runner(
    chain: Chain,
    tmp: Path,
    how: Literal["none", "in-process", "follower"],
    endpoint: str | None,
    times: dict[str, list[float]],
    runs: list[tuple[int, int]],
) -> Callable[[], Awaitable[float]]:
    """A timed run of `chain` into a fresh SQLite store (WAL, the store's defaults), as `podium run`
    makes one: without export, with a `LiveExport` in this process, or with a `FollowExport`
    follower process, to `endpoint`. Starting and closing the export go to `times["start"]` and
    `times["close"]`; the spans sent and dropped to `runs` (a follower's as it reports them)."""

    async def run() -> float:
        wf = podium_side.workflow(chain)
        plugins = load_plugins(entry_points_too=False)
        path = tmp / f"otlp-{next(_files)}.db"
        store = SQLiteStore(path)
        run_id = new_run_id()
        live = LiveExport(endpoint) if how == "in-process" else None
        follower = FollowExport(path, run_id, endpoint=endpoint) if how == "follower" else None
        if live is not None:
            plugins.register(live, name="otlp-live")
        engine = Engine(plugins=plugins, store=store)
        if follower is not None:
            starting = time.perf_counter()
            follower.start()
            times["start"].append(time.perf_counter() - starting)
        started = time.perf_counter()
        result = await engine.run(wf, {}, run_id=run_id)
        took = time.perf_counter() - started
        assert result.ok, result.error
        closing = time.perf_counter()
        if live is not None:
            live.close()
            runs.append((live.sent, live.dropped))
        if follower is not None:
            follower.close()
            runs.append((follower.sent or 0, follower.dropped or 0))
        if how != "none":
            times["close"].append(time.perf_counter() - closing)
        store.close()
        for file in tmp.glob(path.name + "*"):
            file.unlink()
        return took

    return run
