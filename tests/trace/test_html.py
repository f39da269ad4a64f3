"""The HTML report: spans of real runs rendered by `render_html` and opened in headless Chromium.

Each run goes through the engine with the local provider answering from ``mock:`` (and a test
provider for tool calls), its events fold into spans with `spans_of`, priced the way the cost
plugin prices them. The page is then read as a person would: its text, its bars, its clicks.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest

import podium
from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.events import Event
from podium.core.store import MemoryStore
from podium.cost.catalog import default_config, load_catalog
from podium.cost.ledger import CostFold
from podium.plugins.manager import load_plugins
from podium.testing import ProviderPlugin, function_provider
from podium.trace.html import render_html
from podium.trace.spans import Span, spans_of

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium on PATH (apt-get install chromium; .ci/run installs it)"
)
# a browser that reaches for nothing but the file it is given
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

EVIL = '</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'

FLOW = textwrap.dedent(
    """
    name: trace-report
    inputs:
      channels: {type: array, default: [newsletter, social, blog]}
    defaults:
      provider: local
      retry: {attempts: 3, backoff: 0.01}
    providers:
      local:
        models: {fast: claude-haiku-4-5}
    agents:
      researcher: {model: fast}
      writer: {model: fast}
      librarian: {provider: toolbox}
    steps:
      science: {agent: researcher, prompt: "The science of tides, please."}
      economics: {agent: researcher, prompt: "The economics of tides, please."}
      lookup: {agent: librarian, prompt: "Find the tide tables."}
      draft:
        agent: writer
        needs: [science, economics, lookup]
        prompt: "Draft from {{ steps.science.output }}"
      adapt: {agent: writer, needs: [draft], foreach: "{{ inputs.channels }}", prompt: "Adapt for {{ item }}"}
    mock:
      science:
        reply: 'Tides are predictable. EVIL'
        latency: 0.3
        usage: {input_tokens: 52, output_tokens: 38}
      economics:
        - {error: throttled, retry_after: 0.01}
        - {reply: "Capital costs are high.", latency: 0.2, usage: {input_tokens: 50, output_tokens: 35}}
      draft: {reply: "A one-page brief.", usage: {input_tokens: 240, output_tokens: 180}}
      adapt: {reply: "Adapted.", usage: {input_tokens: 20, output_tokens: 10}}
    """
).replace("EVIL", EVIL.replace("'", "''"))
STEPS = ["science", "economics", "lookup", "draft", "adapt"]

FAILING = textwrap.dedent(
    """
    name: trace-failing
    defaults: {provider: local}
    agents: {a: {}}
    steps:
      fetch: {agent: a, prompt: fetch it}
      summarise: {agent: a, needs: [fetch], prompt: "summarise {{ steps.fetch.output }}"}
    mock:
      fetch: fetched
      summarise: {error: invalid_request, reply: "model 'gpt-9' does not exist"}
    """
)

GATED = textwrap.dedent(
    """
    name: trace-gated
    defaults: {provider: local}
    agents: {a: {}}
    steps:
      prepare: {agent: a, prompt: prepare}
      gate: {approval: {message: publish?}, needs: [prepare]}
      publish: {agent: a, needs: [gate], prompt: publish}
    mock: {prepare: ready, publish: published}
    """
)


def _librarian(request: AgentRequest) -> AgentResponse:
    """An agent that calls a tool before answering, as a cloud agent reports it."""
    tool = {"name": "tide_tables", "id": "t1", "arguments": {"port": "Brest"}, "result": {"high": "HW0612"}}
    return AgentResponse(
        text="High tide at HW0612.",
        usage=Usage(input_tokens=30, output_tokens=12),
        model="librarian-1",
        native={"tool_calls": [tool]},
    )


def _run(path: Path, *, content: bool) -> list[Span]:
    """Run a workflow for real and fold its events into spans, each call priced as the cost plugin
    prices it (the run's total cost is the sum)."""
    plugins = load_plugins(entry_points_too=False)
    plugins.register(ProviderPlugin(function_provider("toolbox", _librarian)))
    store = MemoryStore()
    # a worker thread: the sync facade runs its own event loop, which a live Playwright would block
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(podium.run, path, store=store, plugins=plugins).result()
    ledger = CostFold(run.run_id, load_catalog([], config=default_config()))

    def priced(event: Event) -> dict[str, Any] | None:
        row = ledger.feed(event)
        if row is None:
            return None
        return {"podium.cost_usd": None if row.cost is None else str(row.cost)}

    return spans_of(store.events(run.run_id), content=content, attributes=priced)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("html")


@pytest.fixture(scope="module")
def runs(workdir: Path) -> dict[str, list[Span]]:
    """The spans of each real run these tests look at (run once for the module)."""
    out: dict[str, list[Span]] = {}
    for name, text in (("flow", FLOW), ("failing", FAILING), ("gated", GATED)):
        path = workdir / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        out[name] = _run(path, content=True)
        if name == "flow":
            out["flow-no-content"] = _run(path, content=False)
    return out


class Report:
    """One report opened in Chromium, with what the page asked the network for and complained of."""

    def __init__(self, page: Any, requests: list[str], problems: list[str]) -> None:
        self.page = page
        self.requests = requests
        self.problems = problems

    def text(self) -> str:
        return str(self.page.inner_text("body"))

    def row(self, name: str) -> Any:
        """The visible row whose label is exactly `name`."""
        rows = self.page.locator(
            ".row", has=self.page.locator(".name", has_text=re.compile(f"^{re.escape(name)}$"))
        )
        return rows.first

    def expand(self, name: str) -> None:
        self.row(name).locator(".caret").click()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium on PATH (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_report(browser: Any, tmp_path: Path) -> Iterator[Callable[..., Report]]:
    """Write HTML to a file, open it in a fresh page, and wait until its script has drawn it."""
    contexts: list[Any] = []

    def open_(html: str, name: str = "report.html", height: int = 800) -> Report:
        path = tmp_path / name
        path.write_text(html, encoding="utf-8")
        context = browser.new_context(viewport={"width": 1400, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)  # a page that never draws fails in seconds, not minutes
        requests: list[str] = []
        problems: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: (problems.append("dialog: " + d.message), d.dismiss()))
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready]")
        return Report(page, requests, problems)

    yield open_
    for context in contexts:
        context.close()


def _run_span(spans: list[Span]) -> Span:
    return next(s for s in spans if s.kind == "run")


def _step(spans: list[Span], name: str) -> Span:
    return next(s for s in spans if s.kind == "step" and s.attributes.get("podium.step") == name)


# --- in the browser --------------------------------------------------------------------------------


@needs_chromium
def test_the_page_names_every_step_and_the_run_s_total_cost(
    runs: dict[str, list[Span]], open_report: Callable[..., Report], tmp_path: Path
) -> None:
    spans = runs["flow"]
    cost = _run_span(spans).attributes["podium.cost_usd"]
    assert cost not in ("0", None)  # the run was priced: the page has a real figure to show

    report = open_report(render_html(spans))
    shot = report.page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

    assert shot.startswith(b"\x89PNG") and len(shot) > 10_000
    assert (tmp_path / "report.png").stat().st_size == len(shot)
    text = report.text()
    for step in STEPS:
        assert step in text
    assert f"${cost}" in text
    assert report.page.inner_text("#total-cost").startswith(f"${cost}")
    # a self-contained file: the browser fetched nothing but the file, and nothing went wrong
    assert [u for u in report.requests if not u.startswith("file://")] == []
    assert report.problems == []


@needs_chromium
def test_parallel_steps_overlap_in_time_and_the_step_after_them_follows(
    runs: dict[str, list[Span]], open_report: Callable[..., Report]
) -> None:
    report = open_report(render_html(runs["flow"]))

    def extent(name: str) -> tuple[float, float]:
        box = report.row(name).locator(".bar").bounding_box()
        return box["x"], box["x"] + box["width"]

    science, economics, draft = extent("science"), extent("economics"), extent("draft")
    assert science[0] < economics[1] and economics[0] < science[1]  # side by side in time
    assert draft[0] >= max(science[1], economics[1]) - 1  # after both
    assert report.page.inner_text("#most-parallel") == "3"


@needs_chromium
def test_a_foreach_step_groups_its_items_collapsed_until_opened(
    runs: dict[str, list[Span]], open_report: Callable[..., Report]
) -> None:
    report = open_report(render_html(runs["flow"]))
    page = report.page
    assert page.locator(".row.k-item").count() == 0
    assert "3 items" in report.row("adapt").inner_text()

    report.expand("adapt")

    labels = page.locator(".row .name").all_inner_texts()
    at = labels.index("adapt")
    assert labels[at + 1 : at + 4] == ["item 0", "item 1", "item 2"]
    assert labels[at + 4 :] == []  # the items are the rows under their step, nothing else is
    step_indent = report.row("adapt").locator(".label").evaluate("e => parseFloat(e.style.paddingLeft)")
    item_indent = report.row("item 1").locator(".label").evaluate("e => parseFloat(e.style.paddingLeft)")
    assert item_indent > step_indent

    report.expand("adapt")
    assert page.locator(".row.k-item").count() == 0


@needs_chromium
def test_clicking_a_call_shows_its_model_cost_prompt_and_reply_as_text(
    runs: dict[str, list[Span]], open_report: Callable[..., Report]
) -> None:
    spans = runs["flow"]
    call = next(s for s in spans if s.kind == "call" and s.attributes.get("podium.step") == "science")
    report = open_report(render_html(spans))
    page = report.page

    report.expand("science")
    report.expand("attempt 1")
    row = page.locator(".row.k-call").first
    assert "claude-haiku-4-5" in row.inner_text()
    row.click()

    detail = page.locator("#detail")
    assert detail.is_visible()
    assert "The science of tides, please." in page.inner_text("#detail .prompt")
    reply = page.inner_text("#detail .reply")
    assert "Tides are predictable." in reply and EVIL in reply  # shown as the text it is
    facts = page.inner_text("#detail table")
    assert "local" in facts and "claude-haiku-4-5" in facts and "52 / 38" in facts
    assert f"${call.attributes['podium.cost_usd']}" in facts
    # what the agent said stayed data: no element, script or handler of its own ran or appeared
    assert page.evaluate("document.scripts.length") == 2
    assert page.evaluate("document.images.length") == 0
    assert page.evaluate("window.__pwned") is None
    assert report.problems == []


@needs_chromium
def test_retries_are_visible_on_the_step_and_its_attempts(
    runs: dict[str, list[Span]], open_report: Callable[..., Report]
) -> None:
    report = open_report(render_html(runs["flow"]))

    assert "2 attempts" in report.row("economics").inner_text()
    report.expand("economics")
    first, second = report.page.locator(".row.k-attempt").all()
    assert "error" in (first.get_attribute("class") or "") and "throttled" in first.inner_text()
    assert "error" not in (second.get_attribute("class") or "")
    assert "economics \u203a invoke_agent researcher (attempt 1)" in report.page.inner_text("#failures")


@needs_chromium
def test_a_call_lists_its_tool_calls(runs: dict[str, list[Span]], open_report: Callable[..., Report]) -> None:
    report = open_report(render_html(runs["flow"]))

    report.expand("lookup")
    report.expand("attempt 1")
    call = report.page.locator(".row.k-call").first
    assert "1 tool call" in call.inner_text()
    call.click()

    tools = report.page.inner_text("#detail")
    assert "tide_tables" in tools and "Brest" in tools and "HW0612" in tools


@needs_chromium
def test_a_failed_step_is_red_and_says_why(
    runs: dict[str, list[Span]], open_report: Callable[..., Report]
) -> None:
    spans = runs["failing"]
    cause = _step(spans, "summarise").status_message
    assert cause and "does not exist" in cause
    report = open_report(render_html(spans))
    page = report.page

    row = report.row("summarise")
    assert "error" in (row.get_attribute("class") or "")
    assert row.locator(".why").inner_text() == cause
    red = row.locator(".bar").evaluate("e => getComputedStyle(e).backgroundColor")
    assert red == "rgb(217, 45, 32)"
    assert row.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(254, 243, 242)"
    assert "error" not in (report.row("fetch").get_attribute("class") or "")
    assert "summarise" in page.inner_text("#run-error") and cause in page.inner_text("#run-error")

    page.locator("#failure-list li", has_text="summarise").first.click()
    assert cause in page.inner_text("#detail")


@needs_chromium
def test_a_step_still_open_runs_to_the_run_s_end_and_says_so(
    runs: dict[str, list[Span]], open_report: Callable[..., Report]
) -> None:
    spans = runs["gated"]
    assert _step(spans, "gate").end_time is None
    report = open_report(render_html(spans))

    row = report.row("gate")
    assert "waiting" in row.inner_text()
    bar = row.locator(".bar")
    assert "running" in (bar.get_attribute("class") or "")
    lane = row.locator(".lane").bounding_box()
    box = bar.bounding_box()
    assert abs((box["x"] + box["width"]) - (lane["x"] + lane["width"])) < 2
    assert report.page.inner_text("#run-status") == "waiting"


@needs_chromium
def test_without_content_the_report_holds_no_prompt_or_reply(
    runs: dict[str, list[Span]], open_report: Callable[..., Report]
) -> None:
    html = render_html(runs["flow-no-content"])
    for said in ("The science of tides", "Tides are predictable", "Capital costs", "Brest", "HW0612"):
        assert said not in html

    report = open_report(html)
    report.expand("science")
    report.expand("attempt 1")
    report.page.locator(".row.k-call").first.click()
    assert report.page.locator("#detail .prompt").count() == 0
    assert "claude-haiku-4-5" in report.page.inner_text("#detail")


def _span(key: str, parent: str | None, kind: Any, start: datetime, end: datetime, **fields: Any) -> Span:
    return Span(
        trace_id="t" * 32,
        span_id=key,
        parent_span_id=parent,
        kind=kind,
        start_time=start,
        end_time=end,
        **fields,
    )


def _synthetic(steps: int) -> list[Span]:
    """A run of `steps` steps (two at a time), each an attempt and a priced call; every 500th fails."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for n in range(steps):
        start, end = t0 + timedelta(seconds=n // 2), t0 + timedelta(seconds=n // 2 + 1)
        name = f"step-{n:05d}"
        failed = n % 500 == 499
        status = "error" if failed else "ok"
        why = f"{name} broke" if failed else None
        step = {"podium.step": name, "podium.status": "failed" if failed else "succeeded"}
        call = {
            "podium.provider": "local",
            "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
            "podium.cost_usd": "0.000001",
        }
        out += [
            _span(f"s{n}", "run", "step", start, end, name=f"step {name}", status=status,
                  status_message=why, attributes=step),
            _span(f"a{n}", f"s{n}", "attempt", start, end, name="attempt 1", status=status),
            _span(f"c{n}", f"a{n}", "call", start, end, name="invoke_agent w", status=status,
                  status_message=why, attributes=call),
        ]  # fmt: skip
    totals = {
        "gen_ai.workflow.name": "big",
        "podium.run_id": "synthetic",
        "podium.status": "failed",
        "podium.cost_usd": "0.010000",
        "gen_ai.usage.input_tokens": 10 * steps,
        "gen_ai.usage.output_tokens": 5 * steps,
        "podium.calls": steps,
    }
    last = t0 + timedelta(seconds=steps // 2 + 1)
    run = _span("run", None, "run", t0, last, name="invoke_workflow big", status="error", attributes=totals)
    return [run, *out]


@needs_chromium
def test_ten_thousand_steps_open_with_few_rows_and_the_filter_finds_one(
    open_report: Callable[..., Report],
) -> None:
    spans = _synthetic(10_000)
    began = time.perf_counter()
    html = render_html(spans)
    rendered = time.perf_counter() - began

    began = time.perf_counter()
    report = open_report(html, height=900)
    opened = time.perf_counter() - began
    page = report.page
    print(
        f"\n10,000 steps: {len(html) / 1e6:.1f} MB; render_html {rendered:.2f} s; in Chromium {opened:.2f} s"
    )

    rows = page.locator(".row").count()
    elements = page.evaluate("document.getElementsByTagName('*').length")
    assert 0 < rows <= 100  # the rows in view, not 10,000
    assert elements < 2_000
    assert "$0.010000" in report.text()
    assert "10000 of 10000" in page.inner_text("#count")

    page.locator("#expand").click()  # 30,000 rows open: still only those in view are drawn
    assert page.locator(".row").count() <= 100
    page.eval_on_selector("#viewport", "v => { v.scrollTop = v.scrollHeight; }")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.row.k-step .name')].some(e => e.textContent === 'step-09999')"
    )
    assert page.locator(".row").count() <= 100

    page.fill("#filter", "step-07777")
    page.wait_for_function("() => document.querySelectorAll('.row.k-step').length === 1")
    assert report.row("step-07777").is_visible()

    page.fill("#filter", "")
    page.select_option("#status", "error")
    page.wait_for_function("() => document.querySelector('#count').textContent.startsWith('20 of')")
    assert "more (filter by status: failed)" not in page.inner_text("#failures")  # 20 + 20 calls < 50 shown
    assert report.problems == []


# --- in the document ---------------------------------------------------------------------------------


def _data(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="trace-data" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


def test_what_agents_said_cannot_close_the_data_element(runs: dict[str, list[Span]]) -> None:
    html = render_html(runs["flow"])

    assert html.count("<script") == 2 and html.count("</script>") == 2
    assert "<img" not in html
    data = _data(html)  # and the JSON still says exactly what the agent said
    replies = [
        json.loads(s["a"]["gen_ai.output.messages"])
        for s in data["spans"]
        if "gen_ai.output.messages" in s["a"]
    ]
    assert "Tides are predictable. " + EVIL in [r[0]["parts"][0]["content"] for r in replies]


def test_the_document_reaches_for_nothing_outside_itself(runs: dict[str, list[Span]]) -> None:
    html = render_html(runs["flow"], title="<b>tides</b>")

    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//""", html, re.I)
    assert "@import" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None and unescape(csp.group(1)).startswith("default-src 'none';")
    assert "&lt;b&gt;tides&lt;/b&gt;" in html and "<b>tides</b>" not in html


def test_the_total_cost_is_the_run_s_decimal_string_and_unpriced_calls_are_noted() -> None:
    spans = _synthetic(4)
    totals = {**spans[0].attributes, "podium.cost_usd": "0.008719", "podium.unpriced_calls": 2}
    spans[0] = spans[0].model_copy(update={"attributes": totals})

    html = render_html(spans)

    assert "$0.008719" in html
    assert "2 unpriced calls not counted" in html
