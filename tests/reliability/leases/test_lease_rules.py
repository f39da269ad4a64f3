"""Who may take a run over: a live pid on this host never loses its lease, a dead one or an expired
lease of another host does; a run finishes once per attempt; the heartbeat thread ends with its run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import podium
from podium.core.errors import BadInput, StoreError
from podium.core.events import Event, EventType
from podium.core.lease import Lease, lease_timing, owner_id
from podium.core.store import RunStore

HOST = socket.gethostname()
PAST, FUTURE = -60.0, 3600.0  # expiries, in seconds from when the test runs (not when it is collected)
STARTS_KNOWN = Path("/proc/self/stat").exists()  # where a process's start time can be read


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("owner", "expires", "stale"),
    [
        (f"{HOST}:{os.getpid()}:aa", PAST, False),  # alive here: kept, whatever the expiry says
        (f"{HOST}:{os.getpid()}:aa", FUTURE, False),
        ("a dead pid here", FUTURE, True),  # free at once
        ("elsewhere:4242:aa", PAST, True),  # another host: the expiry decides
        ("elsewhere:4242:aa", FUTURE, False),
        ("host:with:colons:4242:aa", PAST, True),
        (owner_id(), PAST, False),  # this process, as it names itself
        (f"{HOST}:{os.getpid()}:aa-1", FUTURE, STARTS_KNOWN),  # this pid, but not this process: reused
    ],
)
def test_a_lease_is_stale_only_when_its_owner_is_gone(owner: str, expires: float, stale: bool) -> None:
    if owner == "a dead pid here":  # made now: a pid found dead at collection may be reused since
        owner = f"{HOST}:{dead_pid()}:aa"
    lease = Lease(owner, time.time() + expires)
    assert lease.stale() is stale
    assert lease.held_by_other("me") is not stale
    assert lease.driven is not stale  # what `runs`, `show`, the ui and the trace ask


@pytest.mark.parametrize("owner", [None, ""])
def test_a_lease_nobody_holds_drives_nothing(owner: str | None) -> None:
    # an empty owner is not stale by the expiry alone, but no process drives the run
    assert not Lease(owner, time.time() + FUTURE).driven


def _event(seq: int, type_: EventType, **data: object) -> Event:
    return Event("r1", seq, type_, None, None, dict(data), datetime.now(UTC))


@pytest.fixture
def store(every_store: RunStore) -> RunStore:
    """Each test runs against every backend (`every_store`)."""
    return every_store


def test_a_second_run_finished_is_refused_but_a_resumed_run_finishes_again(store) -> None:  # type: ignore[no-untyped-def]
    store.append(_event(1, EventType.RUN_STARTED, workflow="wf"))
    store.append(_event(2, EventType.RUN_FINISHED, status="failed"))
    with pytest.raises(StoreError, match="already finished"):
        store.append(_event(3, EventType.RUN_FINISHED, status="succeeded"))
    assert store.last_seq("r1") == 2 and store.get_run("r1").status == "failed"
    store.append(_event(3, EventType.RUN_RESUMED, owner="x"))
    store.append(_event(4, EventType.RUN_FINISHED, status="succeeded"))  # a new attempt may finish
    with pytest.raises(StoreError, match="already finished"):
        store.append(_event(5, EventType.RUN_FINISHED, status="failed"))
    assert store.get_run("r1").status == "succeeded"


def test_lease_timing_comes_from_the_environment_and_bad_values_are_bad_input() -> None:
    assert lease_timing({}) == (30.0, 1.0)
    assert lease_timing({"PODIUM_LEASE_SECONDS": "1.5"}) == (1.5, 0.5)
    for bad in (
        {"PODIUM_LEASE_SECONDS": "soon"},
        {"PODIUM_LEASE_SECONDS": "2", "PODIUM_HEARTBEAT_SECONDS": "3"},
    ):
        with pytest.raises(BadInput) as info:
            lease_timing(bad)
        assert "PODIUM_" in info.value.message and info.value.fix


def test_the_heartbeat_thread_ends_with_its_run(tmp_path: Path) -> None:
    (tmp_path / "fns.py").write_text("def f(prompt):\n    return prompt\n", encoding="utf-8")
    flow = tmp_path / "flow.yaml"
    flow.write_text("name: t\nagents:\n  a: {function: fns:f}\nsteps:\n  s1: {agent: a, prompt: hi}\n")
    run = podium.run(flow, store=tmp_path / "p.db")
    assert run.status == "succeeded"
    assert [t.name for t in threading.enumerate() if t.name.startswith("podium-heartbeat")] == []


def test_loop_blocked_names_the_foreach_item_whose_agent_blocks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "slow.py").write_text(
        "import time\n\nasync def nap(prompt):\n    time.sleep(1.4)  # the user's bug\n    return prompt\n",
        encoding="utf-8",
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: t\nagents:\n  a: {function: slow:nap}\n"
        "steps:\n  fan: {agent: a, foreach: '{{ [1] }}', prompt: 'x{{ item }}'}\n",
        encoding="utf-8",
    )
    with caplog.at_level("WARNING", logger="podium"):
        run = podium.run(flow, store=tmp_path / "p.db")
    assert run.status == "succeeded"
    blocked = [r.getMessage() for r in caplog.records if "LoopBlocked" in r.getMessage()]
    assert len(blocked) == 1 and "step 'fan[0]'" in blocked[0], blocked
