"""A python agent's plain function, as a run calls it: on the local provider's reused threads, where
one that blocks past its step's timeout does not hold the run, even when the run allows one call."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import podium
from podium.core.functions import import_function

AGENTS = """
import threading

release = threading.Event()
calls = []


def stuck_once(prompt):
    calls.append(threading.get_ident())
    if len(calls) == 1:
        release.wait(30)  # blocks past the step's timeout: cannot be interrupted, only abandoned
        return "late"
    return "second try"


def name(prompt):
    return str(threading.get_ident())
"""


async def test_a_function_blocked_past_its_timeout_does_not_hold_the_one_thread_the_run_allows(
    tmp_path: Path,
) -> None:
    (tmp_path / "blocking_agents.py").write_text(AGENTS)
    (tmp_path / "wf.yaml").write_text(
        textwrap.dedent(
            """
            name: blocking
            defaults: {concurrency: 1}
            agents:
              stuck: {function: 'blocking_agents:stuck_once'}
              plain: {function: 'blocking_agents:name'}
            steps:
              a: {agent: stuck, prompt: go, timeout: 0.2, retry: {attempts: 2, backoff: 0, jitter: false}}
              b: {agent: plain, needs: [a], prompt: go}
              c: {agent: plain, needs: [b], prompt: go}
            """
        )
    )
    started = time.perf_counter()
    try:
        run = await podium.arun(tmp_path / "wf.yaml", store=tmp_path / "runs.db")
        took = time.perf_counter() - started
        # the module next to the workflow, under its private name (the run imported it)
        module = sys.modules[import_function("blocking_agents:name", tmp_path).__module__]
        assert run.ok, run.error
        assert run.steps["a"].output == "second try"
        assert took < 5
        assert not module.release.is_set()  # the first call is still blocked in its thread
        # b and c ran on one reused thread: the second try's, not the stuck one's
        assert run.steps["b"].output == run.steps["c"].output == str(module.calls[1]) != str(module.calls[0])
    finally:
        sys.modules[import_function("blocking_agents:name", tmp_path).__module__].release.set()
