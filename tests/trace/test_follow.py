"""Live OTLP export from a follower process that tails a run's SQLite store: what a real OTLP/HTTP
receiver on 127.0.0.1 gets, a dead collector, a resumed run, and a follower never outliving its run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from otlp_receiver import Receiver, dead_url, receiving

import podium
from podium.core.clock import new_run_id
from podium.core.errors import BadInput, ExtraMissing
from podium.core.events import RunStatus
from podium.core.store import SQLiteStore, open_store
from podium.plugins.manager import load_plugins
from podium.trace.follow import FollowExport, resume_point
from podium.trace.spans import spans_of

# a retry after a transient error, a foreach of two items, an approval, then one more call
FLOW = """
name: followed
defaults: {retry: {attempts: 3, backoff: 0.01}}
agents: {w: {}}
steps:
  research: {agent: w, prompt: research the tides}
  fan:
    agent: w
    needs: [research]
    foreach: "{{ ['tides', 'wind'] }}"
    prompt: "about {{ item }}"
  gate:
    needs: [fan]
    approval: {message: ship it?}
  ship: {agent: w, needs: [gate], prompt: ship}
outputs:
  shipped: "{{ steps.ship.output }}"
mock:
  research:
    - {error: transient}
    - {reply: notes, usage: {input_tokens: 12, output_tokens: 5}}
  fan: {reply: a paragraph, usage: {input_tokens: 3, output_tokens: 2}}
  ship: {reply: done, usage: {input_tokens: 7, output_tokens: 3}}
"""
# three calls a while apart: the follower sends (and a dead collector drops) batch after batch
SLOW_FLOW = """
name: slow
defaults: {provider: local}
agents: {w: {}}
steps:
  a: {agent: w, prompt: one}
  b: {agent: w, prompt: two, needs: [a]}
  c: {agent: w, prompt: three, needs: [b]}
mock:
  a: {reply: x, latency: 0.3}
  b: {reply: y, latency: 0.3}
  c: {reply: z, latency: 0.3}
"""
SECRET_FLOW = """
name: secretive
defaults: {provider: local}
agents: {w: {}}
steps:
  ask: {agent: w, prompt: "charge with quince-lantern-5521 and AKIAZ3XAMPLEKEY12345"}
mock: {ask: "done: Authorization: Bearer abcdefghijklmnopqrstuvwxyz"}
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as got:
        yield got


@pytest.fixture(autouse=True)
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "PODIUM_OTLP"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def sent_ids(receiver: Receiver) -> list[str]:
    return [span.span_id.hex() for _, _, span in receiver.spans()]


def ended_ids(db: Path, run_id: str) -> list[str]:
    store = SQLiteStore(db)
    try:
        return [s.span_id for s in spans_of(store.events(run_id)) if s.end_time is not None]
    finally:
        store.close()


def followed_run(
    tmp_path: Path, text: str, url: str, *, content: bool = False, stderr: object = None
) -> tuple[Path, str, podium.Run, FollowExport]:
    """A run into a SQLite store with a follower exporting it live; the follower is closed after."""
    db, run_id = tmp_path / "runs.db", new_run_id()
    follower = FollowExport(db, run_id, endpoint=url, content=content, schedule_delay=0.05, stderr=stderr)
    follower.start()
    try:
        run = podium.run(write(tmp_path, text), store=db, run_id=run_id, plugins=load_plugins())
    finally:
        # a bound for a loaded machine (its own python, the OpenTelemetry SDK to import): a
        # follower that is up sends at once, so a quiet machine never waits for it
        assert follower.close(timeout=30) == 0
    return db, run_id, run, follower


def gone(pid: int, within: float) -> bool:
    """Whether process `pid` has exited (or is a zombie nobody reaped yet) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_the_follower_sends_every_ended_span_once_with_the_stored_ids(
    tmp_path: Path, receiver: Receiver
) -> None:
    db, run_id, run, follower = followed_run(tmp_path, FLOW, receiver.url)
    assert run.status is RunStatus.WAITING  # at the approval: the run span and the gate's are open
    expected = ended_ids(db, run_id)
    assert len(expected) >= 6
    assert sorted(sent_ids(receiver)) == sorted(expected)
    assert follower.sent == len(expected) and follower.dropped == 0
    resource, scope, _ = receiver.spans()[0]
    assert resource["service.name"] == "podium" and scope == "podium"
    assert all(path == "/v1/traces" for path, _, _ in receiver.requests)
    sent = b"".join(request.SerializeToString() for _, _, request in receiver.requests)
    assert b"research the tides" not in sent and b"a paragraph" not in sent  # no content by default


def test_spans_arrive_while_the_run_goes_not_only_at_close(tmp_path: Path, receiver: Receiver) -> None:
    db, run_id = tmp_path / "runs.db", new_run_id()
    follower = FollowExport(db, run_id, endpoint=receiver.url, schedule_delay=0.05)
    follower.start()
    try:
        run = podium.run(write(tmp_path, FLOW), store=db, run_id=run_id, plugins=load_plugins())
        assert run.status is RunStatus.WAITING
        deadline = time.monotonic() + 10
        while not receiver.spans() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.spans()  # before close: the follower tails the store
    finally:
        follower.close()


def test_content_goes_only_when_asked_and_secrets_never(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_API_KEY", "quince-lantern-5521")  # the follower inherits it
    _, _, run, _ = followed_run(tmp_path, SECRET_FLOW, receiver.url, content=True)
    assert run.status is RunStatus.SUCCEEDED
    sent = b"".join(request.SerializeToString() for _, _, request in receiver.requests)
    assert b"charge with" in sent  # the content went (it was asked for) ...
    for secret in (b"quince-lantern-5521", b"AKIAZ3XAMPLEKEY12345", b"abcdefghijklmnopqrstuvwxyz"):
        assert secret not in sent  # ... and the secrets did not


def test_a_dead_collector_never_fails_the_run_and_is_told_once_on_stderr(tmp_path: Path) -> None:
    url = dead_url()
    err = tmp_path / "follower.err"
    with err.open("wb") as stderr:
        db, run_id, flow = tmp_path / "runs.db", new_run_id(), write(tmp_path, SLOW_FLOW)
        follower = FollowExport(db, run_id, endpoint=url, schedule_delay=0.05, stderr=stderr)
        follower.start()
        run = podium.run(flow, store=db, run_id=run_id, plugins=load_plugins())
        time.sleep(0.5)  # the follower has tried the collector by now
        closing = time.monotonic()
        code = follower.close()
        closed_in = time.monotonic() - closing
    assert run.status is RunStatus.SUCCEEDED
    assert code == 0 and not follower.killed
    assert closed_in < 2  # a collector known dead gets nothing more: no retries
    assert follower.sent == 0 and follower.dropped == len(ended_ids(db, run_id))
    told = err.read_text()
    assert told.count("dropped") == 1, told
    assert url.split("//")[1] in told and "Traceback" not in told


def test_a_run_shorter_than_the_followers_start_up_is_sent_whole(tmp_path: Path, receiver: Receiver) -> None:
    # closed at once: the word to stop waits in the pipe while the follower starts, then it reads all
    db, run_id, run, follower = followed_run(tmp_path, SECRET_FLOW, receiver.url)
    assert run.status is RunStatus.SUCCEEDED
    assert sorted(sent_ids(receiver)) == sorted(ended_ids(db, run_id))
    assert follower.sent == len(sent_ids(receiver))


def test_closing_right_after_start_is_bounded_even_with_a_dead_collector(tmp_path: Path) -> None:
    db, run_id = tmp_path / "runs.db", new_run_id()
    follower = FollowExport(db, run_id, endpoint=dead_url(), stderr=subprocess.DEVNULL)
    follower.start()
    podium.run(write(tmp_path, SECRET_FLOW), store=db, run_id=run_id, plugins=load_plugins())
    closing = time.monotonic()
    assert follower.close(timeout=1) == 0  # it starts up, reads the run, fails once, exits
    assert time.monotonic() - closing < 1 + 3


def test_bad_settings_raise_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BadInput, match="no OTLP endpoint"):
        FollowExport(tmp_path / "runs.db", "r").start()
    with pytest.raises(BadInput, match="not an http"):
        FollowExport(tmp_path / "runs.db", "r", endpoint="ftp://127.0.0.1:4318").start()
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("opentelemetry") else real(name, *a),
    )
    follower = FollowExport(tmp_path / "runs.db", "r", endpoint="http://127.0.0.1:4318")
    with pytest.raises(ExtraMissing, match="podium\\[otlp\\]"):
        follower.start()
    assert follower.process is None  # nothing started


def test_the_follower_exits_when_its_stdin_closes(tmp_path: Path) -> None:
    follower = FollowExport(
        tmp_path / "runs.db", new_run_id(), endpoint=dead_url(), stderr=subprocess.DEVNULL
    )
    follower.start()
    assert follower.process is not None and follower.pid is not None
    time.sleep(0.5)
    assert follower.process.poll() is None  # it follows until told
    follower.process.stdin.close()  # type: ignore[union-attr]
    assert follower.process.wait(timeout=6) == 0


PARENT = """
import sys, time
from podium.trace.follow import FollowExport
follower = FollowExport(sys.argv[1], "run-x", endpoint="http://127.0.0.1:9")
follower.start()
print(follower.pid, flush=True)
time.sleep(60)
"""


def test_the_follower_never_outlives_a_killed_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "runs.db")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not gone(pid, 0.5)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        assert gone(pid, 8), "the follower outlived its parent"
    finally:
        parent.kill()


def test_a_resumed_run_is_sent_whole_by_two_followers_each_span_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    db, run_id, run, first = followed_run(tmp_path, FLOW, receiver.url)
    assert run.status is RunStatus.WAITING
    before = sent_ids(receiver)
    plugins = load_plugins()
    # `podium approve` in a process of its own: recorded in the store, seen by no follower
    assert podium.decide(run_id, "gate", "approved", by="ana", store=db, plugins=plugins) == "recorded"
    store = SQLiteStore(db)
    after = resume_point(store, run_id)
    assert after < store.last_seq(run_id)  # the decision is the resumed follower's to send
    store.close()
    second = FollowExport(db, run_id, endpoint=receiver.url, after=after, schedule_delay=0.05)
    second.start()
    try:
        done = podium.resume(run_id, store=db, plugins=plugins)
    finally:
        assert second.close() == 0
    assert done.status is RunStatus.SUCCEEDED
    got = sent_ids(receiver)
    every = ended_ids(db, run_id)
    assert sorted(got) == sorted(every)  # the union: every span, each once
    assert len(got) == len(set(got))
    assert ended_ids(db, run_id)[0] not in before  # the run span: sent once, at its end
    assert first.sent == len(before) and second.sent == len(got) - len(before)


def test_podium_and_the_follower_module_never_import_opentelemetry_in_the_run() -> None:
    code = (
        "import sys, podium, podium.trace.follow; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_run_in_postgres_is_followed_live_from_its_store(
    postgres_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    run_id = new_run_id()
    follower = FollowExport(postgres_url, run_id, endpoint=receiver.url, schedule_delay=0.05)
    follower.start()
    try:
        run = podium.run(write(tmp_path, FLOW), store=postgres_url, run_id=run_id, plugins=load_plugins())
    finally:
        assert follower.close(timeout=30) == 0  # its own process: psycopg, a connection, a loaded machine
    assert run.status is RunStatus.WAITING
    store = open_store(postgres_url)
    try:
        expected = [s.span_id for s in spans_of(store.events(run_id)) if s.end_time is not None]
    finally:
        store.close()
    assert len(expected) >= 6 and sorted(sent_ids(receiver)) == sorted(expected)
    assert postgres_url not in " ".join(follower.process.args)  # type: ignore[union-attr]
