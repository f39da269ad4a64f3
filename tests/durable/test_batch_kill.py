"""A real SIGKILL between a batch's commit and the agent calls it records: the steps that started
together were written in one transaction, no agent had been called yet, and a resume makes each
call once, under the idempotency key the killed process recorded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter

from .helpers import Workspace

BRANCHES = ["b0", "b1", "b2", "b3", "b4"]
FAN = (
    "name: fan\n"
    "defaults: {retry: {attempts: 1}}\n"
    "agents:\n"
    "  w: {function: durable_agents:work}\n"
    "steps:\n"
    + "".join(f"  {b}: {{agent: w, prompt: {b}}}\n" for b in BRANCHES)
    + f"  join: {{agent: w, needs: [{', '.join(BRANCHES)}], prompt: join}}\n"
)

# Kills its own process from inside the first CallStarted's dispatch: the batch holding it is
# committed, and nothing after the batch (the agent calls) has run.
DRIVER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from podium import api

    class Killer:
        def podium_event(self, event):
            if str(event.type) == "CallStarted":
                os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(api.arun(sys.argv[1], store=sys.argv[2], run_id="R1", observers=[Killer()]))
    sys.exit(3)  # the killer never fired
    """
)


def test_a_kill_after_a_batch_is_committed_and_before_its_agents_are_called(ws: Workspace) -> None:
    ws.write(FAN)
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, "flow.yaml", str(ws.db)],
        cwd=ws.dir, env=ws.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == -9, (done.returncode, done.stderr)
    before = ws.events("R1")
    # the branches started together: all their starts are on record, in one transaction
    started = [e["step"] for e in before if e["type"] == "CallStarted"]
    assert sorted(started) == BRANCHES
    assert [e["seq"] for e in before] == list(range(1, len(before) + 1))
    assert ws.calls() == []  # no agent was called before its call was on record
    keys = {e["step"]: e["data"]["idempotency_key"] for e in before if e["type"] == "CallStarted"}

    result, data = ws.podium_json("resume", "R1")
    assert result.code == 0, result.out
    assert data["status"] == "succeeded"
    assert ws.done() == Counter({(s, None): 1 for s in [*BRANCHES, "join"]})
    after = ws.events("R1")
    assert [e["seq"] for e in after] == list(range(1, len(after) + 1))
    for step, key in keys.items():  # each call recorded in flight was re-issued under its own key
        reissued = [e for e in after if e["type"] == "CallStarted" and e["step"] == step]
        assert [e["data"]["idempotency_key"] for e in reissued] == [key, key]
    assert ws.integrity() == "ok"
