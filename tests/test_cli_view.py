"""What the live view says about a failed call: only a retry that will happen is called one."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from podium.cli_view import LiveView
from podium.core.events import Event, EventType


def _view() -> tuple[LiveView, io.StringIO]:
    out = io.StringIO()
    view = LiveView(["s", "t"], enabled=True)
    view.console = Console(file=out, width=200, no_color=True)
    view.live_mode = False  # one line per thing that happens, as in a pipe or CI log
    return view, out


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"delay": 1.5, "retryable": True, "then": "retry"}, "(retrying in 1.5s)"),
        ({"delay": None, "retryable": True, "then": "fail"}, "(no retries left)"),
        ({"delay": None, "retryable": False, "then": "fallback:local"}, "(falling back to local)"),
        ({"delay": None, "retryable": True, "then": "repair"}, "(asking the agent to fix its reply)"),
        ({"delay": 2.0, "retryable": True}, "(retrying in 2.0s)"),  # an event from before `then` existed
    ],
)
def test_a_failed_call_says_what_follows(data: dict[str, object], said: str) -> None:
    view, out = _view()
    view.podium_event(
        event=Event(
            "r", 1, EventType.CALL_FAILED, "s", 1, {"kind": "throttled", "message": "slow down", **data}
        )
    )
    assert said in out.getvalue()


@pytest.mark.parametrize("then", ["fail", "cancel", "fallback:local"])
def test_nothing_is_called_a_retry_when_none_will_happen(then: str) -> None:
    view, out = _view()
    data = {"kind": "cancelled", "message": "x", "retryable": True, "delay": None, "then": then}
    view.podium_event(event=Event("r", 1, EventType.CALL_FAILED, "s", 1, data))
    assert "retrying" not in out.getvalue()


def test_a_cancelled_run_leaves_no_step_running_in_the_view() -> None:
    view, _ = _view()
    view.podium_event(event=Event("r", 1, EventType.STEP_STARTED, "s", None, {}))
    view.podium_event(event=Event("r", 2, EventType.RUN_FINISHED, None, None, {"status": "cancelled"}))
    assert view.steps["s"]["status"] == "cancelled" and view.steps["t"]["status"] == "pending"


def test_a_rejected_approval_shows_as_rejected() -> None:
    view, out = _view()
    view.podium_event(
        event=Event("r", 1, EventType.STEP_FAILED, "s", None, {"kind": "rejected", "message": "no"})
    )
    view.podium_event(event=Event("r", 2, EventType.STEP_REJECTED, "t", None, {"output": {}}))
    assert view.steps["s"]["status"] == "rejected" and view.steps["t"]["status"] == "rejected"
    assert "succeeded" not in out.getvalue()
