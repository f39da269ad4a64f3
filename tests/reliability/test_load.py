"""Load: 200 runs at once of a 10-step workflow across the three clouds' emulators, in one process,
with 5% of the model calls throttled.

Every run completes with the right outputs; each run's concurrency limits (per provider, and the
run's own) are never exceeded at the emulators, read from their request logs (each request carries
its run's trace id); the process's resident memory is sampled throughout and printed (the figure
goes into docs/reliability.md), with only a generous bound asserted.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from reliability_support import TARGETS, Clouds, max_overlap, write, yaml_of

from podium import api
from podium.core.calls import Usage
from podium.core.errors import Throttled
from podium.core.store import SQLiteStore
from podium.core.tracecontext import trace_id
from podium.plugins.manager import load_plugins
from podium.providers._kit.brains import Answer, Turn

pytestmark = pytest.mark.slow

RUNS = 200
THROTTLED = 0.05
LIMITS = {"bedrock": 2, "vertex": 2, "azure": 1}
RUN_LIMIT = 4  # defaults.concurrency: below the providers' sum, so it binds too
ON = {t.provider: t for t in TARGETS if t.name in ("bedrock-converse", "vertex-gemini", "azure-responses")}
MODEL_OPERATIONS = {t.operation for t in ON.values()}


class Model:
    """The emulated models: a reply derived from the prompt; a seeded 5% of calls are throttled."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.throttled = 0

    def __call__(self, turn: Turn) -> Answer:
        with self.lock:
            throttle = self.rng.random() < THROTTLED
            self.throttled += throttle
        if throttle:
            raise Throttled("Too many requests (injected).", retry_after=0.01)
        time.sleep(0.005)  # a call takes a moment, so that a run's calls overlap
        text = f"{turn.step}:{hashlib.sha256(turn.prompt.encode()).hexdigest()[:6]}"
        return Answer(text=text, usage=Usage(input_tokens=len(turn.prompt), output_tokens=len(text)))


def steps() -> dict[str, dict[str, Any]]:
    """a (bedrock); then b1-b3 (bedrock), c1-c3 (vertex), d1-d2 (azure) at once; e (azure) joins."""
    flow: dict[str, dict[str, Any]] = {"a": {"agent": "on_bedrock", "prompt": "run {{ inputs.n }}"}}
    fan = [("b1", "bedrock"), ("b2", "bedrock"), ("b3", "bedrock"), ("c1", "vertex"), ("c2", "vertex")]
    fan += [("c3", "vertex"), ("d1", "azure"), ("d2", "azure")]
    for sid, cloud in fan:
        flow[sid] = {"agent": f"on_{cloud}", "needs": ["a"], "prompt": f"{{{{ steps.a.output }}}} > {sid}"}
    joined = [s for s in flow if s != "a"]
    flow["e"] = {
        "agent": "on_azure",
        "needs": joined,
        "prompt": " + ".join(f"{{{{ steps.{s}.output }}}}" for s in joined),
    }
    assert len(flow) == 10
    return flow


class RssSampler:
    """The process's resident memory, sampled every 20 ms from /proc (Linux) in a thread."""

    def __init__(self) -> None:
        self.peak = self.start = rss()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, rss())

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss())


def rss() -> int:
    """Resident set size in bytes (0 where /proc is not available)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def test_two_hundred_runs_at_once_all_complete_within_their_limits(tmp_path: Path, clouds: Clouds) -> None:
    model = Model(seed=20261201)
    providers: dict[str, Any] = {}
    agents: dict[str, Any] = {}
    for name, target in ON.items():
        emulator = clouds.emulator(target)
        emulator.brain = model
        providers[name] = clouds.settings(target, concurrency=LIMITS[name])
        agents[f"on_{name}"] = clouds.agent(target, f"on_{name}")
    path = write(
        tmp_path / "load.yaml",
        f"""
        name: load
        defaults: {{concurrency: {RUN_LIMIT}, retry: {{attempts: 6, backoff: 0.01}}}}
        inputs: {{n: {{type: integer}}}}
        providers: {yaml_of(providers)}
        agents: {yaml_of(agents)}
        steps: {yaml_of(steps())}
        outputs: {{last: "{{{{ steps.e.output }}}}"}}
        """,
    )
    plugins = load_plugins(entry_points_too=False)
    workflow = api.load(path, plugins=plugins)
    store = SQLiteStore(tmp_path / "runs.db")

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(
            *(
                api.arun(workflow, {"n": n}, store=store, plugins=plugins, run_id=f"load-{n:03d}")
                for n in range(RUNS)
            )
        )

    began = time.monotonic()
    with RssSampler() as memory:
        runs = asyncio.run(all_at_once())
    elapsed = time.monotonic() - began
    store.close()

    assert [str(r.status) for r in runs] == ["succeeded"] * RUNS
    assert all(r.outputs["last"].startswith("e:") for r in runs)
    # the emulators saw each run's calls within its limits: per provider, and all together
    by_run: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    served = throttled = 0
    for name, target in ON.items():
        for e in clouds.emulator(target).requests:
            if e.operation not in MODEL_OPERATIONS:
                continue
            assert e.traceparent is not None and e.finished >= e.started > 0
            by_run[e.traceparent.split("-")[1]][name].append((e.started, e.finished))
            served += 1
            throttled += e.status == 429
    assert set(by_run) == {trace_id(f"load-{n:03d}") for n in range(RUNS)}
    peak = {name: 0 for name in LIMITS}
    for per_provider in by_run.values():
        for name, spans in per_provider.items():
            assert max_overlap(spans) <= LIMITS[name], (name, max_overlap(spans))
            peak[name] = max(peak[name], max_overlap(spans))
        assert max_overlap([s for spans in per_provider.values() for s in spans]) <= RUN_LIMIT
    assert served == RUNS * 10 + throttled and throttled == model.throttled > 0
    assert peak == LIMITS, "some provider's limit was never reached: the check above proves little"
    grown = memory.peak - memory.start
    print(
        f"load: {RUNS} runs x 10 steps, {served} requests ({throttled} throttled) in {elapsed:.1f}s;"
        f" RSS {memory.start / 2**20:.0f} MB before, peak {memory.peak / 2**20:.0f} MB"
        f" (+{grown / 2**20:.0f} MB, {grown / RUNS / 2**10:.0f} KB a run)"
    )
    assert grown < 1536 * 2**20  # generous: a leak of a few MB a run would pass 1.5 GB
