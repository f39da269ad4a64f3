"""Exporting a stored run: secrets redacted from every format, the JSONL lines' schema, `podium trace`
and `podium run --trace` as a user types them, and their bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from trace_support import write_flow

import podium
from podium.core.store import SQLiteStore
from podium.plugins.manager import load_plugins
from podium.trace.export import render, run_spans, span_json
from podium.trace.redact import REDACTED, Redactor

AWS_KEY = "AKIAZ3XAMPLEKEY12345"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
OPENAI_KEY = "sk-proj-Zq8fT2lK9wXv3mN7pR4sY6uB1cD5eF0g"
CONN = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=bXlzZWNyZXRrZXk9PQ==;EndpointSuffix=core"
ENV_SECRET = "plum-velvet-9931-orchard"
PASSWORD = "correct-horse-battery"
SECRETS = (AWS_KEY, AWS_SECRET, BEARER, OPENAI_KEY, "bXlzZWNyZXRrZXk9PQ==", ENV_SECRET, PASSWORD)


def secret_flow(tmp_path: Path) -> Path:
    return write_flow(
        tmp_path,
        f"""
        name: leaky
        defaults: {{provider: local, retry: {{attempts: 2, backoff: 0}}}}
        inputs:
          db_password: {{type: string}}
          note: {{type: string, default: "use {AWS_KEY} and aws_secret_access_key={AWS_SECRET}"}}
        agents: {{w: {{}}}}
        steps:
          ask:
            agent: w
            prompt: "{{{{ inputs.note }}}} then call with {OPENAI_KEY}; the vault says {ENV_SECRET}"
          fetch: {{agent: w, needs: [ask], prompt: "connect with {CONN}"}}
        mock:
          ask: "sure: Authorization: Bearer {BEARER}"
          fetch: [{{error: transient, reply: "refused for Bearer {BEARER}"}}, "connected"]
        """,
    )


@pytest.fixture
def leaky_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[SQLiteStore, str, Path]:
    monkeypatch.setenv("VAULT_TOKEN", ENV_SECRET)
    db = tmp_path / "runs.db"
    store = SQLiteStore(db)
    run = podium.run(
        secret_flow(tmp_path),
        {"db_password": PASSWORD},
        plugins=load_plugins(entry_points_too=False),
        store=store,
    )
    assert run.status == "succeeded", run.error
    return store, run.run_id, db


@pytest.mark.parametrize("fmt", ["jsonl", "html"])
def test_secrets_in_prompts_inputs_replies_errors_and_the_environment_never_leave(
    leaky_run: tuple[SQLiteStore, str, Path], fmt: str
) -> None:
    store, run_id, _ = leaky_run
    spans = run_spans(store, run_id, plugins=load_plugins(entry_points_too=False), content=True)
    text = render(spans, fmt)
    for secret in SECRETS:
        assert secret not in text, (fmt, secret)
    assert REDACTED in text
    # what is not secret survives: the content was exported, the step names and the error's kind
    assert "then call with" in text and "connect with" in text and "transient" in text


def test_redaction_is_always_on_and_keeps_what_is_not_secret() -> None:
    redact = Redactor([ENV_SECRET])
    assert redact.text(f"token {ENV_SECRET}!") == f"token {REDACTED}!"
    assert redact.text("postgres://bob:s3cretpw@db:5432/x") == f"postgres://bob:{REDACTED}@db:5432/x"
    assert redact.value({"api_key": "abc123", "input_tokens": 120, "idempotency_key": "r:s::1"}) == {
        "api_key": REDACTED,
        "input_tokens": 120,
        "idempotency_key": "r:s::1",
    }
    assert redact.text("The tide turns twice a day; 40 tokens") == "The tide turns twice a day; 40 tokens"


def test_jsonl_lines_have_the_documented_fields(leaky_run: tuple[SQLiteStore, str, Path]) -> None:
    store, run_id, _ = leaky_run
    spans = run_spans(store, run_id)
    lines = [json.loads(line) for line in render(spans, "jsonl").splitlines()]
    assert len(lines) == len(spans) > 0
    documented = (Path(__file__).parents[2] / "docs" / "trace.md").read_text(encoding="utf-8")
    for line in lines:
        assert list(line) == [
            "schema", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
            "duration_ms", "status", "status_message", "attributes", "events",
        ]  # fmt: skip
        assert line["schema"] == "podium.trace/1"
        assert len(line["trace_id"]) == 32 and len(line["span_id"]) == 16
        assert line["status"] in ("ok", "error", "unset")
        kinds = {"run", "step", "item", "attempt", "call", "inner", "tool", "approval", "budget"}
        assert line["kind"] in kinds
        assert line == span_json(next(s for s in spans if s.span_id == line["span_id"]))
    for field in lines[0]:
        assert f"`{field}`" in documented, field
    ids = {line["span_id"] for line in lines}
    assert all(line["parent_span_id"] in ids for line in lines if line["parent_span_id"] is not None)


def podium_cli(*args: str, db: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def test_podium_trace_writes_each_format_and_show_names_the_file(
    leaky_run: tuple[SQLiteStore, str, Path], tmp_path: Path
) -> None:
    _, run_id, db = leaky_run
    out = podium_cli("trace", run_id[:12], db=db)
    assert out.returncode == 0, out.stderr
    assert all(json.loads(line)["trace_id"] for line in out.stdout.splitlines())
    target = tmp_path / "report.jsonl"
    written = podium_cli("trace", "latest", "-o", str(target), "--include-content", db=db)
    assert written.returncode == 0, written.stderr
    assert "then call with" in target.read_text()
    shown = podium_cli("show", run_id, db=db)
    assert f"trace: {target.resolve()}" in shown.stdout
    as_json = json.loads(podium_cli("show", run_id, "--json", db=db).stdout)
    assert as_json["trace"][0]["path"] == str(target.resolve())


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("trace", "nope"), "recent runs: "),
        (("trace", "latest", "--format", "xml"), "not a trace format"),
        (("trace", "latest", "-o", "/no/such/folder/t.jsonl"), "does not exist"),
        (("trace", "latest", "-o", "trace.txt"), "cannot tell the trace format"),
    ],
)
def test_bad_input_is_named_with_a_fix_and_exit_2(
    leaky_run: tuple[SQLiteStore, str, Path], args: tuple[str, ...], says: str
) -> None:
    _, run_id, db = leaky_run
    out = podium_cli(*args, db=db)
    assert out.returncode == 2, out.stderr
    assert says in out.stderr and "fix:" in out.stderr and "Traceback" not in out.stderr
    if args[1] == "nope":
        assert run_id in out.stderr  # the recent runs are listed


def test_run_trace_writes_the_file_when_the_run_ends_and_refuses_a_bad_path_before_it_starts(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    flow = write_flow(
        tmp_path,
        """
        name: tiny
        defaults: {provider: local}
        agents: {w: {}}
        steps:
          hello: {agent: w, prompt: "hi"}
        mock: {hello: "hello"}
        """,
    )
    bad = podium_cli("run", str(flow), "--trace", str(tmp_path / "missing" / "t.jsonl"), "-q", db=db)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    assert not db.exists() or "tiny" not in podium_cli("runs", db=db).stdout  # nothing ran
    target = tmp_path / "t.jsonl"
    ok = podium_cli("run", str(flow), "--trace", str(target), "-q", db=db)
    assert ok.returncode == 0, ok.stderr
    names = [json.loads(line)["name"] for line in target.read_text().splitlines()]
    assert names[0] == "invoke_workflow tiny" and "step hello" in names
    assert f"trace: {target.resolve()}" in ok.stdout


def test_a_killed_run_is_traced_as_interrupted_not_running(tmp_path: Path) -> None:
    from podium.core.events import Event, EventType
    from podium.core.lease import owner_id

    store = SQLiteStore(tmp_path / "runs.db")
    # what a killed process leaves: its run started, a step began, and no process holds the run
    store.append(Event("r-killed", 1, EventType.RUN_STARTED, data={"workflow": "w", "steps": ["a"]}))
    store.append(Event("r-killed", 2, EventType.STEP_STARTED, "a", data={"agent": "x"}))
    [run] = [s for s in run_spans(store, "r-killed") if s.kind == "run"]
    assert run.attributes["podium.status"] == "interrupted" and run.status == "error"
    assert "podium resume r-killed" in (run.status_message or "")
    assert run.end_time is None  # still open: a resume continues it
    # so is the step it was running: interrupted, not running, in every view the spans feed
    [step] = [s for s in run_spans(store, "r-killed") if s.kind == "step"]
    assert step.attributes["podium.status"] == "interrupted" and step.end_time is None
    # while a live process holds the run, it is running
    store.acquire_lease("r-killed", owner_id(), ttl=60)
    [run] = [s for s in run_spans(store, "r-killed") if s.kind == "run"]
    assert run.attributes["podium.status"] == "running" and run.status == "unset"
    [step] = [s for s in run_spans(store, "r-killed") if s.kind == "step"]
    assert step.attributes.get("podium.status") != "interrupted"
