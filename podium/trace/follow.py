"""Live OTLP export from beside a run: a process that tails the run's events in its SQLite store and
sends the spans they end, so that the run's own process does nothing per event.

`FollowExport` is the run's side: it checks the settings, starts the follower (``python -m
podium.trace.follow``) before the run, and stops it after. The follower polls the store, folds the
events into spans (a `TraceFold`, priced and named by the installed plugins) and hands the spans
each event ended to a `SpanSender`, exactly as the in-process `LiveExport` does.

The OpenTelemetry SDK is imported by the follower only: `FollowExport` checks that it is installed
without importing it, so the run's process never loads it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from podium.core.errors import ExtraMissing
from podium.core.events import EventType
from podium.core.store.base import is_postgres_url
from podium.trace.otlp import traces_endpoint

if TYPE_CHECKING:
    from podium.core.store import RunStore

__all__ = ["FollowExport", "follow", "main", "resume_point"]

log = logging.getLogger("podium")

CHUNK = 1000  # events read at a time: a long run's backlog is folded without holding it all
FAST, SLOW = 0.05, 0.2  # seconds between polls: soon after events came, slower while none do
GRACE = 3.0  # seconds, beyond the flush's own bound, for the follower to start and read what is left
# the modules `FollowExport.start` looks for (found, not imported) before anything runs
_NEEDS = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")


# --- the run's side ------------------------------------------------------------------------------


def resume_point(store: RunStore, run_id: str) -> int:
    """The seq up to which a run about to be resumed was seen by its last process: the `after` for
    the resumed run's `FollowExport`.

    That is the run's last event, less the decisions `podium approve` / `reject` recorded while no
    process drove the run: their spans (the approval's) were sent by nobody yet, so the resumed
    run's follower sends them.
    """
    events = store.events(run_id)
    while events and events[-1].type is EventType.APPROVAL_DECIDED:
        events.pop()
    return events[-1].seq if events else 0


def checked_endpoint(endpoint: str | None, *, option: str = "--endpoint") -> str:
    """The collector's URL for `endpoint` (or the OTEL environment), if it is good and the OTLP
    exporter is installed; else BadInput (no endpoint, not an http(s) URL) or ExtraMissing, before
    anything runs. Imports nothing."""
    url = traces_endpoint(endpoint, option=option)
    for name in _NEEDS:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ExtraMissing(
                f"OTLP export needs the OpenTelemetry SDK and its OTLP/HTTP exporter ({name})",
                fix="pip install 'podium[otlp]'",
            )
    return url


class FollowExport:
    """Sends a run's spans to an OTLP/HTTP collector live, from a follower process that reads the
    run's events from its SQLite store; the run's process only starts and stops it.

    Make it and `start()` it before the run (a bad endpoint or a missing ``podium[otlp]`` extra
    raises then, before anything runs); `close()` it after the run returns: the follower reads the
    events left, sends their spans within about `timeout` seconds (at once to a collector known to
    be down) and exits. A collector that is down never fails or slows the run: the follower says
    once, on stderr, that this run's spans are dropped. If the run's process dies, the follower sees
    its stdin close and exits too.

    For a resumed run give `after`, the store's last seq before the resume
    (``store.last_seq(run_id)``): the follower folds the earlier events silently (so the spans that
    began before the resume end with the same ids) and sends only the spans that later events end.

        follower = FollowExport("runs.db", run_id, endpoint="http://127.0.0.1:4318")
        follower.start()
        try:
            podium.run("flow.yaml", store=SQLiteStore("runs.db"), run_id=run_id)
        finally:
            follower.close()
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        run_id: str,
        *,
        endpoint: str | None = None,
        content: bool = False,
        after: int = 0,
        schedule_delay: float = 0.5,
        stderr: IO[Any] | int | None = None,
    ) -> None:
        # the follower may start elsewhere: a file by its absolute path; a postgresql:// URL as it is
        self.db_path: str | Path = (
            str(db_path) if is_postgres_url(str(db_path)) else Path(db_path).expanduser().absolute()
        )
        self.run_id = run_id
        self.endpoint = endpoint
        self.content = content
        self.after = after
        self.schedule_delay = schedule_delay
        self.stderr = stderr  # where the follower's warnings go: this process's stderr by default
        self.url: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.sent: int | None = None  # what the follower reported when it exited (None: not known)
        self.dropped: int | None = None
        self.killed = False

    @property
    def pid(self) -> int | None:
        """The follower's process id, once started."""
        return None if self.process is None else self.process.pid

    def check(self) -> str:
        """The collector's URL, if the settings are good and the SDK is installed (`checked_endpoint`)."""
        return checked_endpoint(self.endpoint)

    def start(self) -> None:
        """Check the settings (see `check`) and start the follower; it runs until `close`."""
        if self.process is not None:
            return
        self.url = self.check()
        import podium

        env = dict(os.environ)
        # the URL goes by the environment, not the command line, where `ps` would show its tokens
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = self.url
        # the follower imports this very podium, wherever it was imported from
        here = str(Path(podium.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
        db = str(self.db_path)
        if isinstance(self.db_path, str):  # a database URL may hold a password: not on the command line
            env["PODIUM_FOLLOW_DB"], db = db, "env:PODIUM_FOLLOW_DB"
        args = [sys.executable, "-m", "podium.trace.follow", "--db", db, "--run", self.run_id]
        args += ["--after", str(self.after), "--schedule-delay", str(self.schedule_delay)]
        if self.content:
            args.append("--include-content")
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env
        )

    def close(self, timeout: float = 2) -> int | None:
        """Tell the follower to send the rest and exit; wait for it, boundedly; return its exit code.

        The follower sends within about `timeout` seconds; it is given `GRACE` seconds more to
        start up and read the events left, and is killed if it overstays (None is returned then).
        """
        proc = self.process
        if proc is None or proc.returncode is not None:
            return None if proc is None else proc.returncode
        try:
            out, _ = proc.communicate(f"stop {timeout}\n".encode(), timeout=timeout + GRACE)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            self.killed = True
            proc.kill()
            proc.communicate()
            return None
        self._read_report(out)
        return proc.returncode

    def _read_report(self, out: bytes) -> None:
        for line in reversed(out.decode(errors="replace").splitlines()):
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if isinstance(report, dict):
                self.sent, self.dropped = report.get("sent"), report.get("dropped")
                return

    def __enter__(self) -> FollowExport:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the follower --------------------------------------------------------------------------------


class _Stop:
    """The parent's word to stop, from stdin: a line ("stop SECONDS") or the end of stdin (the parent
    closed it, or died)."""

    def __init__(self, stream: IO[str], timeout: float) -> None:
        self.event = threading.Event()
        self.timeout = timeout
        self.stream = stream
        threading.Thread(target=self._listen, name="podium-follow-stdin", daemon=True).start()

    def _listen(self) -> None:
        try:
            line = self.stream.readline()
            parts = line.split()
            if len(parts) > 1:
                self.timeout = max(0.0, float(parts[1]))
        except (ValueError, OSError):
            pass
        self.event.set()


def follow(
    db_path: str | os.PathLike[str],
    run_id: str,
    *,
    stop: threading.Event,
    stop_timeout: Callable[[], float] | None = None,
    endpoint: str | None = None,
    content: bool = False,
    after: int = 0,
    schedule_delay: float = 0.5,
) -> tuple[int, int]:
    """Tail run `run_id`'s events in the SQLite store at `db_path` and send the spans they end, until
    `stop` is set; then read the events left, send their spans and return (sent, dropped).

    Events up to seq `after` are folded but their spans are not sent (an earlier process sent them).
    `stop_timeout()` gives the seconds the last spans may take (2 by default).
    """
    from podium.core.store.sqlite import SQLiteStore, open_store
    from podium.plugins.manager import load_plugins
    from podium.trace.export import provider_names, span_attributes
    from podium.trace.otlp import SpanSender
    from podium.trace.spans import TraceFold

    sender = SpanSender(endpoint, schedule_delay=schedule_delay)
    plugins = load_plugins()
    fold = TraceFold(
        content=content, attributes=span_attributes(plugins), provider_names=provider_names(plugins)
    )
    store: Any = None
    seq, delay, failed = 0, FAST, False
    try:
        if str(db_path).startswith("env:"):
            db_path = os.environ[str(db_path)[4:]]
        if is_postgres_url(str(db_path)):
            store = open_store(str(db_path))
        else:
            # the run's process makes the database; the follower only reads it (WAL: readers never
            # wait for the writer, nor it for them)
            path = Path(db_path)
            while not path.exists() and not stop.wait(FAST):
                pass
            store = SQLiteStore(path) if path.exists() else None
        while store is not None:
            final = stop.is_set()  # seen before reading: every event written before the word is read
            got = 0
            while True:
                events = store.events(run_id, after=seq, limit=CHUNK)
                for event in events:
                    try:
                        ended = fold.feed(event)
                        if event.seq > after:
                            sender.send(ended)
                    except Exception:  # one bad event must not end the export of the rest
                        if not failed:
                            failed = True
                            log.warning("otlp: live export of run %s failed on %s", run_id, event.type,
                                        exc_info=True)  # fmt: skip
                    seq = event.seq
                got += len(events)
                if len(events) < CHUNK:
                    break
            if final:
                break
            delay = FAST if got else min(delay * 2, SLOW)
            stop.wait(delay)
    finally:
        if store is not None:
            store.close()
        sender.close(2 if stop_timeout is None else stop_timeout())
    return sender.sent, sender.dropped


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m podium.trace.follow``: follow one run until stdin says stop (or closes)."""
    parser = argparse.ArgumentParser(prog="python -m podium.trace.follow", description=main.__doc__)
    parser.add_argument("--db", required=True, help="the run's SQLite store")
    parser.add_argument("--run", required=True, help="the run's id")
    parser.add_argument("--endpoint", default=None, help="the collector's OTLP/HTTP base URL")
    parser.add_argument("--include-content", action="store_true", help="send prompts and replies too")
    parser.add_argument("--after", type=int, default=0, help="send only spans ended after this seq")
    parser.add_argument("--schedule-delay", type=float, default=0.5, help="seconds between batches")
    args = parser.parse_args(argv)
    # Ctrl-C at a terminal reaches the whole process group: the run records its cancellation,
    # then tells the follower to stop, which sends those last events too
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(10)  # on a busy machine the run comes first; its spans can wait a moment
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    stop = _Stop(sys.stdin, 2.0)
    try:
        sent, dropped = follow(
            args.db, args.run, stop=stop.event, stop_timeout=lambda: stop.timeout, endpoint=args.endpoint,
            content=args.include_content, after=args.after, schedule_delay=args.schedule_delay,
        )  # fmt: skip
    except Exception as exc:  # the run goes on whatever happens here; say why its spans stopped
        log.warning("otlp: live export of run %s stopped: %s", args.run, exc)
        return 1
    with contextlib.suppress(OSError):  # a parent that is gone reads no report
        print(json.dumps({"sent": sent, "dropped": dropped}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
