"""Credentials never reach the store or the screen: a password in a provider's URL, and a key that a
refusing endpoint echoes back in its 401 body."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from podium.cli import cli
from podium.core.calls import AgentRequest, Message, ProviderEnv
from podium.core.dispatch import Dispatcher
from podium.core.errors import AuthError
from podium.core.events import EventType
from podium.core.store import MemoryStore
from podium.providers.local.provider import LocalConfig, LocalProvider

PASSWORD = "Pa55-w0rd-in-url"
KEY = "sk-test-" + "k" * 32
BASIC = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
IN_BODY = "acct-owner-7731-internal"  # what a refusal's body says that no redaction pattern knows


class Refusing(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that refuses every key, quoting it, as real ones do."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/accepting/"):
            reply = {"id": "r1", "model": "m", "choices": [{"message": {"content": "ok"}}], "usage": {}}
            return self._send(200, reply)
        # what it was sent (httpx sends a URL's user and password as Basic auth), and a key
        quoted = f"Incorrect credentials: {self.headers.get('Authorization')}, Bearer {KEY} ({IN_BODY})"
        self._send(401, {"error": {"message": quoted, "type": "invalid_request_error"}})

    def _send(self, status: int, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_url_password_and_an_echoed_key_are_nowhere_in_the_store_or_the_output(
    tmp_path: Path, endpoint: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flow.yaml").write_text(
        "name: leaky\n"
        "providers:\n"
        f"  local: {{base_url: 'http://admin:{PASSWORD}@127.0.0.1:{endpoint}/v1', use_mock: false}}\n"
        "agents:\n  a: {model: gpt-test}\n"
        "steps:\n  s1: {agent: a, prompt: hi}\n",
        encoding="utf-8",
    )
    db = str(tmp_path / "runs.db")
    monkeypatch.chdir(tmp_path)
    environ = {"OPENAI_API_KEY": KEY, "NO_COLOR": "1", "COLUMNS": "200", "PODIUM_DB": None}
    runner = CliRunner()
    ran, shown, as_json = (
        runner.invoke(cli, [*args, "--db", db], env=environ)
        for args in (["run", "flow.yaml"], ["show", "latest", "--events"], ["show", "latest", "--json"])
    )
    assert ran.exit_code == 1, ran.output
    assert f"http://127.0.0.1:{endpoint}/v1 refused the credentials (401" in ran.output  # still says what
    assert shown.exit_code == 0 and json.loads(as_json.stdout)["status"] == "failed", shown.output
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("runs.db*"))
    assert b"CallFailed" in stored and b"RunFinished" in stored
    for secret in (PASSWORD, KEY, BASIC, "admin:"):
        assert secret.encode() not in stored, secret
        for done in (ran, shown, as_json):
            assert secret not in done.stdout + done.stderr, (secret, done.output)


async def test_the_local_provider_keeps_no_auth_body_and_names_its_endpoint_without_userinfo(
    tmp_path: Path, endpoint: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://admin:{PASSWORD}@127.0.0.1:{endpoint}"
    env = ProviderEnv(workflow="w", base_dir=tmp_path)
    request = AgentRequest(
        run_id="r", step="s", agent="a", attempt=1, provider="local", model="m",
        messages=[Message(role="user", content="hi")], idempotency_key="r:s::1", session_id="r-s",
    )  # fmt: skip
    monkeypatch.setenv("PODIUM_T_KEY", KEY)
    refused = LocalProvider(LocalConfig(base_url=f"{url}/v1", api_key_env="PODIUM_T_KEY"), env)
    with pytest.raises(AuthError) as info:
        await refused.invoke(request)
    await refused.aclose()
    said = str(info.value)
    assert f"http://127.0.0.1:{endpoint}/v1 refused the credentials (401" in said
    for secret in (IN_BODY, PASSWORD, KEY, BASIC):
        assert secret not in said, secret
    accepted = LocalProvider(LocalConfig(base_url=f"{url}/accepting/v1"), env)
    response = await accepted.invoke(request)
    await accepted.aclose()
    assert response.bound_to is not None
    assert response.bound_to["via"] == f"http://127.0.0.1:{endpoint}/accepting/v1"


def test_every_error_field_is_redacted_before_the_store_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_T_SERVICE_TOKEN", "opaque-value-from-env")
    store = MemoryStore()
    events = Dispatcher(store, None, "r1")
    said = f"https://bob:{PASSWORD}@host/v1 said: Bearer {KEY}; token was opaque-value-from-env"
    events.emit(EventType.RUN_STARTED, workflow="w")
    events.emit(EventType.CALL_FAILED, "s", 1, kind="auth", message=said, fix=said)
    events.emit(EventType.STEP_FAILED, "s", kind="auth", message=said)
    events.emit(EventType.RUN_FINISHED, status="failed", outputs={}, error={"step": "s", "message": said})
    kept = json.dumps([e.data for e in store.events("r1")])
    for secret in (PASSWORD, KEY, "opaque-value-from-env", "bob"):
        assert secret not in kept, secret
    assert "https://host/v1 said" in kept  # the rest of the message stays


def test_show_redacts_what_an_earlier_podium_stored(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from podium.core.events import Event
    from podium.core.store import SQLiteStore

    said = f"http://admin:{PASSWORD}@127.0.0.1:1/v1 refused the credentials (401): Bearer {KEY}"
    store = SQLiteStore(tmp_path / "old.db")
    now = datetime.now(UTC)
    for seq, type_, step, data in [
        (1, EventType.RUN_STARTED, None, {"workflow": "w", "steps": ["s1"]}),
        (2, EventType.STEP_STARTED, "s1", {"agent": "a"}),
        (3, EventType.CALL_FAILED, "s1", {"provider": "local", "kind": "auth", "message": said}),
        (4, EventType.STEP_FAILED, "s1", {"kind": "auth", "message": said}),
        (
            5,
            EventType.RUN_FINISHED,
            None,
            {"status": "failed", "outputs": {}, "error": {"step": "s1", "kind": "auth", "message": said}},
        ),
    ]:
        store.append(
            Event("r-old", seq, type_, step, 1 if type_ is EventType.CALL_FAILED else None, data, now)
        )
    store.close()
    runner = CliRunner()
    for args in (["--events"], ["--json"], ["--step", "s1"], ["--json", "--events"]):
        done = runner.invoke(
            cli, ["show", "r-old", *args, "--db", str(tmp_path / "old.db")], env={"NO_COLOR": "1"}
        )
        assert done.exit_code == 0, done.output
        assert "refused the credentials" in done.output
        assert PASSWORD not in done.output and KEY not in done.output, (args, done.output)
