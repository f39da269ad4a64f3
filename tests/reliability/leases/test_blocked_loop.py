"""A live run whose `async def` agent blocks the event loop keeps its lease: another process's
`podium resume` is refused, the step runs once, the run finishes once, and the block is named."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from leases_support import calls, env, podium, sql, wait_for, workspace

LEASE = "1.5"  # seconds: the lease a blocked loop would lose, were it renewed on the loop


def test_a_blocked_loop_keeps_its_lease_and_the_step_runs_once(tmp_path: Path) -> None:
    cwd = workspace(tmp_path)
    db = cwd / "runs.db"
    environ = env(PODIUM_LEASE_SECONDS=LEASE, PODIUM_HEARTBEAT_SECONDS="0.2")
    (cwd / "hold-s2").touch()
    owner = podium(cwd, "run", "flow.yaml", "--json", environ=environ)
    try:
        wait_for(lambda: (cwd / "entered-s2").exists(), "s2 to block the loop")
        (expires_then,) = sql(db, "SELECT lease_expires FROM runs")[0]
        # past the moment the lease taken before the block would have expired
        wait_for(lambda: time.time() > expires_then + 0.3, "the lease's first expiry to pass")
        # renewed by the heartbeat thread all along, though the loop has not turned since
        assert sql(db, "SELECT lease_expires FROM runs")[0][0] > time.time()
        resume = podium(cwd, "resume", "latest", "--json", environ=environ)
        try:
            out, err = resume.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # it took the run over and blocks in s2 too
            resume.kill()
            out, err = resume.communicate()
            raise AssertionError(f"resume took over a live run: {err[-2000:]}") from None
        assert resume.returncode == 1, out + err
        assert f":{owner.pid}:" in err and "driven" in err, err
        assert "Traceback" not in err
    finally:
        (cwd / "hold-s2").unlink()
    out, err = owner.communicate(timeout=60)
    assert owner.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    assert calls(cwd) == ["s1", "s2", "s3"]  # s2 once, by its one driver
    types = [t for (t,) in sql(db, "SELECT type FROM events ORDER BY seq")]
    assert types.count("RunFinished") == 1 and "RunResumed" not in types
    # the user's bug is named: the step whose task held the loop
    assert "LoopBlocked" in err and "step 's2'" in err, err
    assert sql(db, "SELECT lease_owner FROM runs") == [(None,)]  # released when the run ended
