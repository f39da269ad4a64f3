"""The fault matrix: every cloud target, crossed with every fault and every policy, run through
`podium run` and the real SDK over HTTP to the cloud's emulator.

For each cell the run's status and exit code, the attempts the emulator served, the run's events
in order, and the usage and cost podium recorded are exactly what the policy says; the usage is
checked against what the emulator generated (billed) for the requests it answered in full. No fault
ever ends in a `succeeded` run without the step's real output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from reliability_support import (
    TARGETS,
    Clouds,
    Target,
    billed_tokens,
    delivered,
    recorded_tokens,
    script,
    types_of,
    write,
    yaml_of,
)

import podium.cli
from podium.core.store import SQLiteStore
from podium.providers._kit.faults import Faults

REPLY = "Tides are predictable."
USAGE = {"input_tokens": 120, "output_tokens": 30}
MOCK = {"ask": {"reply": REPLY, "usage": USAGE}}
RETRY_AFTER = 0.02  # seconds: the throttle's Retry-After, longer than the policy's own backoff
BACKOFF = 0.01
# a socket read timeout: long enough for any healthy reply on a busy machine, and the delay fault
# keeps the emulator silent far longer (it is woken when the emulator stops)
READ_TIMEOUT = 0.5
SILENCE = 30.0


@dataclass(frozen=True)
class FaultCase:
    inject: Callable[[Faults, str], None]
    kind: str  # podium's error kind for it
    retryable: bool
    # the emulator generated (and a cloud bills) the reply, but podium never received it whole
    billed_unseen: bool = False


FAULTS: dict[str, FaultCase] = {
    "throttle": FaultCase(lambda f, op: f.throttle(retry_after=RETRY_AFTER, operation=op), "throttled", True),
    "500": FaultCase(lambda f, op: f.server_error(500, operation=op), "transient", True),
    "503": FaultCase(lambda f, op: f.server_error(503, operation=op), "transient", True),
    "timeout": FaultCase(lambda f, op: f.delay(SILENCE, operation=op), "timeout", True),
    "cut": FaultCase(lambda f, op: f.cut(operation=op), "transient", True, billed_unseen=True),
    "malformed": FaultCase(lambda f, op: f.malformed(operation=op), "transient", True, billed_unseen=True),
    "auth": FaultCase(lambda f, op: f.deny(operation=op), "auth", False),
}

POLICIES: dict[str, dict[str, Any]] = {
    "retry": {"retry": {"attempts": 3, "backoff": BACKOFF, "jitter": False}},
    "fallback": {"retry": {"attempts": 1}, "fallback": ["local"]},
    "fail": {"retry": {"attempts": 1}},
}


def flow(tmp_path: Path, clouds: Clouds, target: Target, policy: str) -> Path:
    step = {"agent": "helper", "prompt": "What about tides?", **POLICIES[policy]}
    providers = {target.provider: clouds.settings(target, read_timeout=READ_TIMEOUT)}
    return write(
        tmp_path / "flow.yaml",
        f"""
        name: faults
        providers: {yaml_of(providers)}
        agents:
          helper: {yaml_of(clouds.agent(target, "helper"))}
        steps:
          ask: {yaml_of(step)}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
        mock: {yaml_of(MOCK)}
        """,
    )


def podium_run(path: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        podium.cli.cli,
        ["run", str(path), "--json", "-q", "--db", str(path.parent / "runs.db")],
        catch_exceptions=False,
    )
    return result.exit_code, json.loads(result.stdout)


Baselines = dict[str, tuple[Decimal, int]]


@pytest.fixture(scope="module")
def baselines() -> Baselines:
    return {}


def clean_cost(tmp_path: Path, clouds: Clouds, target: Target, baselines: Baselines) -> tuple[Decimal, int]:
    """What one clean call of the step costs on `target` (a run with no fault), measured once:
    the total and the number of unpriced calls (an Agent Engine's reply names no model)."""
    if target.name not in baselines:
        (tmp_path / "clean").mkdir()
        emulator = clouds.emulator(target)
        before = len(emulator.requests)
        code, shown = podium_run(flow(tmp_path / "clean", clouds, target, "fail"))
        assert (code, shown["status"]) == (0, "succeeded")
        assert [e.status for e in calls_of_since(emulator, target, before)] == [200]
        cost = shown["cost"]
        assert (cost["calls"], cost["input_tokens"], cost["output_tokens"]) == (1, *USAGE.values())
        baselines[target.name] = (Decimal(cost["total_usd"]), cost["unpriced_calls"])
    return baselines[target.name]


def calls_of_since(emulator: Any, target: Target, index: int) -> list[Any]:
    return [e for e in emulator.requests[index:] if e.operation == target.operation]


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fault_policy_cell(
    tmp_path: Path, clouds: Clouds, baselines: Baselines, target: Target, fault: str, policy: str
) -> None:
    case = FAULTS[fault]
    emulator = clouds.emulator(target)
    script(emulator, MOCK)
    baseline = clean_cost(tmp_path, clouds, target, baselines)
    path = flow(tmp_path, clouds, target, policy)
    before = len(emulator.requests)
    emulator.faults.clear()
    case.inject(emulator.faults, target.operation)

    code, shown = podium_run(path)

    attempts = calls_of_since(emulator, target, before)
    store = SQLiteStore(path.parent / "runs.db")
    try:
        events = store.events(shown["run_id"])
    finally:
        store.close()
    assert len(emulator.faults) == 0, "the fault was never reached"

    retried = policy == "retry" and case.retryable
    fell_back = policy == "fallback"
    succeeded = retried or fell_back
    # the end state, and the exit code a script sees
    assert (shown["status"], code) == (("succeeded", 0) if succeeded else ("failed", 1))
    step = shown["steps"]["ask"]
    if succeeded:  # never a success without the step's real output
        assert step["output"] == REPLY and shown["outputs"] == {"answer": REPLY}
        assert step["provider"] == ("local" if fell_back else target.provider)
    else:
        assert step["status"] == "failed" and step["error"]["kind"] == case.kind
        assert shown["outputs"] == {}
    # the attempts the cloud served: the faulted one, then one good one when retried
    seen = ["silent" if e.status == 0 else e.fault for e in attempts]  # a delay still sleeps
    assert seen == ([fault_name(fault), None] if retried else [fault_name(fault)])
    # the events, in order, and what each failed call says happens next
    then = "retry" if retried else ("fallback:local" if fell_back else "fail")
    tail = ["CallStarted", "CallFinished", "StepSucceeded"] if succeeded else ["StepFailed"]
    assert types_of(events) == [
        "RunStarted",
        "StepStarted",
        "CallStarted",
        "CallFailed",
        *tail,
        "RunFinished",
    ]
    [failed] = [e.data for e in events if str(e.type) == "CallFailed"]
    assert (failed["provider"], failed["kind"], failed["retryable"], failed["then"]) == (
        target.provider,
        case.kind,
        case.retryable,
        then,
    )
    expected_delay = (RETRY_AFTER if fault == "throttle" else BACKOFF) if retried else None
    assert failed["delay"] == expected_delay
    # usage: podium recorded exactly the replies it received whole, which the emulator billed
    cloud_tokens = recorded_tokens(events, target.provider)
    assert cloud_tokens == billed_tokens(delivered(attempts))
    assert cloud_tokens == ((USAGE["input_tokens"], USAGE["output_tokens"]) if retried else (0, 0))
    # a cut or malformed reply was generated (a cloud bills it) but never seen: podium cannot count it
    unseen = billed_tokens(a for a in attempts if a.fault is not None)
    assert unseen == ((USAGE["input_tokens"], USAGE["output_tokens"]) if case.billed_unseen else (0, 0))
    cost = shown["cost"]
    if retried:
        assert (cost["calls"], cost["retries"]) == (1, 1)
        assert (Decimal(cost["total_usd"]), cost["unpriced_calls"]) == baseline
    elif fell_back:  # one call billed: the fallback's (attempt 2: a scripted reply, priced as its model)
        assert recorded_tokens(events, "local") == (USAGE["input_tokens"], USAGE["output_tokens"])
        assert (cost["calls"], cost["retries"]) == (1, 1)
        assert (cost["input_tokens"], cost["output_tokens"]) == (
            USAGE["input_tokens"],
            USAGE["output_tokens"],
        )
    else:
        assert (cost["calls"], Decimal(cost["total_usd"])) == (0, Decimal(0))


def fault_name(fault: str) -> str:
    """The fault the emulator logs for a FAULTS entry ("silent": a delay, still sleeping)."""
    return {"throttle": "throttle", "500": "server_error", "503": "server_error", "timeout": "silent",
            "cut": "cut", "malformed": "malformed", "auth": "auth"}[fault]  # fmt: skip
