"""OTLP export of a run's spans to a real OTLP/HTTP receiver on 127.0.0.1: after the fact, live, and
to a collector that is down (the run goes on, the user is told once)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from otlp_receiver import Receiver, attributes, dead_url, receiving

import podium
from podium.core.errors import BadInput, ExportFailed, ExtraMissing
from podium.core.events import RunStatus
from podium.core.store import MemoryStore
from podium.plugins.manager import Plugins, load_plugins
from podium.trace.otlp import (
    LiveExport,
    export,
    live_export_from_settings,
    to_readable,
    traces_endpoint,
)
from podium.trace.spans import Span, spans_of

# a retry after a transient error, a foreach of two items, an approval, then one more call
FLOW = """
name: traced
defaults: {retry: {attempts: 3, backoff: 0.01}}
agents: {w: {}}
steps:
  research: {agent: w, prompt: research}
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
  fan: {reply: a paragraph, usage: {input_tokens: 3, output_tokens: 2}, latency: LATENCY}
  ship: {reply: done, usage: {input_tokens: 7, output_tokens: 3}}
"""
OTEL_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
)


# --- a real OTLP/HTTP receiver ------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as got:
        yield got


def sdk_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("opentelemetry") and r.levelno >= logging.WARNING]


@pytest.fixture
def dead_endpoint() -> str:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    return dead_url()


@pytest.fixture(autouse=True)
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def flow(tmp_path: Path) -> Callable[..., Path]:
    def write(latency: float = 0.0) -> Path:
        path = tmp_path / "flow.yaml"
        path.write_text(textwrap.dedent(FLOW).replace("LATENCY", str(latency)), encoding="utf-8")
        return path

    return write


def full_run(
    path: Path, store: MemoryStore, plugins: Plugins, *, after_wait: Callable[[], None] | None = None
) -> str:
    """Run the flow to its approval, approve it, resume it to the end; return the run id."""
    run = podium.run(path, store=store, plugins=plugins)
    assert run.status is RunStatus.WAITING, run.error
    if after_wait is not None:
        after_wait()
    podium.decide(run.run_id, "gate", "approved", by="ana", store=store, plugins=plugins)
    done = podium.resume(run.run_id, store=store, plugins=plugins)
    assert done.status is RunStatus.SUCCEEDED, done.error
    return run.run_id


@pytest.fixture
def ran(flow: Callable[..., Path]) -> tuple[MemoryStore, str]:
    store = MemoryStore()
    return store, full_run(flow(), store, load_plugins(entry_points_too=False))


# --- after the fact -------------------------------------------------------------------------------


def test_export_delivers_every_span_with_its_ids_names_attributes_and_status(
    ran: tuple[MemoryStore, str], receiver: Receiver
) -> None:
    store, run_id = ran
    spans = spans_of(store.events(run_id))
    assert export(spans, endpoint=receiver.url, headers={"x-team": "ops"}) == len(spans)

    assert {path for path, _, _ in receiver.requests} == {"/v1/traces"}
    assert all(h["x-team"] == "ops" for _, h, _ in receiver.requests)
    got = receiver.spans()
    assert len(got) == len(spans)
    by_id = {span.span_id.hex(): (resource, scope, span) for resource, scope, span in got}
    for mine in spans:
        resource, scope, span = by_id[mine.span_id]
        assert span.trace_id.hex() == mine.trace_id
        assert (span.parent_span_id.hex() or None) == mine.parent_span_id
        assert span.name == mine.name
        assert resource["service.name"] == "podium" and resource["service.version"] == podium.__version__
        assert scope == "podium"
        expected = {"ok": Status.STATUS_CODE_OK, "error": Status.STATUS_CODE_ERROR, "unset": 0}
        assert span.status.code == expected[mine.status]
        assert span.kind == ProtoSpan.SPAN_KIND_INTERNAL  # the local provider: no call leaves
        assert span.end_time_unix_nano >= span.start_time_unix_nano > 0

    steps = {attributes(s.attributes).get("podium.step") for _, _, s in got if s.name == "invoke_agent w"}
    assert steps == {"research", "fan", "ship"}
    failed = [s for _, _, s in got if s.status.code == Status.STATUS_CODE_ERROR]
    assert sorted(s.name for s in failed) == ["attempt 1", "invoke_agent w"]  # the transient call
    assert all("transient" in s.status.message for s in failed)
    assert {attributes(s.attributes).get("error.type") for s in failed} == {"transient", None}
    research = [
        attributes(s.attributes)
        for _, _, s in got
        if s.name.startswith("invoke_agent") and attributes(s.attributes).get("podium.step") == "research"
        and s.status.code == Status.STATUS_CODE_OK
    ]  # fmt: skip
    assert research == [research[0]]
    a = research[0]
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert a["gen_ai.provider.name"] == "podium.local"
    assert a["gen_ai.usage.input_tokens"] == 12 and a["gen_ai.usage.output_tokens"] == 5
    assert a["podium.attempt"] == 2
    root = next(s for _, _, s in got if not s.parent_span_id)
    assert root.status.code == Status.STATUS_CODE_OK
    run_attrs = attributes(root.attributes)
    assert run_attrs["gen_ai.operation.name"] == "invoke_workflow"
    assert run_attrs["gen_ai.usage.input_tokens"] == 12 + 3 + 3 + 7
    items = sorted(s.name for _, _, s in got if attributes(s.attributes).get("podium.item") is not None)
    assert any(name.startswith("item") for name in items)
    approval = next(attributes(s.attributes) for _, _, s in got if s.name == "approval gate")
    assert approval["podium.approval.decision"] == "approved" and approval["podium.approval.by"] == "ana"
    resumed = [e.name for e in root.events]
    assert "resumed" in resumed


def test_the_endpoint_and_headers_come_from_the_standard_environment(
    ran: tuple[MemoryStore, str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = ran
    spans = spans_of(store.events(run_id))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url + "/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-token=abc,x-team=env")
    assert export(spans, endpoint=None, headers={"x-team": "given"}) == len(spans)
    path, headers, _ = receiver.requests[0]
    assert path == "/v1/traces"
    assert headers["x-token"] == "abc" and headers["x-team"] == "given"  # given headers win


def test_traces_endpoint_follows_the_sdk_conventions() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert traces_endpoint("http://127.0.0.1:4318", environ=env) == "http://127.0.0.1:4318/v1/traces"
    assert traces_endpoint("http://h:4318/v1/traces", environ={}) == "http://h:4318/v1/traces"
    assert traces_endpoint(None, environ=env) == "http://collector:4318/v1/traces"
    exact = {**env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://x.example/api/otel/v1/traces"}
    assert traces_endpoint(None, environ=exact) == "https://x.example/api/otel/v1/traces"
    with pytest.raises(BadInput) as info:
        traces_endpoint("collector:4318", environ={})
    assert "http" in str(info.value.fix)


def test_no_endpoint_at_all_is_bad_input_naming_both_ways_to_give_one(ran: tuple[MemoryStore, str]) -> None:
    store, run_id = ran
    with pytest.raises(BadInput) as info:
        export(spans_of(store.events(run_id)), endpoint=None)
    assert info.value.exit_code == 2
    assert "--endpoint" in str(info.value) and "OTEL_EXPORTER_OTLP_ENDPOINT" in str(info.value)


def test_export_to_a_dead_endpoint_is_a_clear_error_soon(
    ran: tuple[MemoryStore, str], dead_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    store, run_id = ran
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(ExportFailed) as info:
        export(spans_of(store.events(run_id)), endpoint=dead_endpoint, timeout=2)
    assert time.monotonic() - started < 4
    assert info.value.exit_code == 1 and info.value.fix
    assert dead_endpoint in str(info.value) and "0 of" in str(info.value)
    # the SDK's own retry chatter is podium's to summarise, not the user's to read
    assert not sdk_warnings(caplog)


def test_a_missing_extra_says_what_to_install(
    ran: tuple[MemoryStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = ran
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http", None)
    with pytest.raises(ExtraMissing) as info:
        export(spans_of(store.events(run_id)), endpoint="http://127.0.0.1:4318")
    assert info.value.fix == "pip install 'podium[otlp]'"
    with pytest.raises(ExtraMissing):
        LiveExport("http://127.0.0.1:4318")


def test_podium_and_its_help_never_import_opentelemetry() -> None:
    probe = (
        "import sys, runpy\n"
        "import podium, podium.trace, podium.trace.otlp, podium.trace.spans\n"
        "sys.argv = ['podium', '--help']\n"
        "try:\n    runpy.run_module('podium', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'opentelemetry'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_to_readable_converts_values_kinds_and_open_spans() -> None:
    at = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    common = {"trace_id": "ab" * 16, "start_time": at}
    spans = [
        Span(**common, span_id="01" * 8, parent_span_id=None, name="invoke_workflow w", kind="run",
             end_time=None, attributes={"podium.inputs": {"a": [1, "x"]}, "gone": None}),
        Span(**common, span_id="02" * 8, parent_span_id="01" * 8, name="invoke_agent a", kind="call",
             end_time=at + timedelta(seconds=3), status="error", status_message="throttled",
             attributes={"podium.provider": "bedrock", "gen_ai.response.finish_reasons": ["end_turn"],
                         "mixed": [1, "a"], "big": 2**70}),
        Span(**common, span_id="03" * 8, parent_span_id="02" * 8, name="execute_tool f", kind="tool",
             end_time=at + timedelta(seconds=1), status="ok", attributes={"gen_ai.tool.type": "function"}),
    ]  # fmt: skip
    run, call, tool = to_readable(spans, resource_attributes={"deployment.environment": "test"})
    from opentelemetry.trace import SpanKind, StatusCode

    assert run.attributes["podium.unfinished"] is True
    assert run.attributes["podium.inputs"] == '{"a":[1,"x"]}' and "gone" not in run.attributes
    assert run.end_time == call.end_time  # an open span ends at the latest time the spans know
    assert run.status.status_code is StatusCode.UNSET and run.parent is None
    assert call.kind is SpanKind.CLIENT and tool.kind is SpanKind.INTERNAL
    assert call.status.status_code is StatusCode.ERROR and call.status.description == "throttled"
    assert tuple(call.attributes["gen_ai.response.finish_reasons"]) == ("end_turn",)
    assert call.attributes["mixed"] == '[1,"a"]' and call.attributes["big"] == str(2**70)
    assert call.parent.span_id == int("01" * 8, 16) and call.context.trace_id == int("ab" * 16, 16)
    assert call.end_time - call.start_time == 3 * 10**9
    assert tool.status.status_code is StatusCode.OK
    assert call.resource.attributes["deployment.environment"] == "test"


# --- live -----------------------------------------------------------------------------------------


def test_live_export_sends_the_spans_of_the_stored_trace_as_the_run_goes(
    flow: Callable[..., Path], receiver: Receiver
) -> None:
    store, plugins = MemoryStore(), load_plugins(entry_points_too=False)
    live = LiveExport(receiver.url, headers={"x-team": "live"}, schedule_delay=0.05)
    plugins.register(live, name="otlp-live")
    seen_while_waiting: list[int] = []

    def while_waiting() -> None:
        assert live.flush(5)
        seen_while_waiting.append(len(receiver.spans()))

    try:
        run_id = full_run(flow(), store, plugins, after_wait=while_waiting)
    finally:
        live.close()
        plugins.unregister(live)
    spans = spans_of(store.events(run_id))
    got = [span.span_id.hex() for _, _, span in receiver.spans()]
    assert sorted(got) == sorted(s.span_id for s in spans)  # each span once, with the stored ids
    assert seen_while_waiting[0] > 0  # spans arrived before the run ended
    assert live.sent == len(spans) and live.dropped == 0
    assert all(h["x-team"] == "live" for _, h, _ in receiver.requests)


def test_live_export_of_a_resumed_run_sends_what_the_first_process_left_open(
    flow: Callable[..., Path], receiver: Receiver
) -> None:
    store, plugins = MemoryStore(), load_plugins(entry_points_too=False)
    first = LiveExport(receiver.url)
    plugins.register(first, name="first")
    run = podium.run(flow(), store=store, plugins=plugins)
    assert run.status is RunStatus.WAITING
    first.close()
    plugins.unregister(first)
    before = {span.span_id.hex() for _, _, span in receiver.spans()}

    second = LiveExport(receiver.url)  # another process: its fold starts at the decision and resume
    plugins.register(second, name="second")
    podium.decide(run.run_id, "gate", "approved", store=store, plugins=plugins)
    assert podium.resume(run.run_id, store=store, plugins=plugins).status is RunStatus.SUCCEEDED
    second.close()
    got = [span.span_id.hex() for _, _, span in receiver.spans()]
    assert sorted(got) == sorted(s.span_id for s in spans_of(store.events(run.run_id)))
    assert spans_of(store.events(run.run_id))[0].span_id not in before  # the run span: sent once, at its end


def test_a_dead_collector_never_fails_or_slows_the_run_and_is_told_once(
    flow: Callable[..., Path], dead_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    store, plugins = MemoryStore(), load_plugins(entry_points_too=False)
    live = live_export_from_settings(dead_endpoint)
    assert live is not None
    plugins.register(live, name="otlp-live")
    with caplog.at_level(logging.DEBUG):
        started = time.monotonic()
        # 0.4 s calls: the background thread tries (and fails) to send while the run goes
        run_id = full_run(flow(latency=0.4), store, plugins)
        ran_for = time.monotonic() - started
        closing = time.monotonic()
        live.close()
        closed_in = time.monotonic() - closing
    spans = spans_of(store.events(run_id))
    assert ran_for < 5  # the calls take ~0.8 s; a run that waited for the collector would take 10 s+
    assert closed_in < 3
    assert live.sent == 0 and live.dropped == len(spans)
    told = [r for r in caplog.records if r.name == "podium" and "dropped" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.WARNING
    assert dead_endpoint in told[0].getMessage()
    assert not sdk_warnings(caplog)


def test_a_collector_failing_batch_after_batch_is_told_once(
    flow: Callable[..., Path], dead_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    store, plugins = MemoryStore(), load_plugins(entry_points_too=False)
    # a short timeout and batches of 4: batch after batch fails at once while the run goes
    live = LiveExport(dead_endpoint, timeout=0.2, schedule_delay=0.02, max_queue_size=4)
    plugins.register(live, name="otlp-live")
    with caplog.at_level(logging.WARNING):
        full_run(flow(latency=0.3), store, plugins)
        live.close()
    assert live.guard.failed_batches >= 2
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1


def test_an_exporter_that_raises_never_reaches_the_run(
    flow: Callable[..., Path], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    store, plugins = MemoryStore(), load_plugins(entry_points_too=False)
    live = LiveExport(receiver.url, schedule_delay=0.02)

    def broken(batch: Any) -> Any:
        raise RuntimeError("exporter bug")

    live.guard.inner.export = broken
    plugins.register(live, name="otlp-live")
    with caplog.at_level(logging.WARNING):
        full_run(flow(), store, plugins)
        live.close()
    assert live.sent == 0 and live.dropped > 0
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1


def test_a_collector_that_never_answers_holds_the_end_of_a_run_a_bounded_time(
    flow: Callable[..., Path],
) -> None:
    with socket.socket() as silent:  # listens, never accepts: requests hang until their timeout
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        store, plugins = MemoryStore(), load_plugins(entry_points_too=False)
        live = LiveExport(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=4)
        plugins.register(live, name="otlp-live")
        run_id = full_run(flow(), store, plugins)
        closing = time.monotonic()
        live.close(timeout=1)
        assert time.monotonic() - closing < 2
        # the request in flight ends at its own timeout; its spans are counted as dropped then
        deadline = time.monotonic() + 8
        while live.dropped < len(spans_of(store.events(run_id))) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.dropped == len(spans_of(store.events(run_id)))


def test_live_export_settings() -> None:
    assert live_export_from_settings(None) is None and live_export_from_settings(False) is None
    with pytest.raises(BadInput):
        live_export_from_settings(True)  # no endpoint given, none in the environment


def test_live_export_redacts_secrets_from_what_it_sends(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_API_KEY", "quince-lantern-5521")
    path = tmp_path / "secret.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: secretive
            defaults: {provider: local}
            agents: {w: {}}
            steps:
              ask: {agent: w, prompt: "charge with quince-lantern-5521 and AKIAZ3XAMPLEKEY12345"}
            mock: {ask: "done: Authorization: Bearer abcdefghijklmnopqrstuvwxyz"}
            """
        ),
        encoding="utf-8",
    )
    plugins = load_plugins(entry_points_too=False)
    live = LiveExport(receiver.url, content=True, schedule_delay=0.05)
    plugins.register(live, name="otlp-live")
    try:
        run = podium.run(path, store=MemoryStore(), plugins=plugins)
    finally:
        live.close()
        plugins.unregister(live)
    assert run.status is RunStatus.SUCCEEDED
    sent = b"".join(request.SerializeToString() for _, _, request in receiver.requests)
    assert b"charge with" in sent  # the content went (it was asked for) ...
    for secret in (b"quince-lantern-5521", b"AKIAZ3XAMPLEKEY12345", b"abcdefghijklmnopqrstuvwxyz"):
        assert secret not in sent  # ... and the secrets did not


# --- the command line ------------------------------------------------------------------------------


def podium_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if k not in OTEL_ENV and k != "PODIUM_OTLP"}
    return subprocess.run(
        [sys.executable, "-m", "podium", *args],
        capture_output=True, text=True, timeout=120, env={**clean, "NO_COLOR": "1", **(env or {})},
    )  # fmt: skip


def tiny_flow(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "name: tiny\ndefaults: {provider: local}\nagents: {w: {}}\n"
        "steps:\n  a: {agent: w, prompt: hi}\n  b: {agent: w, prompt: there, needs: [a]}\n"
        "mock: {a: one, b: two}\n",
        encoding="utf-8",
    )
    return path


def test_podium_run_otlp_sends_the_runs_spans_live(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "runs.db"
    done = podium_cli("run", str(tiny_flow(tmp_path)), "--otlp-endpoint", receiver.url, "-q", "--db", str(db))
    assert done.returncode == 0, done.stderr
    names = sorted(span.name for _, _, span in receiver.spans())
    assert "invoke_workflow tiny" in names and "step a" in names and "step b" in names
    # PODIUM_OTLP (the setting) does the same as the flag
    again = podium_cli(
        "run", str(tiny_flow(tmp_path)), "-q", "--db", str(db), env={"PODIUM_OTLP": receiver.url}
    )
    assert again.returncode == 0, again.stderr
    assert sorted(span.name for _, _, span in receiver.spans()).count("invoke_workflow tiny") == 2


def test_podium_run_otlp_without_an_endpoint_is_bad_input_and_runs_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    done = podium_cli("run", str(tiny_flow(tmp_path)), "--otlp", "-q", "--db", str(db))
    assert done.returncode == 2
    assert "no OTLP endpoint" in done.stderr and "OTEL_EXPORTER_OTLP_ENDPOINT" in done.stderr
    assert "Traceback" not in done.stderr
    assert "tiny" not in podium_cli("runs", "--db", str(db)).stdout


def test_a_dead_collector_never_fails_podium_run(tmp_path: Path, dead_endpoint: str) -> None:
    done = podium_cli(
        "run",
        str(tiny_flow(tmp_path)),
        "--otlp-endpoint",
        dead_endpoint,
        "-q",
        "--db",
        str(tmp_path / "r.db"),
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_podium_trace_to_a_dead_collector_is_a_clear_error_and_exit_1(
    tmp_path: Path, dead_endpoint: str
) -> None:
    db = tmp_path / "runs.db"
    assert podium_cli("run", str(tiny_flow(tmp_path)), "-q", "--db", str(db)).returncode == 0
    done = podium_cli("trace", "latest", "--format", "otlp", "--endpoint", dead_endpoint, "--db", str(db))
    assert done.returncode == 1
    assert "fix:" in done.stderr and dead_endpoint.split("//")[1] in done.stderr
    assert "Traceback" not in done.stderr


def test_podium_trace_sends_a_stored_run_over_otlp(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "runs.db"
    assert podium_cli("run", str(tiny_flow(tmp_path)), "-q", "--db", str(db)).returncode == 0
    done = podium_cli("trace", "latest", "--format", "otlp", "--db", str(db),
                      env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sent" in done.stderr
    assert "invoke_workflow tiny" in [span.name for _, _, span in receiver.spans()]


def test_podium_resume_otlp_sends_what_the_resumed_run_ends(tmp_path: Path, receiver: Receiver) -> None:
    db = str(tmp_path / "runs.db")
    path = tmp_path / "gated.yaml"
    path.write_text(
        "name: gated\ndefaults: {provider: local}\nagents: {w: {}}\n"
        "steps:\n  a: {agent: w, prompt: hi}\n  gate: {approval: {message: go?}, needs: [a]}\n"
        "  b: {agent: w, prompt: there, needs: [gate]}\nmock: {a: one, b: two}\n",
        encoding="utf-8",
    )
    first = podium_cli("run", str(path), "--otlp-endpoint", receiver.url, "-q", "--db", db)
    assert first.returncode == 1, first.stderr  # waiting for the approval
    assert podium_cli("approve", "latest", "gate", "--by", "ana", "--db", db).returncode == 0
    again = podium_cli("resume", "latest", "--otlp-endpoint", receiver.url, "-q", "--db", db)
    assert again.returncode == 0, again.stderr
    names = [span.name for _, _, span in receiver.spans()]
    # each span once, across the two processes: the run's, the approval's and both steps'
    for name in ("invoke_workflow gated", "approval gate", "step a", "step gate", "step b"):
        assert names.count(name) == 1, (name, names)
