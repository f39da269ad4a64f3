"""Resuming a run from the page: `podium resume RUN --db DB` in a worker process of its own.

It is the command line's own resume (what `podium approve --resume` runs), so a run resumed from
the page is driven exactly as one resumed at a terminal: it takes the run's lease, and keeps
going if the page's server stops. What it prints goes to a log file the page names.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Worker:
    pid: int
    log: Path


class Workers:
    """The resume workers this server started (reaped as they end, so none lingers as a zombie)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._running: list[subprocess.Popen[bytes]] = []

    def resume(self, run_id: str) -> Worker:
        """Start `podium resume RUN` on this server's database; returns its pid and log file."""
        logs = Path(tempfile.gettempdir()) / "podium-ui"
        logs.mkdir(exist_ok=True)
        log = logs / f"resume-{run_id}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "podium", "resume", run_id, "--db", str(self.db), "--quiet"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NO_COLOR": "1"},
                start_new_session=True,  # a Ctrl-C to the server leaves the run's worker to finish
            )
        with self._lock:
            self._running = [p for p in self._running if p.poll() is None]
            self._running.append(process)
        return Worker(process.pid, log)
