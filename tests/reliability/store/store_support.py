"""Helpers for the store's fault tests: `podium` in a process of its own (optionally without root's
power to write anything), a small finished run to break, and a database's pages to damage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

FLOW = """\
name: tiny
agents:
  a: {function: tiny_agents:shout}
steps:
  s1: {agent: a, prompt: "hi"}
  s2: {agent: a, needs: s1, prompt: "again {{ steps.s1.output }}"}
"""


@dataclass(frozen=True)
class Done:
    code: int
    stdout: str
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout + self.stderr


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "PODIUM_DB"}
    out.update(NO_COLOR="1", COLUMNS="200", PYTHONDONTWRITEBYTECODE="1", **extra)
    return out


def unprivileged() -> list[str]:
    """A prefix that runs a command without the power to ignore file permissions (root has it)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def argv(*args: str, prefix: list[str] | None = None) -> list[str]:
    return [*(prefix or []), sys.executable, "-m", "podium", *args]


def podium(
    cwd: Path, *args: str, environ: dict[str, str] | None = None, prefix: list[str] | None = None
) -> Done:
    done = subprocess.run(
        argv(*args, prefix=prefix), cwd=cwd, env=environ or env(), capture_output=True, text=True, timeout=120
    )
    return Done(done.returncode, done.stdout, done.stderr)


def podium_all(cwd: Path, commands: list[list[str]], prefix: list[str] | None = None) -> list[Done]:
    """Several commands at once (each in a process of its own), their results in order."""
    procs = [
        subprocess.Popen(
            argv(*c, prefix=prefix),
            cwd=cwd,
            env=env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for c in commands
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(Done(proc.returncode, out, err))
    return results


def finished_run(folder: Path, db: Path) -> str:
    """A succeeded two-step run recorded in `db`; its id."""
    import podium as api

    (folder / "tiny_agents.py").write_text(
        "def shout(prompt):\n    return prompt.upper()\n", encoding="utf-8"
    )
    (folder / "flow.yaml").write_text(FLOW, encoding="utf-8")
    run = api.run(folder / "flow.yaml", store=db)
    assert run.status == "succeeded"
    return run.run_id


def damage_pages(db: Path) -> None:
    """Overwrite the b-tree header of every page but the first (the schema stays readable)."""
    data = db.read_bytes()
    page = int.from_bytes(data[16:18], "big") or 65536
    with db.open("r+b") as file:
        for offset in range(page, len(data), page):
            file.seek(offset)
            file.write(b"\xff" * 12)
