"""Helpers for the lease tests: a workflow whose `async def` agent blocks the event loop on a latch,
and `podium` run in processes of its own against one database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

AGENTS = '''
"""An `async def` agent with the user's bug: a blocking wait (time.sleep) while `hold-<step>` exists."""

import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def blocking(prompt, step):
    with open(HERE / "calls.log", "a") as log:
        log.write(f"{step} {os.getpid()}\\n")
    hold = HERE / f"hold-{step}"
    if hold.exists():
        (HERE / f"entered-{step}").touch()
        while hold.exists():
            time.sleep(0.01)  # blocks the event loop: no await
    return step
'''

FLOW = """\
name: blocked
agents:
  a: {function: blocking_agents:blocking}
steps:
  s1: {agent: a, prompt: "one"}
  s2: {agent: a, needs: s1, prompt: "two"}
  s3: {agent: a, needs: s2, prompt: "three"}
"""


def workspace(tmp_path: Path) -> Path:
    (tmp_path / "blocking_agents.py").write_text(AGENTS, encoding="utf-8")
    (tmp_path / "flow.yaml").write_text(FLOW, encoding="utf-8")
    return tmp_path


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "PODIUM_DB"}
    out.update(NO_COLOR="1", PYTHONUNBUFFERED="1", COLUMNS="200", **extra)
    return out


def podium(cwd: Path, *args: str, environ: dict[str, str], **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "podium", *args, "--db", str(cwd / "runs.db")],
        cwd=cwd, env=environ, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,
    )  # fmt: skip


def sql(db: Path, query: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(query).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        con.close()


def calls(cwd: Path) -> list[str]:
    log = cwd / "calls.log"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value
