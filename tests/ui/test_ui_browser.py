"""`podium ui` in a real headless Chromium (Debian's package, driven by Playwright): a reviewer opens
the runs, sees why a run failed, approves a waiting step through the form, and watches the run
resume to `succeeded`; and an agent's reply full of markup runs nothing.

The server is the real command (`python -m podium ui --port 0`) over a store of real runs.
Screenshots of each page are kept under pytest's tmp folder (the path is printed).
"""

from __future__ import annotations

import getpass
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import EVIL, Runs, decisions, event_types, make_runs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


class Server:
    def __init__(self, process: subprocess.Popen[str], url: str, runs: Runs, shots: Path) -> None:
        self.process = process
        self.url = url
        self.runs = runs
        self.shots = shots


def _started(process: subprocess.Popen[str], log: Path) -> str:
    """The URL `podium ui` says it serves, once it listens."""
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if line.startswith("podium ui: serving "):
                return line.split()[-1]
        if process.poll() is not None:
            break
    raise AssertionError(f"podium ui did not start: {log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("ui-browser")
    runs = make_runs(folder)
    log = folder / "server.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "podium", "ui", "--db", str(runs.db), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
    try:
        url = _started(process, log)
        shots = tmp_path_factory.mktemp("ui-screenshots")
        print(f"\nscreenshots of podium ui: {shots}")
        yield Server(process, url, runs, shots)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """A page in its own browser context, with what it complained of and every dialog it opened."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1300, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, url: str) -> Any:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready]")
        return self.page


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    opened = Tab(browser)
    yield opened
    opened.context.close()


def test_an_agent_reply_full_of_markup_is_shown_as_text_and_runs_nothing(server: Server, tab: Tab) -> None:
    runs = server.runs
    for path in (f"runs/{runs.waiting}/steps/draft", f"runs/{runs.waiting}"):
        page = tab.open(server.url + path)
        assert EVIL in page.inner_text("#content")  # the words, on screen, as words
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#content script, #content img").count() == 0
    # the timeline (the trace report, framed) shows the same reply: nothing runs there either
    frame = page.frame_locator("#timeline-frame")
    frame.locator("body[data-ready]").wait_for()
    frame.locator(".row", has_text="draft").first.click()
    inner = next(f for f in page.frames if f.url.endswith("/timeline"))
    assert inner.evaluate("window.__pwned") is None
    page.screenshot(path=str(server.shots / "xss.png"), full_page=True)
    assert tab.dialogs == [] and tab.problems == []


def test_a_reviewer_sees_the_failure_approves_the_waiting_step_and_the_run_resumes_to_succeeded(
    server: Server, tab: Tab
) -> None:
    runs, shots = server.runs, server.shots
    page = tab.open(server.url)
    rows = page.locator("table#runs tbody tr")
    assert rows.count() == 3
    assert rows.first.get_attribute("data-run") == runs.waiting  # waiting first: a person is needed
    page.screenshot(path=str(shots / "runs.png"), full_page=True)

    page.click(f'a[href="/runs/{runs.failed}"]')
    page.wait_for_selector("body[data-ready]")
    assert "gpt-9" in page.inner_text("#run-error") and "check" in page.inner_text("#run-error")
    page.screenshot(path=str(shots / "failed-run.png"), full_page=True)

    page.click("#nav-runs")
    page.click(f'a[href="/runs/{runs.waiting}"]')
    page.wait_for_selector("#decide-review")
    page.fill('input[name="field.reason"]', "the numbers check out")
    page.fill('textarea[name="comment"]', "ship it")
    page.screenshot(path=str(shots / "approval-form.png"), full_page=True)
    page.click('#decide-review button[value="approve-resume"]')
    page.wait_for_selector("#flash")
    assert f"approved: step review by {getpass.getuser()}; resuming in a worker process" in page.inner_text(
        "#flash"
    )
    # the page follows the run as the worker drives it to the end
    page.wait_for_selector("#run-status.s-succeeded", timeout=60_000)
    assert page.locator('tr[data-step="send"] .badge').inner_text() == "succeeded"
    assert f"approved by {getpass.getuser()}" in page.inner_text("#decided-review")
    page.screenshot(path=str(shots / "resumed-run.png"), full_page=True)

    [decided] = decisions(runs.db, runs.waiting)
    assert decided["by"] == getpass.getuser() and decided["decision"] == "approved"
    assert decided["fields"] == {"reason": "the numbers check out"} and decided["comment"] == "ship it"
    types = event_types(runs.db, runs.waiting)
    assert types[-1] == "RunFinished" and "RunResumed" in types
    assert tab.dialogs == [] and tab.problems == []
    kept = {p.name for p in shots.iterdir()}
    assert kept >= {"runs.png", "failed-run.png", "approval-form.png", "resumed-run.png"}
