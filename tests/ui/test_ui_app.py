"""`podium ui`'s pages through the ASGI test client: routes, escaping, CSRF and token refusals, the
approval form writing the same decision as `podium approve`, downloads and spend."""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from ui_support import EVIL, Runs, decisions, event_types, make_runs, settings

from podium.ui.app import create_app
from podium.ui.settings import settings_for


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return make_runs(tmp_path_factory.mktemp("ui"))


@pytest.fixture
def fresh(tmp_path: Path) -> Runs:
    """Runs of this test's own, for a test that decides (and so changes the store)."""
    return make_runs(tmp_path)


def client_for(db: Path, token: str | None = None) -> TestClient:
    return TestClient(create_app(settings(db, token)), follow_redirects=False)


@pytest.fixture
def client(runs: Runs) -> Iterator[TestClient]:
    with client_for(runs.db) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def order_of_runs(html: str) -> list[str]:
    return re.findall(r'<tr class="s-\w+" data-run="([^"]+)"', html)


def test_the_runs_page_lists_waiting_runs_first_then_newest_with_cost_and_providers(
    client: TestClient, runs: Runs
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert order_of_runs(page.text) == [
        runs.waiting,
        runs.failed,
        runs.finished,
    ]  # waiting first, then newest
    assert "1 run waiting for a person" in page.text
    row = page.text.split(f'data-run="{runs.finished}"')[1].split("</tr>")[0]
    # 900+1500 in, 300+600 out at claude-haiku-4-5's catalog price, two calls on local
    assert re.search(r"\$0\.00\d+", row), row
    assert "local x2" in row
    assert "succeeded" in row


def test_the_runs_page_filters_by_status_workflow_and_day(client: TestClient, runs: Runs) -> None:
    assert order_of_runs(client.get("/?status=failed").text) == [runs.failed]
    assert order_of_runs(client.get("/?workflow=weekly-brief").text) == [runs.finished]
    today = datetime.now(UTC).date().isoformat()
    assert len(order_of_runs(client.get(f"/?date={today}").text)) == 3
    empty = client.get("/?date=2001-01-01")
    assert order_of_runs(empty.text) == [] and "No runs match these filters" in empty.text


@pytest.mark.parametrize(
    ("query", "said"),
    [("status=finished", "is not a run status"), ("date=2026-13-45", "is not a date")],
)
def test_a_bad_filter_says_what_is_wrong_and_the_fix(client: TestClient, query: str, said: str) -> None:
    page = client.get(f"/?{query}")
    assert page.status_code == 400
    assert said in page.text and "fix:" in page.text and 'href="/"' in page.text


def test_a_failed_run_shows_its_cause_step_and_how_to_resume(client: TestClient, runs: Runs) -> None:
    page = client.get(f"/runs/{runs.failed}")
    assert page.status_code == 200
    cause = page.text.split('id="run-error"')[1].split("</section>")[0]
    assert "check" in cause and "invalid_request" in cause and "gpt-9" in cause
    assert f"podium resume {runs.failed}" in page.text
    assert f'action="/runs/{runs.failed}/resume"' in page.text
    steps = page.text.split('id="steps"')[1]
    assert 'data-step="fetch"' in steps and "local mock" in steps
    # its one answered call was a scripted reply: shown as mock, never as $0
    assert 'id="run-cost">mock<' in page.text


def test_an_unknown_run_is_a_404_page_with_a_link_back(client: TestClient, runs: Runs) -> None:
    page = client.get("/runs/20990101-000000-nosuch")
    assert page.status_code == 404
    assert "No such run" in page.text and 'id="back"' in page.text and 'href="/"' in page.text
    assert runs.finished in page.text  # the recent runs, to pick from
    assert client.get(f"/runs/{runs.failed}/steps/nosuch").status_code == 404
    assert client.get("/nowhere").status_code == 404


def test_what_agents_said_is_escaped_on_every_page_and_the_csp_forbids_inline_script(
    client: TestClient, runs: Runs
) -> None:
    for path in (
        f"/runs/{runs.waiting}",
        f"/runs/{runs.waiting}/steps/draft",
        f"/runs/{runs.waiting}/steps/review",
        f"/runs/{runs.waiting}/events",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<script>window.__pwned" not in page.text, path
        assert "<img src=x" not in page.text, path
        assert "&lt;script&gt;window.__pwned" in page.text, path
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        # the page's only script is its own static file
        assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/ui.js" defer>']
    step = client.get(f"/runs/{runs.waiting}/steps/draft").text
    assert EVIL.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;") in step


def test_the_timeline_is_the_trace_report_framed_under_its_own_hash_pinned_policy(
    client: TestClient, runs: Runs
) -> None:
    page = client.get(f"/runs/{runs.waiting}/timeline")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'sha256-" in csp and "frame-ancestors 'self'" in csp and "unsafe-inline" not in csp
    assert 'id="trace-data"' in page.text and "<script>window.__pwned" not in page.text
    run_page = client.get(f"/runs/{runs.waiting}").text
    assert f'src="/runs/{runs.waiting}/timeline"' in run_page and 'sandbox="allow-scripts"' in run_page


def test_gets_change_nothing(client: TestClient, runs: Runs) -> None:
    before = {r: event_types(runs.db, r) for r in (runs.finished, runs.failed, runs.waiting)}
    for path in (
        "/",
        f"/runs/{runs.waiting}",
        f"/runs/{runs.failed}",
        "/spend",
        f"/runs/{runs.waiting}/live",
    ):
        assert client.get(path).status_code == 200
    # a GET to a form's address is not a decision
    assert client.get(f"/runs/{runs.waiting}/steps/review/decide").status_code == 405
    assert {r: event_types(runs.db, r) for r in before} == before


def test_a_decision_without_the_csrf_token_is_refused_and_nothing_is_written(fresh: Runs) -> None:
    with client_for(fresh.db) as c:
        c.get(f"/runs/{fresh.waiting}")  # a session, with its token
        url = f"/runs/{fresh.waiting}/steps/review/decide"
        for form in ({"action": "approve", "field.reason": "ok"}, {"action": "approve", "csrf": "forged"}):
            refused = c.post(url, data=form)
            assert refused.status_code == 403
            assert "CSRF" in refused.text and "nothing was changed" in refused.text
        # only the page's own kind of form is read: not multipart, not JSON
        token = csrf_of(c.get(f"/runs/{fresh.waiting}").text)
        odd = c.post(url, files={"csrf": (None, token), "action": (None, "approve")})
        assert odd.status_code == 400 and "nothing was changed" in odd.text
        assert c.post(url, json={"csrf": token, "action": "approve"}).status_code == 400
        # another site's form carries no session at all
        with client_for(fresh.db) as stranger:
            assert stranger.post(url, data={"action": "approve", "csrf": "x"}).status_code == 403
    assert decisions(fresh.db, fresh.waiting) == []


def test_the_form_writes_the_decision_podium_approve_writes_and_a_second_one_is_told_who_decided(
    fresh: Runs,
) -> None:
    with client_for(fresh.db) as c:
        page = c.get(f"/runs/{fresh.waiting}")
        assert 'name="field.reason"' in page.text and 'type="number" name="field.amount"' in page.text
        token = csrf_of(page.text)
        url = f"/runs/{fresh.waiting}/steps/review/decide"
        missing = c.post(url, data={"csrf": token, "action": "approve", "comment": "fine"})
        assert missing.status_code == 400 and "needs the field" in missing.text and "reason" in missing.text
        assert decisions(fresh.db, fresh.waiting) == []
        done = c.post(
            url,
            data={
                "csrf": token,
                "action": "approve",
                "field.reason": "priced right",
                "field.amount": "12",
                "comment": "go",
            },
        )
        assert done.status_code == 303 and done.headers["location"] == f"/runs/{fresh.waiting}"
        [decided] = decisions(fresh.db, fresh.waiting)
        assert decided["decision"] == "approved" and decided["by"] == getpass.getuser()
        assert decided["fields"] == {"reason": "priced right", "amount": 12} and decided["comment"] == "go"
        after = c.get(f"/runs/{fresh.waiting}").text
        assert f"approved by <b>{getpass.getuser()}</b> at " in after and 'id="decide-review"' not in after
        assert f"podium resume {fresh.waiting}" in after
        again = c.post(url, data={"csrf": token, "action": "reject"})
        assert again.status_code == 409 and "already decided" in again.text
        assert f"approved by <b>{getpass.getuser()}</b> at {decided['at']:%Y-%m-%d %H:%M:%S}" in again.text
    assert len(decisions(fresh.db, fresh.waiting)) == 1


def test_with_a_token_nothing_is_served_before_login_and_decisions_are_by_the_login_name(fresh: Runs) -> None:
    with client_for(fresh.db, token="s3cret-token") as c:
        first = c.get(f"/runs/{fresh.waiting}")
        assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
        assert c.get("/spend").status_code == 303
        assert c.get(f"/runs/{fresh.waiting}/trace.jsonl").status_code == 303
        assert (
            c.post(f"/runs/{fresh.waiting}/steps/review/decide", data={"action": "approve"}).status_code
            == 401
        )
        login = c.get("/login")
        token = csrf_of(login.text)
        wrong = c.post("/login", data={"csrf": token, "name": "alice", "token": "guess", "next": "/"})
        assert wrong.status_code == 401 and "not this page&#39;s token" in wrong.text
        assert c.get("/").status_code == 303
        right = c.post(
            "/login",
            data={"csrf": token, "name": "alice", "token": "s3cret-token", "next": f"/runs/{fresh.waiting}"},
        )
        assert right.status_code == 303 and right.headers["location"] == f"/runs/{fresh.waiting}"
        page = c.get(f"/runs/{fresh.waiting}")
        assert page.status_code == 200 and 'id="user">alice<' in page.text
        c.post(
            f"/runs/{fresh.waiting}/steps/review/decide",
            data={"csrf": csrf_of(page.text), "action": "reject", "comment": "not yet"},
        )
    [decided] = decisions(fresh.db, fresh.waiting)
    assert decided["by"] == "alice" and decided["decision"] == "rejected"


def test_login_never_sends_anyone_to_another_site(fresh: Runs) -> None:
    with client_for(fresh.db, token="s3cret-token") as c:
        token = csrf_of(c.get("/login").text)
        done = c.post(
            "/login", data={"csrf": token, "name": "bob", "token": "s3cret-token", "next": "//evil.example/x"}
        )
        assert done.headers["location"] == "/"


def test_another_host_name_is_refused(client: TestClient) -> None:
    """A page that another site's DNS points at 127.0.0.1 (DNS rebinding) is not served."""
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]"])
def test_the_loopback_names_a_browser_sends_are_served(runs: Runs, host: str) -> None:
    """`podium ui --host ::1`: a browser at http://[::1]:PORT sends `Host: [::1]:PORT`."""
    app = create_app(settings_for(db=runs.db, host=host, token=None))
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        for name in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
            assert c.get("/", headers={"host": name}).status_code == 200, name
        assert c.get("/", headers={"host": "evil.example"}).status_code == 400


def test_the_trace_downloads_are_jsonl_html_and_otlp_json(client: TestClient, runs: Runs) -> None:
    jsonl = client.get(f"/runs/{runs.finished}/trace.jsonl")
    assert jsonl.status_code == 200
    assert f'filename="{runs.finished}.trace.jsonl"' in jsonl.headers["content-disposition"]
    spans = [json.loads(line) for line in jsonl.text.splitlines()]
    assert {s["kind"] for s in spans} >= {"run", "step", "call"}
    assert "The brief." not in jsonl.text  # no content unless asked for
    assert "The brief." in client.get(f"/runs/{runs.finished}/trace.jsonl?content=1").text
    html = client.get(f"/runs/{runs.finished}/trace.html")
    assert html.status_code == 200 and 'id="trace-data"' in html.text
    otlp = client.get(f"/runs/{runs.finished}/trace.otlp.json").json()
    [resource] = otlp["resourceSpans"]
    otel = resource["scopeSpans"][0]["spans"]
    assert len(otel) == len(spans)
    assert all(
        re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) and re.fullmatch(r"[0-9a-f]{16}", s["spanId"])
        for s in otel
    )
    assert {s["traceId"] for s in otel} == {spans[0]["trace_id"]}
    assert client.get(f"/runs/{runs.finished}/trace.csv").status_code == 404


def test_spend_shows_the_daily_chart_providers_models_budgets_and_the_what_if(
    client: TestClient, runs: Runs
) -> None:
    page = client.get("/spend?days=7")
    assert page.status_code == 200
    today = datetime.now(UTC).date().isoformat()
    assert re.search(rf'<rect [^>]*data-workflow="deal-memo" data-day="{today}"', page.text)
    assert re.search(rf'<rect [^>]*data-workflow="weekly-brief" data-day="{today}"', page.text)
    assert "claude-haiku-4-5" in page.text.split('id="by-model"')[1].split("</table>")[0]
    budget = page.text.split('data-workflow="deal-memo">')[1].split("</article>")[0]
    assert "run" in budget and "of $0.50" in budget and "of $2.00" in budget and "of $20.00" in budget
    assert budget.count("<meter") == 3
    what_if = client.get("/spend?days=7&workflow=deal-memo&as=bedrock,azure")
    table = what_if.text.split('id="what-if-table"')[1].split("</table>")[0]
    assert "as bedrock" in table and "as azure" in table
    assert "anthropic.claude-haiku-4-5" in what_if.text  # the model it maps to on bedrock
    bad = client.get("/spend?days=7&workflow=deal-memo&as=bedrok")
    assert bad.status_code == 400 and "bedrok" in bad.text and "did you mean" in bad.text
    assert client.get("/spend?days=5").status_code == 400


def test_a_killed_run_shows_as_interrupted_with_its_resume_command_and_a_driven_one_as_running(
    tmp_path: Path,
) -> None:
    from podium.core.events import Event, EventType
    from podium.core.lease import owner_id
    from podium.core.store import open_store

    db = tmp_path / "runs.db"
    store = open_store(db)
    # what a killed process leaves: its run started, a step began, and no process holds the run
    store.append(Event("r-killed", 1, EventType.RUN_STARTED, data={"workflow": "w", "steps": ["a"]}))
    store.append(Event("r-killed", 2, EventType.STEP_STARTED, "a", data={"agent": "x"}))
    try:
        with client_for(db) as c:
            listed = c.get("/").text.split('data-run="r-killed"')[1].split("</tr>")[0]
            assert "interrupted" in listed and "podium resume r-killed" in listed
            page = c.get("/runs/r-killed").text
            assert 'id="run-status">interrupted<' in page and 'id="interrupted"' in page
            assert 'action="/runs/r-killed/resume"' in page
            store.acquire_lease("r-killed", owner_id(), ttl=60)  # a live process drives it again
            assert c.get("/runs/r-killed/live").json()["status"] == "running"
            page = c.get("/runs/r-killed").text
            assert 'id="run-status">running<' in page and 'action="/runs/r-killed/resume"' not in page
            assert 'data-live="/runs/r-killed/live"' in page
    finally:
        store.close()
