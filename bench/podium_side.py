"""The workloads on podium: a workflow file per workload, run by `Engine.run` and `Engine.resume`.

Every step is bound to the local provider's python-function agent (`function: 'agents:<name>'`),
so a step is: schedule, render the prompt, emit StepStarted and CallStarted, await the coroutine,
emit CallFinished and StepSucceeded. Each event goes to the store and to the `podium_event` hook
(the built-in plugins, the cost ledger among them, see it) before the run goes on.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

from workloads import Chain, FanOut

import podium
from podium.core.engine import Engine
from podium.core.loader import parse
from podium.core.spec import Workflow
from podium.core.store import RunStore, SQLiteStore
from podium.plugins.manager import load_plugins

HERE = Path(__file__).resolve().parent


def workflow_text(workload: Chain | FanOut) -> str:
    """The workflow file a podium user would write for `workload`."""
    if isinstance(workload, Chain):
        names = sorted({workload.agent_of(i) for i in range(workload.steps)})
        lines = [
            "name: chain",
            "defaults: {retry: {attempts: 1}}",
            "agents: {" + ", ".join(f"{n}: {{function: 'agents:{n}'}}" for n in names) + "}",
            "steps:",
            f"  s0: {{agent: {workload.agent_of(0)}, prompt: go}}",
        ]
        lines += [
            f"  s{i}: {{agent: {workload.agent_of(i)}, needs: [s{i - 1}], prompt: go}}"
            for i in range(1, workload.steps)
        ]
        return "\n".join(lines) + "\n"
    n, branch, join = workload.branches, workload.agent, workload.join
    lines = [
        "name: fan",
        f"defaults: {{retry: {{attempts: 1}}, concurrency: {n}}}",
        f"agents: {{branch: {{function: 'agents:{branch}'}}, join: {{function: 'agents:{join}'}}}}",
        "steps:",
    ]
    lines += [f"  b{i}: {{agent: branch, prompt: go}}" for i in range(n)]
    lines.append(f"  join: {{agent: join, needs: [{', '.join(f'b{i}' for i in range(n))}], prompt: go}}")
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=8)
def workflow(workload: Chain | FanOut) -> Workflow:
    """The parsed workflow (parsed once per workload: parsing is not part of any timed figure)."""
    return parse(workflow_text(workload), file="bench.yaml", base_dir=HERE, providers=["local"])


def engine(store: RunStore) -> Engine:
    return Engine(plugins=load_plugins(entry_points_too=False), store=store)


async def run(workload: Chain | FanOut, store: RunStore) -> float:
    """Seconds for `Engine.run` to finish the workload (the workflow is parsed beforehand)."""
    wf = workflow(workload)
    runner = engine(store)
    started = time.perf_counter()
    result = await runner.run(wf, {})
    took = time.perf_counter() - started
    assert result.ok, result.error
    return took


async def resume(workload: Chain, db: Path) -> tuple[float, int]:
    """Run `workload` (whose last step fails once) into a SQLite store, then time `Engine.resume`.

    Returns the seconds the resume took and how many events it had to read back.
    """
    wf = workflow(workload)
    store = SQLiteStore(db)
    runner = engine(store)
    first = await runner.run(wf, {})
    assert first.status == "failed", first.status
    events = store.last_seq(first.run_id)
    started = time.perf_counter()
    resumed = await runner.resume(first.run_id, wf)
    took = time.perf_counter() - started
    assert resumed.ok, resumed.error
    store.close()
    return took, events


def run_public(workload: Chain | FanOut, db: Path) -> float:
    """Seconds for `podium.run`, as a script calls it, to finish the workload into a new SQLite store.

    The store is podium's default (a `SQLiteStore` at `db`, WAL, synchronous=NORMAL), at a path of
    the benchmark's own instead of ~/.podium; the workflow is parsed beforehand, as in `run`.
    """
    wf = workflow(workload)
    started = time.perf_counter()
    result = podium.run(wf, store=db)
    took = time.perf_counter() - started
    assert result.ok, result.error
    return took
