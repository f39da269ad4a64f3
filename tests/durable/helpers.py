"""Helpers for the durable-run tests: real `podium` subprocesses, real SIGKILLs, a store read from outside.

Every workflow here uses python-function agents from `durable_agents.py`, written next to the
workflow file. Each call appends a JSON line to `calls.log` in that directory ("start" when the
function is entered, "done" just before it returns), so a test can count what really ran,
independently of what podium recorded. A call blocks while a file `hold-<step>` (or
`hold-<step>.<item>`) exists, after touching `entered-<step>`: that is the latch a test uses to
kill a process mid-call at a known point.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGENTS = '''
"""Function agents for the durable tests: each call is logged, can be held, and reports usage."""

import hashlib
import json
import os
import time
from pathlib import Path

from podium.core.calls import AgentResponse, Usage

HERE = Path(__file__).resolve().parent


def _name(step, index):
    return step if index is None else f"{step}.{index}"


def _log(kind, step, index, run_id, **extra):
    line = json.dumps(
        {"kind": kind, "step": step, "index": index, "run_id": run_id, "pid": os.getpid(), **extra}
    )
    fd = os.open(HERE / "calls.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


def _hold(step, index):
    name = _name(step, index)
    hold = HERE / f"hold-{name}"
    if hold.exists():
        (HERE / f"entered-{name}").touch()
        while hold.exists():
            time.sleep(0.005)


def _delay():
    return float(os.environ.get("DURABLE_DELAY", "0"))


def work(prompt, step, run_id, index=None, item=None):
    """A deterministic agent: its reply depends on the prompt only, and so does its usage."""
    _log("start", step, index, run_id)
    _hold(step, index)
    if _delay():
        time.sleep(_delay())
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    text = f"{step}" + ("" if item is None else f"[{item}]") + f"#{digest}"
    _log("done", step, index, run_id)
    return AgentResponse(
        text=text, usage=Usage(input_tokens=len(prompt), output_tokens=len(text) + 1000)
    )


def echo(prompt, step, run_id):
    """Replies with the prompt itself."""
    _log("start", step, None, run_id)
    _hold(step, None)
    _log("done", step, None, run_id)
    return prompt


def kilobyte(prompt, step, run_id):
    """A 1 KB reply."""
    _log("done", step, None, run_id)
    return (step + ":" + "x" * 1024)[:1024]


def boom(prompt, step, run_id):
    """Always fails."""
    _log("start", step, None, run_id)
    _log("done", step, None, run_id)
    raise ValueError(f"{step} exploded")


def sleepy(prompt, step, run_id):
    """A long call (30 s), in small sleeps."""
    _log("start", step, None, run_id)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.01)
    _log("done", step, None, run_id)
    return "slept"
'''

# A chain of four, a fan-out of two steps and a foreach of three items, a join, and a chain of two:
# ten steps, twelve calls. Every prompt depends on what came before, so a wrong output after a
# resume changes every later prompt, the final output and the summed usage.
FLOW = """\
name: durable
defaults: {retry: {attempts: 1}}
agents:
  w: {function: durable_agents:work}
steps:
  s1: {agent: w, prompt: "begin"}
  s2: {agent: w, needs: s1, prompt: "{{ steps.s1.output }} > s2"}
  s3: {agent: w, needs: s2, prompt: "{{ steps.s2.output }} > s3"}
  s4: {agent: w, needs: s3, prompt: "{{ steps.s3.output }} > s4"}
  fa: {agent: w, needs: s4, prompt: "{{ steps.s4.output }} > fa"}
  fb: {agent: w, needs: s4, prompt: "{{ steps.s4.output }} > fb"}
  each: {agent: w, needs: s4, foreach: [x, y, z], prompt: "{{ steps.s4.output }} > {{ item }}"}
  join:
    agent: w
    needs: [fa, fb, each]
    prompt: "{{ steps.fa.output }} + {{ steps.fb.output }} + {{ steps.each.output | join(',') }}"
  s9: {agent: w, needs: join, prompt: "{{ steps.join.output }} > s9"}
  s10: {agent: w, needs: s9, prompt: "{{ steps.s9.output }} > s10"}
outputs:
  final: "{{ steps.s10.output }}"
  each: "{{ steps.each.output }}"
"""
STEPS = ["s1", "s2", "s3", "s4", "fa", "fb", "each", "join", "s9", "s10"]
CALL_KEYS: list[tuple[str, int | None]] = [(s, None) for s in STEPS if s != "each"] + [
    ("each", i) for i in range(3)
]


# Byte-code of podium, compiled once for the ~150 `podium` processes these tests start (the
# environment may say PYTHONDONTWRITEBYTECODE; the sources' own directories are left alone).
PYCACHE = Path(tempfile.gettempdir()) / "podium-durable-tests-pycache"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PODIUM_DB", "PYTHONDONTWRITEBYTECODE")}
    env["NO_COLOR"] = env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


@dataclass
class Workspace:
    """A directory with a workflow, its agents module and a database; runs `podium` against them."""

    dir: Path
    db: Path
    env: dict[str, str] = field(default_factory=subprocess_env)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    # --- files ---------------------------------------------------------------------------------

    def write(self, text: str, name: str = "flow.yaml") -> Path:
        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        return path

    def hold(self, name: str) -> None:
        (self.dir / f"hold-{name}").touch()

    def release(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.dir / f"hold-{name}").unlink()

    def entered(self, name: str) -> bool:
        return (self.dir / f"entered-{name}").exists()

    def calls(self) -> list[dict[str, Any]]:
        path = self.dir / "calls.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def done(self) -> Counter[tuple[str, int | None]]:
        """How many times each (step, item) call ran to completion."""
        return Counter((c["step"], c["index"]) for c in self.calls() if c["kind"] == "done")

    # --- processes -----------------------------------------------------------------------------

    def argv(self, *args: str, db: Path | None = None) -> list[str]:
        return [sys.executable, "-m", "podium", *args, "--db", str(db or self.db)]

    def podium(
        self, *args: str, timeout: float = 60, env: dict[str, str] | None = None, db: Path | None = None
    ) -> Result:
        done = subprocess.run(
            self.argv(*args, db=db), cwd=self.dir, env=env or self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        return Result(done.returncode, done.stdout, done.stderr)

    def podium_json(self, *args: str, timeout: float = 60) -> tuple[Result, Any]:
        result = self.podium(*args, "--json", timeout=timeout)
        try:
            data = json.loads(result.stdout)
        except ValueError:
            raise AssertionError(
                f"not JSON (exit {result.code}): {result.stdout!r} {result.stderr!r}"
            ) from None
        return result, data

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """The same command line, in this process (for checks where no process boundary matters)."""
        import traceback

        from click.testing import CliRunner

        from podium.cli import cli

        cwd = Path.cwd()
        os.chdir(self.dir)
        try:
            done = CliRunner().invoke(
                cli, [*args, "--db", str(self.db)], env={"NO_COLOR": "1", "PODIUM_DB": None, **(env or {})}
            )
        finally:
            os.chdir(cwd)
        stderr = done.stderr
        if done.exc_info is not None and not isinstance(done.exception, SystemExit):
            stderr += "".join(traceback.format_exception(*done.exc_info))
        return Result(done.exit_code, done.stdout, stderr)

    def cli_json(self, *args: str) -> tuple[Result, Any]:
        result = self.cli(*args, "--json")
        try:
            data = json.loads(result.stdout)
        except ValueError:
            raise AssertionError(
                f"not JSON (exit {result.code}): {result.stdout!r} {result.stderr!r}"
            ) from None
        return result, data

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            self.argv(*args), cwd=self.dir, env=env or self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[str]) -> None:
        """SIGKILL, and reap (the pid must be dead for its lease to be stale)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)

    # --- the store, read from outside ----------------------------------------------------------

    def sql(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        con = sqlite3.connect(self.db, timeout=10, isolation_level=None)  # autocommit
        try:
            return con.execute(query, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            con.close()

    def run_ids(self) -> list[str]:
        return [r[0] for r in self.sql("SELECT run_id FROM runs ORDER BY started_at")]

    def run_id(self) -> str:
        ids = self.run_ids()
        assert len(ids) == 1, ids
        return ids[0]

    def events(self, run_id: str | None = None) -> list[dict[str, Any]]:
        rows = self.sql(
            "SELECT run_id, seq, type, step, attempt, data FROM events"
            + (" WHERE run_id=?" if run_id else "")
            + " ORDER BY run_id, seq",
            (run_id,) if run_id else (),
        )
        return [
            {
                "run_id": r[0],
                "seq": r[1],
                "type": r[2],
                "step": r[3],
                "attempt": r[4],
                "data": json.loads(r[5]),
            }
            for r in rows
        ]

    def has_event(self, type_: str, step: str | None = None) -> bool:
        query = "SELECT 1 FROM events WHERE type=?" + (" AND step=?" if step else "") + " LIMIT 1"
        return bool(self.sql(query, (type_, step) if step else (type_,)))

    def integrity(self) -> str:
        return self.sql("PRAGMA integrity_check")[0][0]

    def show(self, run_id: str) -> dict[str, Any]:
        """`podium show RUN --json`, in a process of its own."""
        result, data = self.podium_json("show", run_id)
        assert result.code == 0, result.stderr
        return data

    def state(self, run_id: str) -> dict[str, Any]:
        """The run as its events tell it, folded in this process (cheaper than `show` for polling)."""
        from podium import api

        return api.get_run(run_id, store=self.db).to_json()

    def status(self, run_id: str) -> str:
        """The run's status in the runs index."""
        return self.sql("SELECT status FROM runs WHERE run_id=?", (run_id,))[0][0]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout + self.stderr


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.005, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def inflight(events: list[dict[str, Any]]) -> set[tuple[str, int | None]]:
    """The calls that started and never ended, as the events tell it."""
    open_: set[tuple[str, int | None]] = set()
    for e in events:
        key = (e["step"], e["data"].get("item"))
        if e["type"] == "CallStarted":
            open_.add(key)
        elif e["type"] in ("CallFinished", "CallFailed"):
            open_.discard(key)
    return open_


def idempotency_keys(events: list[dict[str, Any]]) -> dict[tuple[str, int | None], list[str]]:
    keys: dict[tuple[str, int | None], list[str]] = {}
    for e in events:
        if e["type"] == "CallStarted":
            keys.setdefault((e["step"], e["data"].get("item")), []).append(e["data"]["idempotency_key"])
    return keys
