"""cProfile of podium on one benchmark workload, to find where a missed target goes (not run by make bench).

    .venv/bin/python bench/hotspots.py chain      # the 1,000-step no-op chain, in-memory store
    .venv/bin/python bench/hotspots.py durable    # the same chain with 1 KB outputs, SQLite store
    .venv/bin/python bench/hotspots.py fanout     # 1,000 branches of a 20 ms sleep, then a join
    .venv/bin/python bench/hotspots.py resume     # resume a 10,000-step run at its last step
    .venv/bin/python bench/hotspots.py parse      # parse the 10,000-step workflow file
    .venv/bin/python bench/hotspots.py bedrock    # 200 steps bound to Bedrock Converse via the emulator
    .venv/bin/python bench/hotspots.py ablate     # µs/step with parts of podium switched off, unprofiled
    .venv/bin/python bench/hotspots.py roundtrip  # a Bedrock call layer by layer, boto3 to podium step

Prints the top functions by own time and by cumulative time. The workflow is parsed and a first run
made (imports, the price catalog) before profiling starts, except for `parse`.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import podium_side
from workloads import Chain, FanOut

from podium.core.events import Event, EventType
from podium.core.store import MemoryStore, RunStore, SQLiteStore


def main(what: str, top: int = 30) -> None:
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        if what == "parse":
            text = podium_side.workflow_text(Chain(10_000))
            profiler.enable()
            podium_side.parse(text, file="bench.yaml", base_dir=podium_side.HERE, providers=["local"])
            profiler.disable()
        elif what == "resume":
            profile_resume(profiler, Path(tmp))
        elif what == "roundtrip":
            import cloud_roundtrip

            for kind, layers in cloud_roundtrip.breakdown().items():
                print(kind)
                for name, seconds in layers.items():
                    print(f"  {name:45} {seconds * 1000:.3f} ms/call")
            return
        elif what == "ablate":
            ablate()
            return
        elif what == "bedrock":
            import cloud_roundtrip

            cloud_roundtrip.profile(profiler, 200)
        else:
            workload = {"chain": Chain(1000), "durable": Chain(1000, "payload"), "fanout": FanOut(1000)}[what]
            store = SQLiteStore(Path(tmp) / "p.db") if what == "durable" else MemoryStore()
            podium_side.workflow(workload)
            asyncio.run(podium_side.run(workload, MemoryStore()))  # warm up: imports, price catalog
            gc.collect()
            gc.freeze()
            profiler.enable()
            asyncio.run(podium_side.run(workload, store))
            profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def profile_resume(profiler: cProfile.Profile, tmp: Path) -> None:
    workload = Chain(10_000, last="fail_once")
    wf = podium_side.workflow(workload)
    store = SQLiteStore(tmp / "r.db")
    engine = podium_side.engine(store)
    first = asyncio.run(engine.run(wf, {}))
    asyncio.run(podium_side.run(Chain(10), MemoryStore()))  # warm up: imports, price catalog
    gc.collect()
    gc.freeze()
    profiler.enable()
    asyncio.run(engine.resume(first.run_id, wf))
    profiler.disable()
    store.close()


class _KeepStore(MemoryStore):
    """MemoryStore without its JSON copy of each event (what the copy costs)."""

    def append(self, event: Event) -> None:
        if event.type is EventType.RUN_STARTED:
            super().append(event)
        else:
            self._events[event.run_id].append(event)


def ablate(repeat: int = 7) -> None:
    """The chain and the fan-out with parts of podium switched off: what each part costs per step."""
    from podium.core.engine import Engine
    from podium.core.replay import fold
    from podium.plugins.manager import load_plugins

    def without_cost() -> Any:
        pm = load_plugins(entry_points_too=False)
        pm.pm.unregister(name="podium.cost.plugin:CostPlugin")
        return pm

    variants: dict[str, tuple[Callable[[], Any], Callable[[], RunStore]]] = {
        "as shipped": (lambda: load_plugins(entry_points_too=False), MemoryStore),
        "without the cost plugin": (without_cost, MemoryStore),
        "without the cost plugin, events kept as objects": (without_cost, _KeepStore),
    }
    for workload in (Chain(1000), FanOut(1000)):
        wf = podium_side.workflow(workload)
        steps = len(wf.steps)
        best: dict[str, float] = {}
        for _ in range(repeat):
            for name, (plugins, store) in variants.items():
                engine = Engine(plugins=plugins(), store=store())
                gc.collect()
                gc.freeze()
                started = time.perf_counter()
                run = asyncio.run(_result(engine.run(wf, {})))
                took = time.perf_counter() - started
                gc.unfreeze()
                assert run.ok
                best[name] = min(best.get(name, took), took)
        print(f"{type(workload).__name__} of {steps} steps, best of {repeat}:")
        for name, took in best.items():
            print(f"  {name:50} {took * 1000:8.1f} ms  {took / steps * 1e6:6.1f} µs/step")
        store = MemoryStore()
        run = asyncio.run(_result(Engine(plugins=without_cost(), store=store).run(wf, {})))
        events = store.events(run.run_id)
        started = time.perf_counter()
        folded = fold(events, wf.steps)
        print(f"  fold of its {len(events)} events: {(time.perf_counter() - started) * 1000:.1f} ms")
        started = time.perf_counter()
        repr(folded)
        took = time.perf_counter() - started
        print(f"  repr(Run), which asyncio.run computes on exit: {took * 1000:.1f} ms")


async def _result(coro: Any) -> Any:
    """Await `coro`, its result boxed so that asyncio.run does not repr it on the way out."""
    return _Box(await coro)


class _Box:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.value, name)

    def __repr__(self) -> str:
        return "<boxed>"


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "chain")
