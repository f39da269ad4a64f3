"""The Temporal engine against a real dev server and a real `podium worker` process: the same
workflows give the same outputs and the same events per step as the local engine; podium's retry
policy is the only one; approvals and cancels come from other processes; bad input is named."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from temporal_support import start_worker

from podium import api
from podium.core.clock import new_run_id
from podium.core.events import Event, EventType
from podium.core.loader import parse
from podium.core.run import Run
from podium.core.spec import Workflow
from podium.core.store import open_store

HEAD = "defaults: {provider: local, retry: {attempts: 1}}\nagents:\n  a: {instructions: be brief}\n"

FLOWS = {
    "chain": HEAD
    + """
steps:
  one: {agent: a, prompt: "first"}
  two: {agent: a, needs: [one], prompt: "second after {{ steps.one.output }}"}
  three: {agent: a, needs: [two], prompt: "third after {{ steps.two.output }}"}
outputs: {last: "{{ steps.three.output }}"}
mock: {one: "uno", two: "dos", three: "tres"}
""",
    "fan-out": HEAD
    + """
steps:
  x: {agent: a, prompt: "x"}
  y: {agent: a, prompt: "y"}
  z: {agent: a, prompt: "z"}
  join: {agent: a, needs: [x, y, z], prompt: "{{ steps.x.output }} {{ steps.y.output }} {{ steps.z.output }}"}
outputs: {joined: "{{ steps.join.output }}"}
mock: {x: "ex", y: "why", z: "zed", join: "all three"}
""",
    "when-branch": HEAD
    + """
steps:
  pick: {agent: a, prompt: "pick"}
  yes: {agent: a, needs: [pick], when: "{{ steps.pick.output == 'left' }}", prompt: "left"}
  no: {agent: a, needs: [pick], when: "{{ steps.pick.output != 'left' }}", prompt: "right"}
  after: {agent: a, needs: [no], prompt: "after"}
outputs: {went: "{{ steps.yes.output }}"}
mock: {pick: "left", yes: "went left", no: "went right", after: "never"}
""",
    "foreach": HEAD
    + """
inputs:
  things: {type: array, default: [red, green, blue]}
steps:
  each: {agent: a, foreach: "{{ inputs.things }}", prompt: "colour {{ item }}"}
outputs: {all: "{{ steps.each.output }}"}
mock: {each: "a colour"}
""",
    "fallback": """
defaults: {provider: local, retry: {attempts: 1}}
providers:
  azure: {no_such_setting: 1}
agents:
  a: {instructions: be brief, provider: azure, fallback: [local]}
steps:
  only: {agent: a, prompt: "hello"}
outputs: {said: "{{ steps.only.output }}"}
mock: {only: "from the fallback"}
""",
    # an output checked against a schema with a pattern (matched with a time bound: no clock of
    # the workflow sandbox's may be read for it)
    "checked": HEAD
    + """
steps:
  review:
    agent: a
    prompt: "review"
    output:
      schema:
        type: object
        required: [verdict]
        properties: {verdict: {type: string, pattern: "^(ok|no)$"}}
outputs: {verdict: "{{ steps.review.output.verdict }}"}
mock: {review: {reply: {verdict: ok}}}
""",
    "failing": HEAD
    + """
steps:
  ok: {agent: a, prompt: "fine"}
  bad: {agent: a, needs: [ok], prompt: "broken"}
  later: {agent: a, needs: [bad], prompt: "never"}
mock:
  ok: "fine"
  bad: {error: invalid_request}
  later: "never"
""",
}


def flow(text: str, folder: Path, name: str = "wf") -> Workflow:
    """Parsed without the provider checks a file load makes (the fallback flow's azure settings
    are wrong on purpose: the plan resolves it to its error, and the step falls back)."""
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{text}", encoding="utf-8")
    wf = parse(path.read_text(), file=str(path), base_dir=folder)
    wf._path = path
    return wf


def on_temporal(cluster: Any, wf: Workflow, inputs: dict[str, Any] | None = None, **kw: Any) -> Run:
    from podium.plugins.manager import Plugins
    from podium.temporal.commands import arun_temporal

    store = open_store(cluster.db)
    try:
        return asyncio.run(
            arun_temporal(
                wf, api.checked_inputs(wf, inputs), provider=None, store=store, run_id=new_run_id(),
                settings=kw.get("settings") or {}, observer=None, emulate=False,
                address=cluster.address, task_queue=cluster.task_queue, plugins=Plugins.of(None),
                wait=kw.get("wait", False),
            )
        )  # fmt: skip
    finally:
        store.close()


def per_step(events: list[Event]) -> dict[str | None, list[str]]:
    """Each step's event types in order (the order between independent steps is timing)."""
    out: dict[str | None, list[str]] = defaultdict(list)
    for event in events:
        if event.type is not EventType.BUDGET_WARNING:
            out[event.step].append(str(event.type))
    return dict(out)


@pytest.mark.parametrize("name", list(FLOWS))
def test_both_engines_give_the_same_outputs_and_events(name: str, cluster: Any, tmp_path: Path) -> None:
    wf = flow(FLOWS[name], tmp_path)
    local_db = str(tmp_path / "local.db")
    local = api.run(wf, api.checked_inputs(wf, {}), store=local_db)
    remote = on_temporal(cluster, wf)
    assert remote.status == local.status
    assert remote.outputs == local.outputs
    assert {s: r.status for s, r in remote.steps.items()} == {s: r.status for s, r in local.steps.items()}
    with closing(open_store(local_db)) as a, closing(open_store(cluster.db)) as b:
        local_events, remote_events = a.events(local.run_id), b.events(remote.run_id)
    assert per_step(remote_events) == per_step(local_events)
    assert [e.seq for e in remote_events] == list(range(1, len(remote_events) + 1))
    assert remote_events[0].data["engine"]["task_queue"] == cluster.task_queue


def test_retries_are_podiums_alone(cluster: Any, tmp_path: Path) -> None:
    """`attempts: 3` (two retries) on an error that is always retryable: exactly 3 calls made (the
    agent's own count), each with its own idempotency key, then the step fails: Temporal retries
    none of them on top."""
    log = tmp_path / "calls.log"
    (tmp_path / "flaky_helpers.py").write_text(
        "from podium.core.errors import TransientError\n\n"
        "def work(prompt):\n"
        f"    with open({str(log)!r}, 'a') as f:\n"
        "        f.write('call\\n')\n"
        "    raise TransientError('try again later')\n",
        encoding="utf-8",
    )
    wf = flow(
        "defaults: {retry: {attempts: 3, backoff: 0.01}}\nagents:\n  f: {function: 'flaky_helpers:work'}\n"
        "steps:\n  s: {agent: f, prompt: p}\n",
        tmp_path,
    )
    run = on_temporal(cluster, wf)
    assert run.status == "failed"
    assert log.read_text().splitlines() == ["call"] * 3
    with closing(open_store(cluster.db)) as store:
        started = [e for e in store.events(run.run_id) if e.type is EventType.CALL_STARTED]
    assert len({e.data["idempotency_key"] for e in started}) == len(started) == 3
    assert run.steps["s"].error is not None and run.steps["s"].error.kind == "transient"


APPROVAL = """
defaults: {provider: local}
agents:
  a: {instructions: be brief}
steps:
  draft: {agent: a, prompt: "draft"}
  ok: {needs: [draft], approval: {message: "ship {{ steps.draft.output }}?"}}
  ship: {agent: a, needs: [ok], prompt: "ship it"}
outputs: {shipped: "{{ steps.ship.output }}"}
mock: {draft: "v1", ship: "shipped"}
"""


def podium_cli(*args: str, db: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", *args, "--db", db], capture_output=True, text=True, timeout=timeout
    )


def until(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def submit_and_wait(cluster: Any, path: Path) -> str:
    done = podium_cli(
        "run", str(path), "--engine", "temporal", "--temporal-address", cluster.address,
        "--task-queue", cluster.task_queue, "--detach", db=cluster.db,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def status(db: str, run_id: str) -> str:
    return str(api.get_run(run_id, store=db).status)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_from_another_process_is_a_signal(decision: str, cluster: Any, tmp_path: Path) -> None:
    """`podium run --engine temporal --wait` follows the run; `podium approve`/`reject` from a third
    process signals its workflow; the follower exits with the run's status code."""
    path = tmp_path / "approval.yaml"
    path.write_text("name: approval\n" + APPROVAL, encoding="utf-8")
    follower = subprocess.Popen(
        [
            sys.executable, "-m", "podium", "run", str(path), "--engine", "temporal", "--wait", "-q",
            "--temporal-address", cluster.address, "--task-queue", cluster.task_queue, "--json",
            "--db", cluster.db,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with closing(open_store(cluster.db)) as store:
            until(lambda: any(r.status == "waiting" for r in store.runs(limit=50)), "a run to wait")
            run_id = next(r.run_id for r in store.runs(limit=50) if r.status == "waiting")
        done = podium_cli(decision, run_id, "ok", "--by", "ana", db=cluster.db)
        assert done.returncode == 0, done.stderr
        _, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    run = api.get_run(run_id, store=cluster.db)
    if decision == "approve":
        assert follower.returncode == 0, err
        assert run.status == "succeeded" and run.outputs == {"shipped": "shipped"}
    else:
        assert follower.returncode == 1, err
        assert run.status == "failed" and run.steps["ok"].status == "rejected"
        assert run.steps["ship"].status == "pending"
    with closing(open_store(cluster.db)) as store:
        decided = [e for e in store.events(run_id) if e.type is EventType.APPROVAL_DECIDED]
        assert store.lease(run_id).owner is None  # the run's end released it
    assert [e.data["by"] for e in decided] == ["ana"]


def test_a_cancel_from_another_process_ends_the_run(cluster: Any, tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(
        "name: slow\n" + HEAD + "steps:\n  s: {agent: a, prompt: p}\nmock: {s: {reply: late, latency: 30}}\n",
        encoding="utf-8",
    )
    run_id = submit_and_wait(cluster, path)
    with closing(open_store(cluster.db)) as store:
        until(lambda: any(e.type is EventType.CALL_STARTED for e in store.events(run_id)), "the call")
    done = podium_cli("cancel", run_id, "--by", "ops", db=cluster.db)
    assert done.returncode == 0, done.stderr
    until(lambda: status(cluster.db, run_id) == "cancelled", "the run to be cancelled")
    with closing(open_store(cluster.db)) as store:
        events = store.events(run_id)
    assert events[-1].type is EventType.RUN_FINISHED and events[-1].data["cancelled_by"] == "ops"
    failed = [e for e in events if e.type is EventType.CALL_FAILED]
    assert [e.data["then"] for e in failed] == ["cancel"], failed  # the call in flight was stopped
    run = api.get_run(run_id, store=cluster.db)
    assert all(step.status != "running" for step in run.steps.values())


def test_an_address_that_does_not_answer_is_named(tmp_path: Path) -> None:
    from temporal_support import free_port

    path = tmp_path / "wf.yaml"
    path.write_text("name: wf\n" + FLOWS["chain"], encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    done = podium_cli(
        "run", str(path), "--engine", "temporal", "--temporal-address", address, db=str(tmp_path / "x.db")
    )
    assert done.returncode == 2
    assert address in done.stderr and "temporal server start-dev" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_function_the_worker_cannot_import_fails_the_step(cluster: Any, tmp_path: Path) -> None:
    # the module is next to the workflow where it was submitted, and not where the worker runs
    (tmp_path / "only_here_mod.py").write_text("def go(prompt):\n    return 'hi'\n", encoding="utf-8")
    wf = flow("agents:\n  f: {function: 'only_here_mod:go'}\nsteps:\n  s: {agent: f, prompt: p}\n", tmp_path)
    (tmp_path / "only_here_mod.py").unlink()
    run = on_temporal(cluster, wf)
    assert run.status == "failed"
    error = run.steps["s"].error
    assert error is not None and "only_here_mod" in error.message, error
    assert "w-parity" in error.message  # the worker it failed on


LIMITED = """
defaults: {provider: local, concurrency: 2}
agents:
  f: {function: 'limit_helpers:work'}
steps:
""" + "".join(f"  c{i}: {{agent: f, prompt: p}}\n" for i in range(8))

LIMIT_HELPER = """
import os, time

def work(prompt, step):
    with open({log!r}, "a") as f:
        f.write(f"start {{step}} {{os.getpid()}}\\n")
    time.sleep(0.2)
    with open({log!r}, "a") as f:
        f.write(f"end {{step}} {{os.getpid()}}\\n")
    return "ok"
"""


def test_a_runs_concurrency_limit_holds_across_workers(cluster: Any, tmp_path: Path) -> None:
    """`defaults.concurrency: 2` bounds the run's calls in flight whichever workers make them: the
    limit lives in the workflow, not in a worker (read from the calls' own start/end log)."""
    log = tmp_path / "calls.log"
    (tmp_path / "limit_helpers.py").write_text(LIMIT_HELPER.format(log=str(log)), encoding="utf-8")
    extra = start_worker(cluster.address, cluster.db, tmp_path, task_queue=cluster.task_queue, name="w-extra")
    try:
        run = on_temporal(cluster, flow(LIMITED, tmp_path))
    finally:
        extra.stop()
    assert run.status == "succeeded"
    in_flight, most = 0, 0
    for line in log.read_text().splitlines():
        in_flight += 1 if line.startswith("start") else -1
        most = max(most, in_flight)
    assert most == 2


def test_a_budget_is_checked_before_each_call(cluster: Any, tmp_path: Path) -> None:
    """The budget check runs before the call (in its activity, next to the store): a call whose worst
    case would pass the budget is not made, and the run stops, as a local one does."""
    wf = flow(
        "defaults: {provider: local}\nproviders:\n  local: {models: {m: claude-sonnet-4-5}}\n"
        "agents:\n  a: {model: m}\nsteps:\n  one: {agent: a, prompt: p}\n"
        "  two: {agent: a, needs: [one], prompt: p}\nmock: {one: ok, two: ok}\n",
        tmp_path,
    )
    run = on_temporal(cluster, wf, settings={"budget": "0.0000001"})
    assert run.status == "stopped"
    with closing(open_store(cluster.db)) as store:
        events = store.events(run.run_id)
    finished = [e for e in events if e.type is EventType.CALL_FINISHED]
    assert finished == []  # the provider was never called
    assert events[-1].type is EventType.RUN_STOPPED and events[-1].data["error"]["kind"] == "budget"


def test_an_approval_timeout_is_a_durable_timer(cluster: Any, tmp_path: Path) -> None:
    """No decision within `timeout`: the workflow's timer decides as `on_timeout` says."""
    wf = flow(
        APPROVAL.replace('approval: {message: "ship {{ steps.draft.output }}?"}',
                         "approval: {message: ship?, timeout: 1s, on_timeout: approve}"),
        tmp_path,
    )  # fmt: skip
    run = on_temporal(cluster, wf, wait=True)
    assert run.status == "succeeded", run.steps
    assert run.steps["ok"].approval is not None and run.steps["ok"].approval["decision"]["by"] == "timeout"
