"""The tools example from the command line, locally and on each cloud's emulator: the agent's bad call
is a tool error it recovers from, the refund waits for a person, and `approve --resume` finishes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium.testing import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/tools/support.yaml"


def podium(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, db=db, cwd=ROOT, timeout=90)


@pytest.mark.parametrize("provider", ["local", "bedrock", "vertex", "azure"])
def test_the_tools_example_waits_for_the_refund_then_finishes(provider: str, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    extra = [] if provider == "local" else ["--provider", provider, "--emulate"]

    first = podium("run", EXAMPLE, *extra, "--json", db=db)

    assert first.returncode == 1, first.stderr  # not finished: it waits for a person
    waiting = json.loads(first.stdout)
    assert waiting["status"] == "waiting"
    step = waiting["steps"]["resolve"]
    assert step["status"] == "waiting" and step["tool_calls"] == 2  # the bad lookup, the good one
    assert step["approval"]["request"]["tool"]["name"] == "refund"
    assert step["approval"]["request"]["tool"]["arguments"] == {"order_id": "A-1001", "amount": 42.5}

    approved = podium("approve", waiting["run_id"], "resolve", "--resume", db=db)
    assert approved.returncode == 0, approved.stderr
    shown = json.loads(podium("show", waiting["run_id"], "--json", db=db).stdout)

    assert shown["status"] == "succeeded"
    assert shown["outputs"] == {"reply": "Sorry about that: order A-1001 is refunded ($42.50)."}
    assert shown["steps"]["resolve"]["tool_calls"] == 3  # the lookups were replayed, not run again
    assert shown["steps"]["resolve"]["provider"] == provider
    events = json.loads(podium("show", waiting["run_id"], "--events", "--json", db=db).stdout)
    called = [e["data"] for e in events["events"] if e["type"] == "ToolCalled"]
    assert [(c["name"], c["error"]) for c in called] == [
        ("lookup_order", True),
        ("lookup_order", False),
        ("refund", False),
    ]


@pytest.mark.parametrize("provider", ["local", "bedrock", "vertex", "azure"])
def test_a_run_that_waits_in_its_process_runs_the_approved_tool(provider: str, tmp_path: Path) -> None:
    """The emulator that asked for the refund is asked again once it is approved (in the same
    process, so the same emulator): it asks for the refund again, and the refund runs."""
    db = tmp_path / "runs.db"
    env = {**os.environ, "PODIUM_DB": str(db), "NO_COLOR": "1"}
    extra = [] if provider == "local" else ["--provider", provider, "--emulate"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "podium", "run", EXAMPLE, *extra, "--wait", "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        waiting: list[dict[str, object]] = []
        while not waiting and time.monotonic() < deadline:
            time.sleep(0.2)
            listed = podium("runs", "--waiting", "--json", db=db)
            waiting = json.loads(listed.stdout) if listed.returncode == 0 and listed.stdout.strip() else []
        assert waiting, "the run never waited for the refund"
        sent = podium("approve", str(waiting[0]["run_id"]), "resolve", db=db)
        assert sent.returncode == 0 and "sent to the process driving it" in sent.stdout, sent.stderr
        out, err = driver.communicate(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, err
    done = json.loads(out)
    assert done["status"] == "succeeded"
    # the refund ran in the same process once approved; the lookups were replayed
    assert done["steps"]["resolve"]["tool_calls"] == 3
    events = json.loads(podium("show", done["run_id"], "--events", "--json", db=db).stdout)
    called = [e["data"]["name"] for e in events["events"] if e["type"] == "ToolCalled"]
    assert called == ["lookup_order", "lookup_order", "refund"]
