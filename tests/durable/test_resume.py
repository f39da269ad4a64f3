"""Resume's bad inputs: a finished run, an edited or missing workflow file, a corrupt or newer store."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from .helpers import CALL_KEYS, FLOW, Workspace, wait_for


def killed_in(ws: Workspace, held: str = "s3") -> str:
    """A run SIGKILLed inside `held`'s call (s1, s2 done; the rest not)."""
    ws.write(FLOW)
    ws.hold(held)
    proc = ws.spawn("run", "flow.yaml")
    wait_for(lambda: ws.entered(held), what=f"{held} entered")
    ws.kill(proc)
    ws.release(held)
    return ws.run_id()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resume_of_a_succeeded_run_says_so_and_runs_nothing(ws: Workspace, clean_run: dict[str, Any]) -> None:
    ws.write(FLOW)
    result, data = ws.cli_json("run", "flow.yaml")
    assert result.code == 0
    events, calls = ws.events(), ws.calls()
    again = ws.cli("resume", data["run_id"])
    assert again.code == 0, again.out
    assert "already succeeded" in again.stdout
    result, shown = ws.cli_json("resume", data["run_id"])
    assert result.code == 0 and shown["status"] == "succeeded"
    assert shown["outputs"] == clean_run["outputs"]
    assert ws.events() == events
    assert ws.calls() == calls


def test_resume_of_a_succeeded_run_through_the_library_runs_nothing(ws: Workspace) -> None:
    from podium import api

    ws.write(FLOW)
    data = ws.cli_json("run", "flow.yaml")[1]
    events = ws.events()
    run = api.resume(data["run_id"], store=ws.db)
    assert run.status == "succeeded"
    assert ws.events() == events


def test_resume_of_an_unknown_run_is_bad_input(ws: Workspace) -> None:
    ws.write(FLOW)
    ws.cli("run", "flow.yaml")
    result = ws.cli("resume", "no-such-run")
    assert result.code == 2 and "no run 'no-such-run'" in result.stderr, result.out
    assert "Traceback" not in result.out


def test_resume_refuses_an_edited_workflow_file(ws: Workspace) -> None:
    run_id = killed_in(ws)
    flow = ws.dir / "flow.yaml"
    flow.write_text(FLOW.replace('prompt: "begin"', 'prompt: "begin again"'))
    events, lease = ws.events(), ws.sql("SELECT lease_owner, lease_expires FROM runs")
    result = ws.cli("resume", run_id)
    assert result.code == 2, result.out
    assert "changed since the run started" in result.stderr
    assert "--allow-changed" in result.stderr
    assert "Traceback" not in result.out
    assert ws.events() == events
    assert ws.sql("SELECT lease_owner, lease_expires FROM runs") == lease


def test_resume_allow_changed_runs_only_the_unfinished_steps_with_the_new_definition(
    ws: Workspace, clean_run: dict[str, Any]
) -> None:
    run_id = killed_in(ws)
    before = {sid: s["output"] for sid, s in ws.state(run_id)["steps"].items()}
    assert before["s1"] == clean_run["steps"]["s1"]["output"]
    flow = ws.dir / "flow.yaml"
    # s1 finished before the crash, s9 had not started: both prompts change
    flow.write_text(
        FLOW.replace('prompt: "begin"', 'prompt: "begin v2"').replace(
            '"{{ steps.join.output }} > s9"', '"{{ steps.join.output }} > s9 v2"'
        )
    )
    result, data = ws.cli_json("resume", run_id, "--allow-changed")
    assert result.code == 0, result.out
    assert data["status"] == "succeeded"
    steps = data["steps"]
    # finished outputs are kept (s1's new prompt was never sent), the unfinished steps use the new file
    for sid in ("s1", "s2"):
        assert steps[sid]["output"] == clean_run["steps"][sid]["output"]
    for sid in ("s3", "s4", "fa", "fb", "join"):
        assert steps[sid]["output"] == clean_run["steps"][sid]["output"]
    assert steps["s9"]["output"] != clean_run["steps"]["s9"]["output"]
    prompts = {e["step"]: e["data"]["prompt"] for e in ws.events() if e["type"] == "CallStarted"}
    assert prompts["s1"] == "begin"
    assert prompts["s9"].endswith("> s9 v2")
    assert ws.done() == {key: 1 for key in CALL_KEYS}
    (resumed,) = [e for e in ws.events() if e["type"] == "RunResumed"]
    assert resumed["data"]["changed"] is True
    # how many steps were settled, as a count: a list would make every resume of a long run longer
    before = [e for e in ws.events() if e["seq"] < resumed["seq"]]
    assert resumed["data"]["settled"] == len({e["step"] for e in before if e["type"] == "StepSucceeded"})
    assert resumed["data"]["settled"] > 0
    assert resumed["data"]["file_hash"] == hashlib.sha256(flow.read_bytes()).hexdigest()


def test_resume_with_the_workflow_file_missing_is_a_clear_error(ws: Workspace) -> None:
    run_id = killed_in(ws)
    moved = ws.dir / "moved"
    moved.mkdir()
    (ws.dir / "flow.yaml").rename(moved / "flow.yaml")
    events = ws.events()
    result = ws.cli("resume", run_id)
    assert result.code == 2, result.out
    assert "flow.yaml" in result.stderr and "missing" in result.stderr
    assert "--file" in result.stderr
    assert "Traceback" not in result.out
    assert ws.events() == events
    # pointed at it, the run continues (the agents module is found next to the file's new place)
    (ws.dir / "durable_agents.py").rename(moved / "durable_agents.py")
    result = ws.cli("resume", run_id, "--file", str(moved / "flow.yaml"))
    assert result.code == 0, result.out
    assert ws.state(run_id)["status"] == "succeeded"


def test_resume_of_a_failed_run_reruns_only_the_failed_step_and_what_follows(
    ws: Workspace, clean_run: dict[str, Any]
) -> None:
    agents_line = "w: {function: durable_agents:work}"
    flow = FLOW.replace(agents_line, agents_line + "\n  b: {function: durable_agents:boom}")
    ws.write(flow.replace("s4: {agent: w,", "s4: {agent: b,"))
    result, data = ws.podium_json("run", "flow.yaml")
    assert result.code == 1 and data["status"] == "failed"
    assert data["steps"]["s4"]["status"] == "failed"
    # the agent is fixed in its module (the workflow file, and so its hash, stay the same); the
    # resume is a new process, so it imports the fixed module
    agents = ws.dir / "durable_agents.py"
    fixed = agents.read_text().replace(
        "def boom(prompt, step, run_id):",
        "def boom(prompt, step, run_id):\n    return work(prompt, step, run_id)\n\n\n"
        "def broken(prompt, step, run_id):",
    )
    agents.write_text(fixed)
    result, data = ws.podium_json("resume", data["run_id"])
    assert result.code == 0, result.out
    assert data["status"] == "succeeded"
    done = ws.done()
    assert done[("s1", None)] == done[("s2", None)] == done[("s3", None)] == 1
    assert done[("s4", None)] == 2  # the failed call, then the fixed one
    assert done[("s10", None)] == 1
    assert data["outputs"] == clean_run["outputs"]


# --- the store itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("resume", "some-run"),
        ("runs",),
        ("run", "flow.yaml"),
        ("approve", "some-run", "gate"),
    ],
)
def test_a_corrupt_database_is_a_clear_error_and_is_left_untouched(
    ws: Workspace, args: tuple[str, ...]
) -> None:
    ws.write(FLOW)
    ws.db.write_bytes(os.urandom(8192))
    before = digest(ws.db)
    result = ws.cli(*args)
    assert result.code == 2, result.out
    assert "cannot use this file as a podium database" in result.stderr
    assert "Traceback" not in result.out
    assert digest(ws.db) == before
    assert ws.calls() == []


def test_a_database_from_a_newer_podium_is_a_clear_error_and_is_left_untouched(ws: Workspace) -> None:
    ws.write(FLOW)
    assert ws.cli("run", "flow.yaml").code == 0
    run_id = ws.run_id()
    con = sqlite3.connect(ws.db)
    con.execute("PRAGMA user_version=99")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = digest(ws.db)
    calls = len(ws.calls())
    for args in (("resume", run_id), ("runs",), ("run", "flow.yaml")):
        result = ws.cli(*args)
        assert result.code == 2, (args, result.out)
        assert "newer podium" in result.stderr and "schema 99" in result.stderr, args
        assert "Traceback" not in result.out
        assert digest(ws.db) == before, args
    assert len(ws.calls()) == calls
