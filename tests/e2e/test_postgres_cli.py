"""Every command against a PostgreSQL store (`PODIUM_DB=postgresql://…`), as a team runs podium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOW = """
name: gated
agents:
  writer: {model: claude-haiku-4-5}
steps:
  draft: {agent: writer, prompt: draft it}
  signoff: {needs: [draft], approval: Ship it?}
  publish: {agent: writer, needs: [signoff], prompt: "ship {{ steps.draft.output }}"}
outputs:
  shipped: "{{ steps.publish.output }}"
mock:
  draft: {reply: a draft, usage: {input_tokens: 1000, output_tokens: 200}}
  publish: {reply: shipped, usage: {input_tokens: 500, output_tokens: 100}}
"""


def podium(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PODIUM_DB": url, "NO_COLOR": "1", "HOME": str(cwd), "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "podium", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def test_run_approve_resume_show_cost_trace_gc_against_postgres(postgres_url: str, tmp_path: Path) -> None:
    flow = tmp_path / "gated.yaml"
    flow.write_text(FLOW)
    first = podium("run", str(flow), "-q", "--json", url=postgres_url, cwd=tmp_path)
    assert first.returncode == 1
    run_id = as_json(first)["run_id"]
    assert as_json(podium("runs", "--json", url=postgres_url, cwd=tmp_path))[0]["status"] == "waiting"

    decided = podium("approve", run_id, "signoff", "--by", "ann", "--resume", url=postgres_url, cwd=tmp_path)
    assert decided.returncode == 0, decided.stderr
    shown = as_json(podium("show", run_id, "--json", url=postgres_url, cwd=tmp_path))
    assert shown["status"] == "succeeded"
    assert shown["outputs"] == {"shipped": "shipped"}
    assert [s["status"] for s in shown["steps"].values()] == ["succeeded", "succeeded", "succeeded"]

    # the cost ledger lives in the same database: priced per call, summed per run
    total = as_json(podium("cost", run_id, "--json", url=postgres_url, cwd=tmp_path))["total"]
    assert (total["calls"], total["input_tokens"], total["output_tokens"]) == (2, 1500, 300)
    # the same run in SQLite costs exactly the same
    lite = str(tmp_path / "runs.db")
    lite_id = as_json(podium("run", str(flow), "-q", "--json", url=lite, cwd=tmp_path))["run_id"]
    podium("approve", lite_id, "signoff", "--resume", url=lite, cwd=tmp_path)
    assert as_json(podium("cost", lite_id, "--json", url=lite, cwd=tmp_path))["total"] == total
    assert float(total["cost_usd"]) > 0

    written = podium("trace", run_id, "-o", str(tmp_path / "t.html"), url=postgres_url, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert "t.html" in podium("show", run_id, url=postgres_url, cwd=tmp_path).stdout  # remembered there too

    gone = podium("gc", "--older-than", "0s", url=postgres_url, cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert as_json(podium("runs", "--json", url=postgres_url, cwd=tmp_path)) == []
    missing = podium("show", run_id, url=postgres_url, cwd=tmp_path)
    assert missing.returncode == 2 and "no run" in missing.stderr


def test_a_wrong_postgres_url_is_a_clear_error_without_its_password(postgres: Any, tmp_path: Path) -> None:
    from postgres_support import database_url

    url = database_url(postgres.get_uri(), "no_such_database").replace("postgres:@", "postgres:s3cret-pw@")
    failed = podium("runs", url=url, cwd=tmp_path)
    assert failed.returncode == 2  # the --db / PODIUM_DB given is wrong: bad input
    assert "cannot connect to the database" in failed.stderr and "no_such_database" in failed.stderr
    assert "s3cret-pw" not in failed.stderr + failed.stdout and "Traceback" not in failed.stderr
    refused = podium("runs", url="postgresql://ann:hunter2@127.0.0.1:1/podium", cwd=tmp_path)
    assert refused.returncode == 2 and "hunter2" not in refused.stderr and "127.0.0.1" in refused.stderr


@pytest.mark.parametrize("missing", ["psycopg"])
def test_without_the_extra_the_error_names_it(missing: str, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None;"
        " from podium.cli import main; sys.argv = ['podium', 'runs']; main()"
    )
    env = {**os.environ, "PODIUM_DB": "postgresql://u@127.0.0.1:1/db", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'podium[postgres]'" in done.stderr and "Traceback" not in done.stderr


CHAIN = """
name: chain
agents:
  worker: {function: "chain_agents:work"}
steps:
  s1: {agent: worker, prompt: s1}
  s2: {agent: worker, prompt: s2, needs: [s1]}
  s3: {agent: worker, prompt: s3, needs: [s2]}
  s4: {agent: worker, prompt: s4, needs: [s3]}
  s5: {agent: worker, prompt: s5, needs: [s4]}
"""
AGENTS = """
import json, os

def work(prompt: str) -> str:
    with open(os.path.join(os.path.dirname(__file__), "calls.log"), "a") as log:
        log.write(prompt + "\\n")
    return prompt.upper()
"""
KILLER = """
import asyncio, os, signal, sys
from podium import api

class Killer:
    def podium_event(self, event):
        if str(event.type) == "CallFinished" and event.step == "s3":
            os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(api.arun(sys.argv[1], store=sys.argv[2], run_id="R1", observers=[Killer()]))
"""


def test_a_run_killed_mid_way_resumes_from_postgres_without_repeating_a_call(
    postgres_url: str, tmp_path: Path
) -> None:
    (tmp_path / "chain.yaml").write_text(CHAIN)
    (tmp_path / "chain_agents.py").write_text(AGENTS)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, "chain.yaml", postgres_url], cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert as_json(podium("show", "R1", "--json", url=postgres_url, cwd=tmp_path))["status"] == "interrupted"
    resumed = podium("resume", "R1", "--json", "-q", url=postgres_url, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert as_json(resumed)["status"] == "succeeded"
    # s3's reply was stored before the kill: it is used, not asked for again
    assert (tmp_path / "calls.log").read_text().split() == ["s1", "s2", "s3", "s4", "s5"]
