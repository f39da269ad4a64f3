"""A real crash for the provider tests: `podium run` SIGKILLed while an emulator holds its call, then
`podium resume` in a new process.

The test's brain sets `entered` when the call to hold reaches it and waits on `release`; `killed_mid_call`
kills the run's process at that moment and releases the brain (its late answer goes to nobody).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from podium.providers._kit.brains import Turn

ROOT = Path(__file__).resolve().parents[1]


class HeldFirstCall:
    """An emulator brain whose first call hangs until `release` (its process is killed meanwhile);
    every later call answers "answer N", N counting every call the brain was asked."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.seen: list[Turn] = []

    def __call__(self, turn: Turn) -> str:
        self.seen.append(turn)
        if len(self.seen) == 1:
            self.entered.set()
            self.release.wait(30)
            return "too late"
        return f"answer {len(self.seen)}"


def podium_cli(*args: str, tmp_path: Path, **kw: Any) -> subprocess.Popen[str]:
    """`python -m podium ARGS` in its own process, its store `tmp_path/runs.db`."""
    env = {**os.environ, "PODIUM_DB": str(tmp_path / "runs.db"), "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "podium", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )  # fmt: skip


def killed_mid_call(path: Path, tmp_path: Path, entered: threading.Event, release: threading.Event) -> None:
    """Run the workflow at `path`, SIGKILL its process once the held call has `entered`, then `release` it."""
    running = podium_cli("run", str(path), "--json", tmp_path=tmp_path)
    try:
        if not entered.wait(60):
            raise AssertionError(
                running.stderr.read() if running.poll() is not None else "no call reached the brain"
            )
        os.kill(running.pid, signal.SIGKILL)
        running.wait(10)
    finally:
        release.set()
        if running.poll() is None:
            running.kill()
        running.communicate()
    assert running.returncode == -signal.SIGKILL


def resumed(run_id: str, tmp_path: Path) -> tuple[int, str, str]:
    """`podium resume RUN --json` in a new process: (exit code, stdout, stderr)."""
    process = podium_cli("resume", run_id, "--json", tmp_path=tmp_path)
    out, err = process.communicate(timeout=90)
    return process.returncode, out, err
