"""Who drives a run: a live owner is never displaced, a dead or expired one is; cancel reaches a live one."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from typing import Any

from .helpers import FLOW, STEPS, Workspace, wait_for

SLEEPY_FLOW = """\
name: sleepy
agents:
  e: {function: durable_agents:echo}
  z: {function: durable_agents:sleepy}
steps:
  first: {agent: e, prompt: "first"}
  long: {agent: z, needs: first, prompt: "a long call"}
  after: {agent: e, needs: long, prompt: "after"}
"""


def start_held(ws: Workspace, held: str = "s3") -> tuple[Any, str]:
    """A `podium run` blocked inside `held`'s call: a live process that owns the run."""
    ws.write(FLOW)
    ws.hold(held)
    proc = ws.spawn("run", "flow.yaml", "--json")
    wait_for(lambda: ws.entered(held), what=f"{held} entered")
    return proc, ws.run_id()


def test_resume_refuses_a_run_a_live_process_drives_then_takes_it_over_once_killed(ws: Workspace) -> None:
    proc, run_id = start_held(ws)
    events = len(ws.events())
    refused = ws.podium("resume", run_id)
    assert refused.code != 0, refused.out
    assert "Traceback" not in refused.out
    assert f"{socket.gethostname()}:{proc.pid}:" in refused.stderr  # names the owner
    assert len(ws.events()) == events  # and wrote nothing
    (owner,) = ws.sql("SELECT lease_owner FROM runs")[0]
    assert owner.startswith(f"{socket.gethostname()}:{proc.pid}:")

    ws.kill(proc)
    ws.release("s3")
    result, data = ws.podium_json("resume", run_id)
    assert result.code == 0, result.out
    assert data["status"] == "succeeded"
    resumed = [e for e in ws.events() if e["type"] == "RunResumed"]
    assert len(resumed) == 1
    assert resumed[0]["data"]["owner"] != owner
    assert ws.sql("SELECT lease_owner FROM runs") == [(None,)]  # released at the end


def test_the_live_owner_renews_its_lease_by_heartbeat(ws: Workspace) -> None:
    proc, _ = start_held(ws)
    (first,) = ws.sql("SELECT lease_expires FROM runs")[0]
    assert first > time.time()
    wait_for(lambda: ws.sql("SELECT lease_expires FROM runs")[0][0] > first, timeout=5, what="a renewal")
    ws.kill(proc)


def test_two_resumes_racing_only_one_drives(ws: Workspace) -> None:
    proc, run_id = start_held(ws)
    ws.kill(proc)
    (ws.dir / "entered-s3").unlink()
    # both resumes will block in s3 if they get to drive; release it once the race is decided
    racers = [ws.spawn("resume", run_id, "--json") for _ in range(2)]
    wait_for(lambda: ws.entered("s3") and any(p.poll() is not None for p in racers), what="a winner")
    losers = [p for p in racers if p.poll() is not None]
    assert len(losers) == 1
    (winner,) = [p for p in racers if p is not losers[0]]
    out, err = losers[0].communicate()
    assert losers[0].returncode != 0, out
    assert f":{winner.pid}:" in err and "driven" in err
    ws.release("s3")
    out, err = winner.communicate(timeout=30)
    assert winner.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    events = ws.events(run_id)
    assert len([e for e in events if e["type"] == "RunResumed"]) == 1
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    done = ws.done()
    assert done[("s3", None)] == 1 and all(n == 1 for n in done.values())
    assert ws.integrity() == "ok"


def test_an_expired_lease_of_another_host_is_taken_over_but_a_fresh_one_is_not(ws: Workspace) -> None:
    proc, run_id = start_held(ws)
    ws.kill(proc)
    ws.release("s3")
    sql = "UPDATE runs SET lease_owner='elsewhere:4242:abcdef', lease_expires=?"
    ws.sql(sql, (time.time() + 600,))
    refused = ws.podium("resume", run_id)
    assert refused.code != 0 and "elsewhere:4242:abcdef" in refused.stderr, refused.out
    ws.sql(sql, (time.time() - 1,))
    result = ws.podium("resume", run_id)
    assert result.code == 0, result.out
    assert ws.state(run_id)["status"] == "succeeded"


def test_delete_and_gc_leave_a_run_a_live_process_drives_alone(ws: Workspace) -> None:
    proc, run_id = start_held(ws)
    refused = ws.podium("runs", "delete", run_id)
    assert refused.code != 0 and "cancel" in refused.stderr, refused.out
    gc = ws.podium("gc", "--older-than", "0s")
    assert gc.code == 0, gc.out
    assert ws.run_ids() == [run_id]
    ws.release("s3")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    assert {s: v["status"] for s, v in json.loads(out)["steps"].items()} == dict.fromkeys(STEPS, "succeeded")


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_stops_the_process_driving_the_run_without_waiting_out_its_call(ws: Workspace) -> None:
    ws.write(SLEEPY_FLOW)
    proc = ws.spawn("run", "flow.yaml", "--json")
    wait_for(lambda: any(c["step"] == "long" for c in ws.calls()), what="the long call")
    run_id = ws.run_id()
    result = ws.podium("cancel", run_id, "--by", "frank")
    assert result.code == 0, result.out
    assert "cancel requested" in result.stdout
    wait_for(lambda: ws.status(run_id) == "cancelled", timeout=20, interval=0.02, what="cancelled")
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        ws.kill(proc)
        raise AssertionError("the run was recorded cancelled, but its process kept running") from None
    # the process ended without waiting out the long (30 s) call: that call never completed
    assert ("long", None) not in ws.done()
    assert [e["data"]["kind"] for e in ws.events(run_id) if e["type"] == "CallFailed"] == ["cancelled"]
    assert proc.returncode == 1
    assert json.loads(out)["status"] == "cancelled"
    shown = ws.state(run_id)
    assert shown["steps"]["long"]["status"] == "cancelled"
    assert shown["steps"]["after"]["status"] == "cancelled"  # nothing of a cancelled run is left to happen
    assert ("after", None) not in ws.done()
    finished = [e for e in ws.events(run_id) if e["type"] == "RunFinished"]
    assert len(finished) == 1 and finished[0]["data"]["cancelled_by"] == "frank"


def test_cancel_of_a_run_whose_process_was_killed_records_it_at_once(ws: Workspace) -> None:
    proc, run_id = start_held(ws)
    ws.kill(proc)
    ws.release("s3")
    result = ws.podium("cancel", run_id)
    assert result.code == 0, result.out
    assert f"cancelled: run {run_id}" in result.stdout  # not "requested": nobody would read it
    assert ws.status(run_id) == "cancelled"
    assert ws.sql("SELECT COUNT(*) FROM inbox") == [(0,)]


def test_cancel_stops_a_process_held_in_a_step_and_nothing_after_it_runs(ws: Workspace) -> None:
    proc, run_id = start_held(ws, "s3")
    result = ws.podium("cancel", run_id)
    assert result.code == 0 and "cancel requested" in result.stdout, result.out
    wait_for(lambda: ws.status(run_id) == "cancelled", timeout=10, interval=0.02, what="cancelled")
    ws.release("s3")  # the function may finish now; its result must not be used
    proc.communicate(timeout=10)
    assert proc.returncode == 1
    done = ws.done()
    assert ("s4", None) not in done
    assert ws.state(run_id)["status"] == "cancelled"
