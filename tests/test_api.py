"""The library's front door (podium.api): inputs checked, runs read, decided, cancelled, resumed,
deleted and collected, with every event another process writes seen by plugins too."""

from __future__ import annotations

import json
import os
import socket
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import podium
from podium import api
from podium.core.errors import BadInput, InputError, RunBusy, RunNotFound
from podium.core.events import Event, EventType, RunStatus
from podium.core.replay import fold
from podium.core.run import Run
from podium.core.store import MemoryStore, RunStore, SQLiteStore
from podium.testing import EventRecorder, PluginsFixture

ANOTHER_LIVE_PROCESS = f"{socket.gethostname()}:{os.getpid()}:other"  # this pid: alive

GATED = """
name: gated
inputs:
  topic: string
  n: {type: integer, default: 2}
agents: {w: {}}
steps:
  draft: {agent: w, prompt: "about {{ inputs.topic }}"}
  gate:
    needs: [draft]
    approval:
      message: "ship {{ steps.draft.output }}?"
      fields:
        reason: {type: string}
        score: {type: integer, required: false}
  ship: {agent: w, prompt: "shipped {{ steps.gate.output.reason }}", needs: [gate]}
outputs:
  shipped: "{{ steps.ship.output }}"
mock:
  draft: the draft
  ship: {reply: done, usage: {input_tokens: 10, output_tokens: 4}}
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "flow.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
async def waiting(
    write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> Run:
    """A run of GATED, waiting at `gate` with no process driving it."""
    run = await podium.arun(write(GATED), {"topic": "tides"}, store=podium_store, plugins=podium_plugins.pm)
    assert run.status is RunStatus.WAITING, run.error
    return run


def events(store: RunStore, run_id: str) -> list[tuple[int, str, str | None]]:
    return [(e.seq, str(e.type), e.step) for e in store.events(run_id)]


# --- inputs, runs ---------------------------------------------------------------------------------


def test_checked_inputs_types_defaults_and_errors(write: Callable[[str], Path]) -> None:
    wf = podium.load(write(GATED))
    checked = api.checked_inputs(wf, {"topic": "tides", "n": "3"})
    assert checked == {"topic": "tides", "n": 3}
    assert api.checked_inputs(wf, {"topic": "tides"}) == {"topic": "tides", "n": 2}
    assert api.checked_inputs(wf, checked) is checked  # already checked: taken as it is
    with pytest.raises(InputError, match="missing required input 'topic'"):
        api.checked_inputs(wf, {})
    with pytest.raises(InputError, match="input 'n' must be integer"):
        api.checked_inputs(wf, {"topic": "t", "n": "many"})
    with pytest.raises(InputError, match="did you mean 'topic'"):
        api.checked_inputs(wf, {"topik": "t"})
    with pytest.raises(InputError, match="inputs must be a mapping of input name to value, not list"):
        api.checked_inputs(wf, ["topic"])  # type: ignore[arg-type]  # once: "'topic' is not an input"


def test_the_testing_docstring_a_test_double_runs_a_workflow_whose_agents_name_model_classes(
    write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> None:
    from podium.testing import function_provider

    models: list[str | None] = []

    def reply(request: Any) -> str:
        models.append(request.model)
        return f"echo: {request.prompt}"

    flow = write(
        """
        name: classes
        agents: {a: {model: fast}, b: {model: smart}}
        steps:
          one: {agent: a, prompt: hi}
          two: {agent: b, needs: [one], prompt: "{{ steps.one.output }}"}
        outputs: {said: "{{ steps.two.output }}"}
        """
    )
    podium_plugins.register_provider(function_provider("fake", reply))
    # once refused: "model class 'fast' has no model for fake"
    run = podium.run(str(flow), provider="fake", plugins=podium_plugins.pm, store=podium_store)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"said": "echo: echo: hi"}
    assert models == ["fast", "smart"]  # the class name, as the double was asked


async def test_arun_front_door_with_a_memory_store(
    write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> None:
    path = write(
        """
        name: front-door
        inputs:
          who: string
        agents: {w: {}}
        steps:
          greet: {agent: w, prompt: "hello {{ inputs.who }}"}
        outputs:
          greeting: "{{ steps.greet.output }}"
        mock:
          greet: {reply: hi there, usage: {input_tokens: 10, output_tokens: 4}}
        """
    )
    run = await podium.arun(path, {"who": "ann"}, store=podium_store, plugins=podium_plugins.pm)
    assert run.status is RunStatus.SUCCEEDED
    assert run.outputs == {"greeting": "hi there"}
    assert run.inputs == {"who": "ann"}
    assert (run.usage.input_tokens, run.usage.output_tokens) == (10, 4)
    assert run.steps["greet"].usage.input_tokens == 10
    stored = podium_store.events(run.run_id)
    assert json.loads(json.dumps([e.to_dict() for e in stored]))  # every event is JSON-able
    assert fold(stored, ["greet"]).model_dump() == run.model_dump()
    assert api.get_run(run.run_id, store=podium_store).model_dump() == run.model_dump()


async def test_a_run_id_given_to_run_names_a_new_run(
    write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> None:
    path = write("name: t\nagents: {w: {}}\nsteps: {a: {agent: w}}\nmock: {a: hi}\n")
    first = await podium.arun(path, store=podium_store, plugins=podium_plugins.pm, run_id="mine")
    assert first.ok
    for taken in ("mine", "latest", "../x", "<script>", "a b", "\x1b[31m", "x" * 101, ""):
        with pytest.raises(BadInput, match="run_id") as caught:
            await podium.arun(path, store=podium_store, plugins=podium_plugins.pm, run_id=taken)
        assert caught.value.exit_code == 2
    assert podium_store.last_seq("mine") == len(podium_store.events("mine"))  # its log untouched
    assert api.get_run("mine", store=podium_store).model_dump() == first.model_dump()


async def test_get_run_latest_and_by_prefix(
    write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> None:
    path = write(GATED)
    first = await podium.arun(
        path, {"topic": "a"}, store=podium_store, plugins=podium_plugins.pm, run_id="r-1"
    )
    second = await podium.arun(
        path, {"topic": "b"}, store=podium_store, plugins=podium_plugins.pm, run_id="r-2"
    )
    assert api.get_run("latest", store=podium_store).run_id == second.run_id
    assert api.get_run("r-1", store=podium_store).inputs == first.inputs == {"topic": "a", "n": 2}
    with pytest.raises(RunNotFound, match="more than one run"):
        api.get_run("r-", store=podium_store)


async def test_a_bad_budget_is_an_input_error_and_no_run_is_stored(
    write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> None:
    with pytest.raises(InputError, match="not a budget") as info:
        await podium.arun(
            write(GATED),
            {"topic": "t"},
            store=podium_store,
            plugins=podium_plugins.pm,
            settings={"budget": "abc"},
        )
    assert info.value.fix
    assert podium_store.runs() == []


async def test_settings_are_parsed_once_and_recorded_as_given(
    write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> None:
    run = await podium.arun(
        write(GATED),
        {"topic": "t"},
        store=podium_store,
        plugins=podium_plugins.pm,
        settings={"budget": "$0.50", "my_plugin": {"k": 1}},
    )
    started = podium_store.events(run.run_id)[0]
    assert started.data["settings"] == {"budget": "0.50", "my_plugin": {"k": 1}}


async def test_aresume_of_a_succeeded_run_returns_it_unchanged(
    write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> None:
    path = write("name: once\nagents: {w: {}}\nsteps:\n  s: {agent: w, prompt: hi}\nmock:\n  s: ok\n")
    run = await podium.arun(path, store=podium_store, plugins=podium_plugins.pm)
    before = events(podium_store, run.run_id)
    path.unlink()  # not even the file is needed
    again = await podium.aresume(run.run_id, store=podium_store, plugins=podium_plugins.pm)
    assert again.model_dump() == run.model_dump()
    assert events(podium_store, run.run_id) == before


# --- decide, cancel, waiting ----------------------------------------------------------------------


async def test_waiting_lists_what_a_waiting_run_asks(waiting: Run, podium_store: MemoryStore) -> None:
    assert api.waiting(waiting.run_id, store=podium_store) == [
        {
            "step": "gate",
            "message": "ship the draft?",
            "deadline": None,
            "on_timeout": "reject",
            "fields": {
                "reason": {"type": "string", "required": True, "description": None},
                "score": {"type": "integer", "required": False, "description": None},
            },
            "decision": None,
        }
    ]


async def test_decide_records_the_decision_where_plugins_see_it_and_resume_continues(
    waiting: Run, podium_plugins: PluginsFixture, podium_store: MemoryStore, podium_events: EventRecorder
) -> None:
    before = len(podium_events.events)
    result = api.decide(
        waiting.run_id, "gate", "approved", by="ann", comment="ok", fields={"reason": "fine", "score": "5"},
        store=podium_store, plugins=podium_plugins.pm,
    )  # fmt: skip
    assert result == "recorded"
    decided = podium_store.events(waiting.run_id)[-1]
    assert (decided.type, decided.step, decided.seq) == (
        EventType.APPROVAL_DECIDED,
        "gate",
        waiting.last_seq + 1,
    )
    assert decided.data == {
        "decision": "approved",
        "by": "ann",
        "comment": "ok",
        "fields": {"reason": "fine", "score": 5},
    }
    assert podium_events.events[before:] == [decided]
    assert podium_store.lease(waiting.run_id).owner is None
    [asked] = api.waiting(waiting.run_id, store=podium_store)  # decided, until a resume applies it
    assert asked["decision"] == decided.data
    resumed = await podium.aresume(waiting.run_id, store=podium_store, plugins=podium_plugins.pm)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.steps["gate"].output["reason"] == "fine"
    assert resumed.outputs == {"shipped": "done"}
    ship = [
        e
        for e in podium_store.events(waiting.run_id)
        if e.type is EventType.CALL_STARTED and e.step == "ship"
    ]
    assert ship[0].data["prompt"] == "shipped fine"


async def test_decide_sends_the_decision_to_a_live_process_driving_the_run(
    waiting: Run, podium_plugins: PluginsFixture, podium_store: MemoryStore, podium_events: EventRecorder
) -> None:
    podium_store.acquire_lease(waiting.run_id, ANOTHER_LIVE_PROCESS)
    before = events(podium_store, waiting.run_id)
    seen = len(podium_events.events)
    result = api.decide(
        waiting.run_id,
        "gate",
        "rejected",
        fields={"reason": "no"},
        store=podium_store,
        plugins=podium_plugins.pm,
    )
    assert result == "sent"
    assert events(podium_store, waiting.run_id) == before
    assert len(podium_events.events) == seen
    assert [(m.kind, m.data) for m in podium_store.take(waiting.run_id)] == [
        (
            "decision",
            {"step": "gate", "decision": "rejected", "by": None, "comment": None, "fields": {"reason": "no"}},
        )
    ]


@pytest.mark.parametrize(
    ("step", "fields", "error", "message"),
    [
        pytest.param(
            "gat", {"reason": "r"}, BadInput, "has no step 'gat'; did you mean 'gate'?", id="unknown-step"
        ),
        pytest.param("draft", {}, BadInput, "step 'draft' of run", id="not-an-approval"),
        pytest.param("gate", {}, InputError, "needs the field 'reason' (string)", id="missing-field"),
        pytest.param(
            "gate", {"reason": "r", "scor": 1}, InputError, "did you mean 'score'", id="unknown-field"
        ),
        pytest.param(
            "gate",
            {"reason": "r", "score": "high"},
            InputError,
            "the field 'score' must be integer",
            id="wrong-type",
        ),
    ],
)
async def test_decide_refuses_what_the_step_does_not_ask_and_records_nothing(
    waiting: Run,
    podium_plugins: PluginsFixture,
    podium_store: MemoryStore,
    step: str,
    fields: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    before = events(podium_store, waiting.run_id)
    with pytest.raises(error) as info:
        api.decide(
            waiting.run_id, step, "approved", fields=fields, store=podium_store, plugins=podium_plugins.pm
        )
    assert message in str(info.value)
    assert getattr(info.value, "fix", None)
    assert events(podium_store, waiting.run_id) == before


@pytest.mark.parametrize("decision", ["approve", "Approved", "maybe"])
async def test_decide_refuses_a_decision_that_is_neither_approved_nor_rejected(
    waiting: Run, podium_store: MemoryStore, decision: str
) -> None:
    before = events(podium_store, waiting.run_id)
    with pytest.raises(InputError, match="neither 'approved' nor 'rejected'") as info:
        api.decide(waiting.run_id, "gate", decision, fields={"reason": "r"}, store=podium_store)
    assert info.value.fix == "pass decision='approved' or decision='rejected'"
    assert events(podium_store, waiting.run_id) == before


async def test_cancel_records_the_end_where_plugins_see_it(
    waiting: Run, podium_plugins: PluginsFixture, podium_store: MemoryStore, podium_events: EventRecorder
) -> None:
    seen = len(podium_events.events)
    assert api.cancel(waiting.run_id, by="ann", store=podium_store, plugins=podium_plugins.pm) == "cancelled"
    finished = podium_store.events(waiting.run_id)[-1]
    assert finished.type is EventType.RUN_FINISHED
    assert finished.data == {"status": "cancelled", "outputs": {}, "cancelled_by": "ann"}
    assert podium_events.events[seen:] == [finished]
    assert api.get_run(waiting.run_id, store=podium_store).status is RunStatus.CANCELLED
    # a finished run is left as it is, its status returned
    assert api.cancel(waiting.run_id, store=podium_store, plugins=podium_plugins.pm) == "cancelled"
    assert podium_store.events(waiting.run_id)[-1] == finished
    with pytest.raises(BadInput, match="has cancelled"):
        api.decide(waiting.run_id, "gate", "approved", fields={"reason": "r"}, store=podium_store)


async def test_cancel_asks_a_live_process_to_stop_and_leaves_a_finished_run_alone(
    waiting: Run, write: Callable[[str], Path], podium_plugins: PluginsFixture, podium_store: MemoryStore
) -> None:
    podium_store.acquire_lease(waiting.run_id, ANOTHER_LIVE_PROCESS)
    before = events(podium_store, waiting.run_id)
    assert api.cancel(waiting.run_id, by="bob", store=podium_store, plugins=podium_plugins.pm) == "requested"
    assert events(podium_store, waiting.run_id) == before
    assert [(m.kind, m.data) for m in podium_store.take(waiting.run_id)] == [("cancel", {"by": "bob"})]
    path = write(
        "name: once\nagents: {w: {}}\nsteps:\n  s: {agent: w, prompt: hi}\nmock:\n  s: ok\n", "once.yaml"
    )
    done = await podium.arun(path, store=podium_store, plugins=podium_plugins.pm)
    assert api.cancel(done.run_id, store=podium_store, plugins=podium_plugins.pm) == "succeeded"
    assert api.get_run(done.run_id, store=podium_store).status is RunStatus.SUCCEEDED


# --- delete and gc --------------------------------------------------------------------------------


def stored_run(
    store: RunStore, run_id: str, end: EventType | None, *, age: timedelta, status: str = ""
) -> None:
    """A run whose events are `age` old: started, then ended by `end` (None: still running)."""
    at = datetime.now(UTC) - age
    store.append(Event(run_id, 1, EventType.RUN_STARTED, data={"workflow": "w"}, at=at))
    if end is not None:
        data = {"status": status, "outputs": {}} if end is EventType.RUN_FINISHED else {}
        store.append(Event(run_id, 2, end, data=data, at=at))


DAY = timedelta(days=1)


def test_delete_runs_refuses_a_driven_run_and_then_deletes_nothing() -> None:
    store = MemoryStore()
    stored_run(store, "done", EventType.RUN_FINISHED, status="succeeded", age=DAY)
    stored_run(store, "driven", None, age=timedelta(0))
    store.acquire_lease("driven", ANOTHER_LIVE_PROCESS)
    with pytest.raises(RunBusy, match="run driven is being driven") as info:
        api.delete_runs(["done", "driven"], store=store)
    assert "podium cancel driven" in str(info.value.fix)
    assert [e.seq for e in store.events("done")] == [1, 2]
    deleted = api.delete_runs(["done"], store=store)
    assert [r.run_id for r in deleted] == ["done"]
    assert store.events("done") == []
    with pytest.raises(RunNotFound):
        store.get_run("done")
    assert [e.seq for e in store.events("driven")] == [1]
    with pytest.raises(RunNotFound):
        api.delete_runs(["nothing-like-it"], store=store)


@pytest.mark.parametrize("how", ["delete_runs", "gc"])
async def test_a_waiting_run_a_live_process_holds_is_neither_deleted_nor_collected(
    waiting: Run, podium_store: MemoryStore, how: str
) -> None:
    podium_store.acquire_lease(waiting.run_id, ANOTHER_LIVE_PROCESS)  # as `podium run --wait` does
    if how == "delete_runs":
        with pytest.raises(RunBusy):
            api.delete_runs([waiting.run_id], store=podium_store)
    else:
        assert api.gc(-60, store=podium_store) == []  # a cutoff in the future: every run is old enough
    assert podium_store.events(waiting.run_id)


@pytest.fixture(params=["memory", "sqlite"])
def aged(request: pytest.FixtureRequest, tmp_path: Path) -> RunStore:
    """Runs of every kind a day old, one fresh, one driven by a live process, one crashed."""
    store: RunStore = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "runs.db")
    stored_run(store, "old-ok", EventType.RUN_FINISHED, status="succeeded", age=2 * DAY)
    stored_run(store, "old-failed", EventType.RUN_FINISHED, status="failed", age=2 * DAY)
    stored_run(store, "old-stopped", EventType.RUN_STOPPED, age=2 * DAY)
    stored_run(store, "old-crashed", None, age=2 * DAY)  # running, no live lease: nobody drives it
    stored_run(store, "old-driven", None, age=2 * DAY)
    store.acquire_lease("old-driven", ANOTHER_LIVE_PROCESS)
    stored_run(store, "fresh", EventType.RUN_FINISHED, status="succeeded", age=timedelta(hours=1))
    return store


@pytest.mark.parametrize(
    ("keep_failed", "deleted"),
    [
        (False, {"old-ok", "old-failed", "old-stopped", "old-crashed"}),
        (True, {"old-ok", "old-crashed"}),
    ],
)
def test_gc_deletes_runs_older_than_the_cutoff_but_never_a_driven_one(
    aged: RunStore, keep_failed: bool, deleted: set[str]
) -> None:
    everything = {r.run_id for r in aged.runs()}
    planned = api.gc(DAY.total_seconds(), keep_failed=keep_failed, dry_run=True, store=aged)
    assert {r.run_id for r in planned} == deleted
    assert {r.run_id for r in aged.runs()} == everything  # a dry run deletes nothing
    done = api.gc(DAY.total_seconds(), keep_failed=keep_failed, store=aged)
    assert {r.run_id for r in done} == deleted
    assert {r.run_id for r in aged.runs()} == everything - deleted
    assert all(aged.events(run_id) == [] for run_id in deleted)
    assert [e.seq for e in aged.events("old-driven")] == [1]
    aged.close()


def test_dir_shows_the_public_names_before_they_load() -> None:
    import subprocess
    import sys

    probe = "import podium, sys; print(set(podium.__all__) <= set(dir(podium)), 'podium.api' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "False"]  # listed, and still not loaded


SLOW = """
name: slow
agents: {w: {function: "slow_agent:wait"}}
steps:
  first: {agent: w, prompt: go}
"""
SLOW_AGENT = """
import asyncio, pathlib

async def wait(prompt: str) -> str:
    pathlib.Path(__file__).with_name("started").touch()  # the test interrupts once it sees this
    await asyncio.sleep(60)
    return "too late"
"""


async def test_the_sync_api_works_inside_a_running_event_loop(write: Callable[[str], Path]) -> None:
    # a notebook's cell, or an async app calling the sync API: asyncio.run refuses there
    path = write("name: t\nagents: {w: {provider: local}}\nmock: {w: hi}\nsteps: {a: {agent: w}}\n")
    store = path.parent / "runs.db"
    first = podium.run(path, store=store)
    assert first.status is RunStatus.SUCCEEDED and first.steps["a"].output == "hi"
    again = podium.resume(first.run_id, store=store)
    assert again.status is RunStatus.SUCCEEDED


@pytest.fixture
def ctrl_c_heard() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt here, as in a terminal, even when the suite was started as
    a background job (whose shell ignores SIGINT, and Python keeps it ignored)."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("how", ["notebook", "asyncio.run"])
@pytest.mark.usefixtures("ctrl_c_heard")
def test_ctrl_c_while_the_sync_api_waits_in_a_loop_cancels_the_run(
    write: Callable[[str], Path], how: str
) -> None:
    # a notebook's interrupt is a KeyboardInterrupt in its thread; asyncio.run makes it a cancel of
    # its main task: either way the run is cancelled and recorded so, not left running
    import asyncio
    import signal
    import threading
    import time

    path = write(SLOW)
    write(SLOW_AGENT, "slow_agent.py")
    store = path.parent / "runs.db"

    def interrupt_once_started() -> None:
        while not (path.parent / "started").exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    async def cell() -> Run:
        return podium.run(path, store=store)

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        if how == "notebook":  # a loop that installs no SIGINT handler, as a kernel's
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(cell())
            finally:
                loop.close()
        else:
            asyncio.run(cell())
    opened = SQLiteStore(store)
    try:
        [record] = opened.runs()
    finally:
        opened.close()
    assert record.status == "cancelled"
    run = podium.get_run(record.run_id, store=store)
    assert run.status is RunStatus.CANCELLED and run.steps["first"].status == "cancelled"
