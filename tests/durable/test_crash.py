"""Real crashes: `podium run` in a subprocess, SIGKILLed at several points, then `podium resume`.

After every resume: the run succeeded; each call ran to completion exactly once, except the ones in
flight at a kill (at most once more per kill); outputs and summed usage equal a clean run's; the
store passes `PRAGMA integrity_check`; an in-flight call was re-issued under its idempotency key.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time
from collections import Counter
from typing import Any

import pytest

from .helpers import (
    CALL_KEYS,
    FLOW,
    STEPS,
    Workspace,
    idempotency_keys,
    inflight,
    subprocess_env,
    wait_for,
)

Key = tuple[str, int | None]


def assert_recovered(
    ws: Workspace, run_id: str, clean: dict[str, Any], in_flight: list[set[Key]]
) -> dict[str, Any]:
    """The invariants of a run resumed after kills; `in_flight` holds the open calls at each kill."""
    assert ws.integrity() == "ok"
    shown = ws.show(run_id)
    assert shown["status"] == "succeeded", shown.get("error")
    assert {sid: s["status"] for sid, s in shown["steps"].items()} == dict.fromkeys(STEPS, "succeeded")
    # finished outputs and every later prompt are what an uninterrupted run gives
    assert shown["outputs"] == clean["outputs"]
    assert {sid: s["output"] for sid, s in shown["steps"].items()} == {
        sid: s["output"] for sid, s in clean["steps"].items()
    }
    # nothing re-billed: summed and per-step usage equal the clean run's
    assert shown["usage"] == clean["usage"]
    assert {sid: s["usage"] for sid, s in shown["steps"].items()} == {
        sid: s["usage"] for sid, s in clean["steps"].items()
    }
    done = ws.done()
    assert set(done) == set(CALL_KEYS)
    for key in CALL_KEYS:
        allowed = 1 + sum(key in kill for kill in in_flight)
        assert 1 <= done[key] <= allowed, (key, done[key], in_flight)
    # a call re-issued after a crash keeps its idempotency key: one key per call, ever
    events = ws.events(run_id)
    keys = idempotency_keys(events)
    for key in CALL_KEYS:
        assert len(set(keys[key])) == 1, (key, keys[key])
    for kill in in_flight:
        for key in kill:
            assert len(keys[key]) >= 2, f"{key} was in flight at a kill but never re-issued: {keys[key]}"
    # one RunFinished, at the end
    finished = [e for e in events if e["type"] == "RunFinished"]
    assert len(finished) == 1 and finished[0]["seq"] == events[-1]["seq"]
    return shown


def resume(ws: Workspace, run_id: str) -> dict[str, Any]:
    result, data = ws.podium_json("resume", run_id)
    assert result.code == 0, result.out
    assert data["status"] == "succeeded"
    return data


# --- kill right after a step's StepSucceeded is durable ----------------------------------------


@pytest.mark.parametrize("after", ["s2", "join", "each"])
def test_kill_right_after_a_step_succeeded(ws: Workspace, clean_run: dict[str, Any], after: str) -> None:
    ws.write(FLOW)
    ws.env = subprocess_env(DURABLE_DELAY="0.08")
    proc = ws.spawn("run", "flow.yaml", "--json")
    wait_for(lambda: ws.has_event("StepSucceeded", after), what=f"StepSucceeded {after}")
    ws.kill(proc)
    assert proc.returncode == -9
    run_id = ws.run_id()
    before = ws.events(run_id)
    assert not any(e["type"] == "RunFinished" for e in before), "killed too late: the run had ended"
    settled = {e["step"] for e in before if e["type"] == "StepSucceeded"}
    assert after in settled
    open_calls = inflight(before)
    assert ws.integrity() == "ok"
    # no process drives it any more: it is interrupted, not running, wherever a person looks
    assert ws.cli_json("show", run_id)[1]["status"] == "interrupted"
    assert f"podium resume {run_id}" in ws.cli("show", run_id).stdout
    listed = {r["run_id"]: r["status"] for r in ws.cli_json("runs")[1]}
    assert listed[run_id] == "interrupted"
    assert [r["run_id"] for r in ws.cli_json("runs", "--status", "interrupted")[1]] == [run_id]
    assert ws.cli_json("runs", "--status", "running")[1] == []

    ws.env = subprocess_env()
    resume(ws, run_id)
    assert_recovered(ws, run_id, clean_run, [open_calls])
    # the settled steps were not called again
    done = ws.done()
    for key in CALL_KEYS:
        if key[0] in settled:
            assert done[key] == 1, key


# --- kill mid-call ------------------------------------------------------------------------------


@pytest.mark.parametrize("held", ["s3", "fb", "each.1"])
def test_kill_mid_call_reissues_it_under_the_same_idempotency_key(
    ws: Workspace, clean_run: dict[str, Any], held: str
) -> None:
    ws.write(FLOW)
    ws.hold(held)
    proc = ws.spawn("run", "flow.yaml")
    wait_for(lambda: ws.entered(held), what=f"{held} entered")
    time.sleep(0.1)  # let the other branches of the fan-out finish or get going
    ws.kill(proc)
    ws.release(held)
    run_id = ws.run_id()
    before = ws.events(run_id)
    step, _, item = held.partition(".")
    key: Key = (step, int(item) if item else None)
    open_calls = inflight(before)
    assert key in open_calls
    started = [e for e in before if e["type"] == "CallStarted" and (e["step"], e["data"].get("item")) == key]
    assert len(started) == 1
    first_key = started[0]["data"]["idempotency_key"]
    # the step in flight when the process died is shown interrupted, like its run: nothing runs it
    shown = ws.cli_json("show", run_id)[1]
    assert shown["status"] == "interrupted"
    assert shown["steps"][step]["status"] == "interrupted"
    assert not [sid for sid, s in shown["steps"].items() if s["status"] == "running"]

    resume(ws, run_id)
    assert_recovered(ws, run_id, clean_run, [open_calls])
    after = idempotency_keys(ws.events(run_id))[key]
    assert after == [first_key, first_key]
    # the held call started twice (killed once) and finished once
    starts = Counter((c["step"], c["index"]) for c in ws.calls() if c["kind"] == "start")
    assert starts[key] == 2 and ws.done()[key] == 1


# --- kill at an exact event, from inside the process --------------------------------------------

DRIVER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from podium import api

    mode, db, target, type_, step, item = sys.argv[1:7]

    class Killer:
        def podium_event(self, event):
            if str(event.type) != type_ or (step != "-" and event.step != step):
                return
            if item != "-" and event.data.get("item") != int(item):
                return
            os.kill(os.getpid(), signal.SIGKILL)

    if mode == "run":
        asyncio.run(api.arun(target, store=db, run_id="R1", observers=[Killer()]))
    else:
        asyncio.run(api.aresume(target, store=db, observers=[Killer()]))
    sys.exit(3)  # the killer never fired
    """
)


def drive_until_killed(ws: Workspace, mode: str, target: str, type_: str, step: str, item: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, mode, str(ws.db), target, type_, step, item],
        cwd=ws.dir, env=ws.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == -9, (done.returncode, done.stderr)


@pytest.mark.parametrize(
    ("type_", "step", "item"),
    [
        ("RunStarted", "-", "-"),  # before the lease is even taken
        ("CallStarted", "s3", "-"),  # the call is recorded, the function not yet entered
        ("CallFinished", "s3", "-"),  # the reply is recorded, the step's output not yet
        ("StepSucceeded", "s3", "-"),
        ("CallFinished", "each", "1"),
        ("ItemSucceeded", "each", "1"),
        ("StepSucceeded", "s10", "-"),  # every step done, the run not yet finished
    ],
)
def test_kill_at_an_exact_event(
    ws: Workspace, clean_run: dict[str, Any], type_: str, step: str, item: str
) -> None:
    ws.write(FLOW)
    drive_until_killed(ws, "run", "flow.yaml", type_, step, item)
    before = ws.events("R1")
    # the event the observer saw was durable before it saw it; events of the same loop turn are
    # written in one transaction, so others may follow it in the store (never a later turn's)
    seen = [
        e
        for e in before
        if e["type"] == type_
        and (step == "-" or e["step"] == step)
        and (item == "-" or e["data"].get("item") == int(item))
    ]
    assert seen, (type_, step, item, [e["type"] for e in before[-5:]])
    open_calls = inflight(before)
    replied = {(e["step"], e["data"].get("item")) for e in before if e["type"] == "CallFinished"}

    resume(ws, "R1")
    assert_recovered(ws, "R1", clean_run, [open_calls])
    done = ws.done()
    # a call whose reply was recorded is never made again, even if its step had not settled
    for key in replied:
        assert done[key] == 1, key


def test_kill_a_resume_right_after_it_took_over_then_resume_again(
    ws: Workspace, clean_run: dict[str, Any]
) -> None:
    ws.write(FLOW)
    drive_until_killed(ws, "run", "flow.yaml", "CallStarted", "s4", "-")
    first = inflight(ws.events("R1"))
    drive_until_killed(ws, "resume", "R1", "RunResumed", "-", "-")
    second = inflight(ws.events("R1"))
    assert first == second == {("s4", None)}
    drive_until_killed(ws, "resume", "R1", "CallStarted", "s4", "-")
    resume(ws, "R1")
    assert_recovered(ws, "R1", clean_run, [first, second, second])
    assert len(idempotency_keys(ws.events("R1"))[("s4", None)]) == 3


# --- kill during heavy writes, again and again --------------------------------------------------


@pytest.mark.slow
def test_repeated_kills_at_random_moments_lose_nothing_and_corrupt_nothing(
    ws: Workspace, clean_run: dict[str, Any]
) -> None:
    ws.write(FLOW)
    ws.env = subprocess_env(DURABLE_DELAY="0.003")  # a run is then ~40 ms of back-to-back writes
    rng = random.Random(20261126)
    kills: list[set[Key]] = []
    run_id: str | None = None
    for iteration in range(8):
        seen = ws.sql("SELECT COUNT(*) FROM events")[0][0] if ws.run_ids() else 0
        proc = ws.spawn("run", "flow.yaml") if run_id is None else ws.spawn("resume", run_id)
        # wait until this process writes (its start-up is no crash worth testing), then kill it
        # at a random moment in the burst of writes that follows
        wait_for(
            lambda n=seen, p=proc: (
                p.poll() is not None or (ws.run_ids() and ws.sql("SELECT COUNT(*) FROM events")[0][0] > n)
            ),
            interval=0.001,
            what="a first write",
        )
        time.sleep(rng.uniform(0, 0.025))
        ws.kill(proc)
        run_id = run_id or ws.run_id()
        events = ws.events(run_id)
        assert ws.integrity() == "ok", f"corrupt after kill {iteration}"
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(seqs) + 1))
        if any(e["type"] == "RunFinished" for e in events):
            break
        kills.append(inflight(events))
    assert run_id is not None
    assert kills, "no kill landed before the run ended"
    result = ws.podium("resume", run_id)
    assert result.code == 0, result.out
    assert_recovered(ws, run_id, clean_run, kills)


# --- the idempotency key reaches the service ---------------------------------------------------


class ChatService:
    """An OpenAI-compatible endpoint on 127.0.0.1 that records each request's Idempotency-Key.

    The first request whose prompt starts with "hold" is kept waiting until `release` is set, so
    a test can kill the client while the call is in flight at the service.
    """

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str | None, str]] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                service.requests.append((self.headers.get("Idempotency-Key"), prompt))
                if prompt.startswith("hold") and not service.holding.is_set():
                    service.holding.set()
                    service.release.wait(20)
                reply = {
                    "id": f"resp-{len(service.requests)}",
                    "model": body["model"],
                    "choices": [{"message": {"role": "assistant", "content": f"re: {prompt}"}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
                }
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client was killed

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


HTTP_FLOW = """name: http
providers:
  local: {base_url: "%s", use_mock: false, request_timeout: 30}
defaults: {retry: {attempts: 1}}
agents:
  llm: {model: some-model}
steps:
  a: {agent: llm, prompt: "first"}
  b: {agent: llm, needs: a, prompt: "hold {{ steps.a.output }}"}
  c: {agent: llm, needs: b, prompt: "last {{ steps.b.output }}"}
"""


def test_a_call_in_flight_at_the_service_is_reissued_with_the_same_idempotency_key(ws: Workspace) -> None:
    service = ChatService()
    try:
        ws.write(HTTP_FLOW % service.url)
        proc = ws.spawn("run", "flow.yaml")
        assert service.holding.wait(20), "the held request never arrived"
        ws.kill(proc)
        run_id = ws.run_id()
        assert inflight(ws.events(run_id)) == {("b", None)}
        service.release.set()
        result, data = ws.podium_json("resume", run_id)
        assert result.code == 0, result.out
    finally:
        service.close()
    assert data["status"] == "succeeded"
    assert data["steps"]["c"]["output"] == "re: last re: hold re: first"
    prompts = [p for _, p in service.requests]
    assert prompts == ["first", "hold re: first", "hold re: first", "last re: hold re: first"]
    keys = [k for k, _ in service.requests]
    assert None not in keys
    assert keys[1] == keys[2], "the re-issued call must carry the same Idempotency-Key"
    assert len(set(keys)) == 3
    assert keys == [e["data"]["idempotency_key"] for e in ws.events(run_id) if e["type"] == "CallStarted"]
    # the call killed in flight was never billed: three calls' worth of usage, not four
    assert data["usage"]["input_tokens"] == 30 and data["usage"]["output_tokens"] == 15


# --- a finished call whose StepSucceeded never got written --------------------------------------


async def test_a_recorded_reply_without_its_step_result_is_used_not_repeated(
    ws: Workspace, clean_run: dict[str, Any]
) -> None:
    """Events up to a CallFinished, copied from a real run into a fresh store; then resume."""
    from podium import api
    from podium.core.events import Event, EventType
    from podium.core.store import SQLiteStore

    flow = ws.write(FLOW)
    source = ws.dir / "source.db"
    result = ws.podium("run", "flow.yaml", db=source)
    assert result.code == 0, result.out
    store = SQLiteStore(source)
    (record,) = store.runs()
    events = store.events(record.run_id)
    store.close()
    cut = next(
        i
        for i, e in enumerate(events)
        if e.type is EventType.CALL_FINISHED and e.step == "each" and e.data.get("item") == 2
    )
    kept = events[: cut + 1]
    # the other items of `each` may have finished before or after item 2; keep what came first
    assert any(e.type is EventType.CALL_FINISHED and e.step == "s4" for e in kept)
    target = SQLiteStore(ws.db)
    for e in kept:
        target.append(Event(e.run_id, e.seq, e.type, e.step, e.attempt, e.data, e.at))
    target.close()
    (ws.dir / "calls.log").unlink()

    run = await api.aresume(record.run_id, store=ws.db, file=flow)
    assert run.status == "succeeded"
    assert run.outputs == clean_run["outputs"]
    assert run.usage.model_dump(mode="json") == clean_run["usage"]
    done = ws.done()
    replied = {(e.step, e.data.get("item")) for e in kept if e.type is EventType.CALL_FINISHED}
    assert ("each", 2) in replied
    for key in CALL_KEYS:
        assert done[key] == (0 if key in replied else 1), key
