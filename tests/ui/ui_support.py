"""A run database for the ui tests: a finished run, a failed run, and a run waiting for approval
whose agent replied with markup that must never run (all real runs, the local provider answering
from `mock:`)."""

from __future__ import annotations

import dataclasses
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import podium
from podium.core.store import open_store
from podium.plugins.manager import load_plugins
from podium.ui.settings import UISettings, settings_for

# what an agent might say to a page that shows it: it must be shown as text and run nothing
EVIL = '<script>window.__pwned = 1; alert("xss")</script><img src=x onerror="window.__pwned = 2; alert(2)">'

FINISHED = textwrap.dedent(
    """
    name: weekly-brief
    defaults: {provider: local}
    providers:
      local:
        models: {fast: claude-haiku-4-5}
    agents:
      writer: {model: fast}
    steps:
      gather: {agent: writer, prompt: "Gather the week's news."}
      write: {agent: writer, needs: [gather], prompt: "Write the brief from {{ steps.gather.output }}"}
    mock:
      gather: {reply: "Three things happened.", usage: {input_tokens: 900, output_tokens: 300}}
      write: {reply: "The brief.", usage: {input_tokens: 1500, output_tokens: 600}}
    """
)

FAILED = textwrap.dedent(
    """
    name: compliance-check
    defaults: {provider: local}
    agents: {checker: {}}
    steps:
      fetch: {agent: checker, prompt: fetch the filing}
      check: {agent: checker, needs: [fetch], prompt: "check {{ steps.fetch.output }}"}
    mock:
      fetch: the filing
      check: {error: invalid_request, reply: "model 'gpt-9' does not exist"}
    """
)

GATED = textwrap.dedent(
    """
    name: deal-memo
    defaults: {provider: local}
    providers:
      local:
        models: {fast: claude-haiku-4-5}
    agents:
      analyst: {model: fast}
    budget: {run: 0.50, daily: 2.00, monthly: 20}
    steps:
      research: {agent: analyst, prompt: "Research the deal."}
      draft: {agent: analyst, needs: [research], prompt: "Draft the memo."}
      review:
        needs: [draft]
        approval:
          message: "Approve the memo? It says: {{ steps.draft.output }}"
          fields:
            reason: {type: string, description: why it may go}
            amount: {type: integer, required: false}
      send: {agent: analyst, needs: [review], prompt: "Send it, because {{ steps.review.output.reason }}."}
    mock:
      research: {reply: "The target is sound.", usage: {input_tokens: 1200, output_tokens: 400}}
      draft: {reply: 'EVIL', usage: {input_tokens: 2000, output_tokens: 900}}
      send: {reply: "sent", usage: {input_tokens: 100, output_tokens: 20}}
    """
).replace("EVIL", EVIL.replace("'", "''"))


@dataclasses.dataclass(frozen=True)
class Runs:
    db: Path
    finished: str
    failed: str
    waiting: str


def make_runs(folder: Path) -> Runs:
    """Run the three workflows into `folder/runs.db` and return their ids."""
    db = folder / "runs.db"
    plugins = load_plugins(entry_points_too=False)
    ids = {}
    # the waiting run first (the oldest): the list must still put it on top
    for name, text in (("waiting", GATED), ("finished", FINISHED), ("failed", FAILED)):
        path = folder / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        # a thread of its own: the sync facade runs an event loop, which must not be the test's
        with ThreadPoolExecutor(1) as pool:
            ids[name] = pool.submit(podium.run, path, store=str(db), plugins=plugins).result().run_id
    return Runs(db, ids["finished"], ids["failed"], ids["waiting"])


def settings(db: Path, token: str | None = None) -> UISettings:
    """The settings `podium ui --db DB` would use, reachable by the ASGI test client's host name."""
    made = settings_for(db=db, host="127.0.0.1", token=token)
    return dataclasses.replace(made, allowed_hosts=(*made.allowed_hosts, "testserver"))


def event_types(db: Path, run_id: str) -> list[str]:
    store = open_store(db)
    try:
        return [str(e.type) for e in store.events(run_id)]
    finally:
        store.close()


def decisions(db: Path, run_id: str) -> list[dict]:
    store = open_store(db)
    try:
        return [dict(e.data, at=e.at) for e in store.events(run_id) if str(e.type) == "ApprovalDecided"]
    finally:
        store.close()
