"""podium against LangGraph: engine overhead, fan-out, durability, resume, memory, start-up, cloud calls.

The workloads are written once (`workloads.py`, agents in `agents.py`) and built by each side's
adapter (`podium_side.py`, `langgraph_side.py`). Every figure is a ratio between numbers measured in
this run of this script, the sides interleaved (podium, peer, podium, peer, ...) and the best of
several repeats kept, so that a busy moment on the machine does not land on one side only. Writes
bench/results.md (with bench/findings.md appended). `run.py sync` and `run.py tick` run only the
rows of 9, or of 1, 2 and 9 (the per-event cost), and print them. `BENCH_QUICK=1` runs small sizes and writes
nothing: a smoke test of the script itself.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from itertools import count
from pathlib import Path
from typing import Any

import cloud_roundtrip
import langgraph_side
import otlp_live
import podium_side
import startup
from langgraph.checkpoint.memory import InMemorySaver
from workloads import Chain, FanOut, floor

from podium.core.store import MemoryStore, SQLiteStore

HERE = Path(__file__).resolve().parent
QUICK = os.environ.get("BENCH_QUICK") == "1"
STEPS = 200 if QUICK else 1000  # benchmarks 1 and 3
LONG = 1000 if QUICK else 10_000  # benchmarks 4 and 5
BRANCHES = 200 if QUICK else 1000  # benchmark 2
REPEAT = 2 if QUICK else 5
_ids = count()


@dataclass
class Row:
    benchmark: str
    podium: str
    peer: str
    ratio: str
    target: str = "—"
    met: str = "—"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def us(seconds: float, steps: int) -> str:
    return f"{seconds / steps * 1e6:,.0f} µs/step"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def fresh(tmp: Path, stem: str) -> Path:
    return tmp / f"{stem}-{next(_ids)}.db"


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


Timed = Callable[[], Awaitable[Any]]


async def best(sides: dict[str, Timed], repeat: int = REPEAT) -> dict[str, Any]:
    """Each side run once to warm up, then `repeat` times interleaved; the fastest run of each.

    A side returns its seconds, or (seconds, extra). Before each run the heap is collected and
    frozen (gc.freeze), so neither side's collections scan the other's objects or the harness's;
    each side's own garbage is collected as usual.
    """
    for run in sides.values():
        await run()
    fastest: dict[str, Any] = {}
    for _ in range(repeat):
        for name, run in sides.items():
            gc.collect()
            gc.freeze()
            try:
                result = await run()
            finally:
                gc.unfreeze()
            seconds = result[0] if isinstance(result, tuple) else result
            previous = fastest.get(name)
            if previous is None or seconds < (previous[0] if isinstance(previous, tuple) else previous):
                fastest[name] = result
    return fastest


# --- 1. per-step overhead ---------------------------------------------------------------------


async def per_step() -> list[Row]:
    chain = Chain(STEPS)
    podium_side.workflow(chain)
    dag, loop = langgraph_side.chain_graph(chain), langgraph_side.chain_graph(chain, shape="loop")
    saved = langgraph_side.chain_graph(chain, checkpointer=InMemorySaver())
    plain = langgraph_side.chain_graph(chain, sync=True)

    async def in_memory_saver() -> float:
        return await langgraph_side.run(saved, STEPS, durability="sync", thread=f"t{next(_ids)}")

    async def sync_invoke() -> float:
        return langgraph_side.run_sync(plain, STEPS)

    t = await best(
        {
            "podium": lambda: podium_side.run(chain, MemoryStore()),
            "dag": lambda: langgraph_side.run(dag, STEPS),
            "loop": lambda: langgraph_side.run(loop, STEPS),
            "saver": in_memory_saver,
            "sync": sync_invoke,
        }
    )
    p = t["podium"]
    name = f"1. per-step overhead: chain of {STEPS:,} no-op steps, no durability"
    return [
        Row(
            name,
            us(p, STEPS),
            f"{us(t['dag'], STEPS)} (no checkpointer)",
            ratio(p, t["dag"]),
            "≤ 1.0x (aim 0.5x)",
            verdict(p <= t["dag"]),
        ),
        Row(
            "1b. same, LangGraph as one node looping (a different graph: its cheapest way to run N steps)",
            us(p, STEPS),
            f"{us(t['loop'], STEPS)} (loop, no checkpointer)",
            ratio(p, t["loop"]),
        ),
        Row(
            "1c. same, both keeping the run's history in memory",
            us(p, STEPS),
            f"{us(t['saver'], STEPS)} (InMemorySaver, durability=sync)",
            ratio(p, t["saver"]),
        ),
        Row(
            "1d. same, LangGraph synchronous: `invoke`, plain-function nodes (podium's engine is async only)",
            us(p, STEPS),
            f"{us(t['sync'], STEPS)} (no checkpointer)",
            ratio(p, t["sync"]),
        ),
        Row(
            "1f. same, against issue 15's target for podium's own cost per step",
            us(p, STEPS),
            "—",
            "—",
            "≤ 50 µs/step",
            verdict(p / STEPS <= 50e-6),
        ),
    ]


# --- 2. fan-out -------------------------------------------------------------------------------


async def fan_out() -> list[Row]:
    fan = FanOut(BRANCHES)
    podium_side.workflow(fan)
    send, wide = langgraph_side.fan_graph(fan), langgraph_side.fan_graph(fan, style="wide")
    t = await best(
        {
            "floor": lambda: floor(fan),
            "podium": lambda: podium_side.run(fan, MemoryStore()),
            "send": lambda: langgraph_side.run(send, 3),
            "wide": lambda: langgraph_side.run(wide, 3),
        }
    )
    long = FanOut(BRANCHES, agent="sleep1s")
    podium_side.workflow(long)
    send_long = langgraph_side.fan_graph(long)
    slow = await best(
        {
            "floor": lambda: floor(long),
            "podium": lambda: podium_side.run(long, MemoryStore()),
            "send": lambda: langgraph_side.run(send_long, 3),
        },
        repeat=2,
    )
    p, f = t["podium"], t["floor"]
    name = f"2. fan-out: {BRANCHES:,} branches x 20 ms sleep, then a join"
    return [
        Row(
            name + " — against the floor",
            ms(p),
            f"floor (bare asyncio.gather): {ms(f)}",
            ratio(p, f),
            "≤ 1.5x floor",
            verdict(p <= 1.5 * f),
        ),
        Row(
            "2b. same — against LangGraph, Send API (map-reduce)",
            ms(p),
            f"{ms(t['send'])} ({ratio(t['send'], f)} floor)",
            ratio(p, t["send"]),
            "≤ 1.0x",
            verdict(p <= t["send"]),
        ),
        Row(
            "2c. same — against LangGraph, a wide static graph",
            ms(p),
            f"{ms(t['wide'])} ({ratio(t['wide'], f)} floor)",
            ratio(p, t["wide"]),
            "≤ 1.0x",
            verdict(p <= t["wide"]),
        ),
        Row(
            "2d. same with 1 s sleeps: podium's overhead is added to the floor, not multiplied",
            f"{ms(slow['podium'])} ({ratio(slow['podium'], slow['floor'])} floor)",
            f"Send API: {ms(slow['send'])} ({ratio(slow['send'], slow['floor'])} floor);"
            f" floor {ms(slow['floor'])}",
            ratio(slow["podium"], slow["send"]),
        ),
    ]


def fan_out_public(tmp: Path) -> list[Row]:
    """2e: the fan-out of 2 as users run it: `podium.run`, the default store (a new SQLite file)."""
    fan = FanOut(BRANCHES)
    podium_side.workflow(fan)
    t = best_sync(
        {
            "floor": lambda: asyncio.run(floor(fan)),
            "podium": lambda: podium_side.run_public(fan, fresh(tmp, "fan")),
        }
    )
    p, f = t["podium"], t["floor"]
    return [
        Row(
            "2e. same as 2 through `podium.run`, default store (SQLite, a new file), as users run it"
            " — against the floor",
            ms(p),
            f"floor (bare asyncio.gather): {ms(f)}",
            ratio(p, f),
            "≤ 1.5x floor",
            verdict(p <= 1.5 * f),
        )
    ]


# --- 3. durability ----------------------------------------------------------------------------


def _langgraph_rows(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        checkpoints = db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
        writes = db.execute("SELECT COUNT(*) FROM writes").fetchone()[0]
    return checkpoints, writes


async def durability(tmp: Path, details: dict[str, Any]) -> list[Row]:
    chain = Chain(STEPS, agent="payload")
    podium_side.workflow(chain)

    def on_podium(synchronous: str) -> Timed:
        async def run() -> tuple[float, int]:
            path = fresh(tmp, "podium")
            store = SQLiteStore(path, synchronous=synchronous)
            took = await podium_side.run(chain, store)
            details["podium_events"] = store.last_seq(store.runs()[0].run_id)
            store.close()  # the last connection checkpoints the WAL into the database file
            return took, db_bytes(path)

        return run

    def on_langgraph(synchronous: str, shape: str = "dag", keep: str = "last") -> Timed:
        async def run() -> tuple[float, int]:
            path = fresh(tmp, "langgraph")
            async with langgraph_side.sqlite_saver(path, synchronous) as saver:
                graph = langgraph_side.chain_graph(chain, shape=shape, keep=keep, checkpointer=saver)  # type: ignore[arg-type]
                took = await langgraph_side.run(graph, STEPS, durability="sync")
            details[f"langgraph_{shape}_{keep}_rows"] = _langgraph_rows(path)
            return took, db_bytes(path)

        return run

    normal = await best({"podium": on_podium("NORMAL"), "langgraph": on_langgraph("NORMAL")})
    loop = await best({"podium": on_podium("NORMAL"), "langgraph": on_langgraph("NORMAL", "loop")}, 3)
    details["langgraph_bytes"] = (normal["langgraph"][1], loop["langgraph"][1])
    full = await best({"podium": on_podium("FULL"), "langgraph": on_langgraph("FULL")}, 2)
    keep_all = await best({"podium": on_podium("NORMAL"), "langgraph": on_langgraph("NORMAL", keep="all")}, 1)
    name = f"3. durability: chain of {STEPS:,} steps, 1 KB output each, SQLite"
    rows = []
    for label, t in (
        (name + " (both WAL, synchronous=NORMAL)", normal),
        ("3b. same, both synchronous=FULL (LangGraph's default)", full),
        ("3c. same as 3, LangGraph's state keeping every step's output (as podium does)", keep_all),
        ("3d. same as 3, LangGraph as one node looping (a different graph, its cheapest)", loop),
    ):
        (pt, pb), (lt, lb) = t["podium"], t["langgraph"]
        rows.append(
            Row(
                label,
                f"{us(pt, STEPS)}, {pb / STEPS:,.0f} B/step",
                f"{us(lt, STEPS)}, {lb / STEPS:,.0f} B/step",
                f"{ratio(pt, lt)} time, {ratio(pb, lb)} bytes",
                "≤ 0.5x both",
                verdict(pt <= 0.5 * lt and pb <= 0.5 * lb),
            )
        )
    return rows


# --- 4 and 5. resume and memory of a long run, each in a process of its own --------------------


def long_run(side: str, config: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "long_run.py"), side, config, str(LONG)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def long_runs(details: dict[str, Any]) -> list[Row]:
    runs = {
        key: long_run(*key)
        for key in (
            ("podium", "resume"),
            ("langgraph", "resume-dag"),
            ("langgraph", "resume-loop"),
            ("podium", "memory"),
            ("langgraph", "none"),
        )
    }
    details["long"] = {f"{s} {c}": v for (s, c), v in runs.items()}
    p = runs["podium", "resume"]
    dag, loop = runs["langgraph", "resume-dag"], runs["langgraph", "resume-loop"]
    rows = [
        Row(
            f"4. resume a {LONG:,}-step run at its last step (SQLite)",
            f"{ms(p['resume_s'])} ({p['resume_s'] / p['events'] * 1e6:.1f} µs per event of {p['events']:,})",
            f"{ms(dag['resume_s'])} (same graph, durability=exit)",
            ratio(p["resume_s"], dag["resume_s"]),
            "≤ 70 ms (≤ 2x LangGraph)",
            verdict(p["resume_s"] <= 0.070),
        ),
        Row(
            "4b. same, LangGraph as one node looping, a checkpoint per step (durability=sync)",
            ms(p["resume_s"]),
            f"{ms(loop['resume_s'])} ({loop['checkpoints']:,} checkpoints)",
            ratio(p["resume_s"], loop["resume_s"]),
        ),
    ]

    pm, ln = runs["podium", "memory"], runs["langgraph", "none"]
    rows.insert(
        0,
        Row(
            f"1e. per-step overhead at {LONG:,} steps (the runs of 5, one each)",
            us(pm["run_s"], LONG),
            f"{us(ln['run_s'], LONG)} (no checkpointer)",
            ratio(pm["run_s"], ln["run_s"]),
        ),
    )
    rows.append(
        Row(
            f"4c. loading the {LONG:,}-step workflow, before the run (not in any time above)",
            f"{ms(pm['load_s'])} (parse and check the workflow file)",
            f"{ms(ln['load_s'])} (build and compile the StateGraph)",
            ratio(pm["load_s"], ln["load_s"]),
            "≤ 500 ms",
            verdict(pm["load_s"] <= 0.5),
        )
    )

    def growth(r: dict[str, Any]) -> str:
        return f"{mib(r['peak'])} (run: +{mib(r['peak'] - r['imported'])})"

    def peaks(a: dict[str, Any], b: dict[str, Any]) -> str:
        grown = ratio(a["peak"] - a["imported"], b["peak"] - b["imported"])
        return f"{ratio(a['peak'], b['peak'])} peak, {grown} run"

    rows += [
        Row(
            f"5. peak RSS of a {LONG:,}-step run, no durability (own process each)",
            growth(pm),
            growth(ln) + ", no checkpointer",
            peaks(pm, ln),
            "≤ 0.6x peak",
            verdict(pm["peak"] <= 0.6 * ln["peak"]),
        ),
        Row(
            "5b. same, durable: the runs of 4 (first run + resume)",
            growth(p),
            growth(dag) + ", durability=exit",
            peaks(p, dag),
            "≤ 0.6x peak",
            verdict(p["peak"] <= 0.6 * dag["peak"]),
        ),
    ]
    return rows


# --- 9. sync agents: plain `def` functions, as most users write an agent ---------------------------

DURABLE = 100 if QUICK else 300  # benchmark 9b: the 300-step durable chain


def best_sync(sides: dict[str, Callable[[], float]], repeat: int = REPEAT) -> dict[str, float]:
    """`best` for sides that are plain calls (`podium.run` starts its own loop, `invoke` needs none)."""
    for run in sides.values():
        run()
    fastest: dict[str, float] = {}
    for _ in range(repeat):
        for name, run in sides.items():
            gc.collect()
            gc.freeze()
            try:
                seconds = run()
            finally:
                gc.unfreeze()
            fastest[name] = min(seconds, fastest.get(name, seconds))
    return fastest


async def sync_chain() -> dict[str, float]:
    """Row 9 in this process: seconds, best of `REPEAT`, of each chain in memory."""
    sync, coro = Chain(STEPS, agent="noop_sync"), Chain(STEPS)
    podium_side.workflow(sync), podium_side.workflow(coro)
    return await best(
        {
            "sync": lambda: podium_side.run(sync, MemoryStore()),
            "async": lambda: podium_side.run(coro, MemoryStore()),
        }
    )


def sync_durable(tmp: Path) -> dict[str, float]:
    """Rows 9b-9d in this process: seconds, best of `REPEAT`, of each durable chain."""
    sync, coro = Chain(DURABLE, agent="noop_sync"), Chain(DURABLE)
    podium_side.workflow(sync), podium_side.workflow(coro)
    plain = Chain(DURABLE)  # LangGraph's plain-function nodes call `noop_sync` (`chain_graph(sync=True)`)

    def on_langgraph() -> float:
        with langgraph_side.sqlite_saver_sync(fresh(tmp, "langgraph"), "NORMAL") as saver:
            graph = langgraph_side.chain_graph(plain, sync=True, checkpointer=saver)
            return langgraph_side.run_sync(graph, DURABLE, durability="sync", thread=f"t{next(_ids)}")

    return best_sync(
        {
            "sync": lambda: podium_side.run_public(sync, fresh(tmp, "podium")),
            "async": lambda: podium_side.run_public(coro, fresh(tmp, "podium")),
            "langgraph": on_langgraph,
        }
    )


# Each of the rows of 9 is measured in several fresh processes, and the median process reported
# with the range: a plain function's call is a hand-off between the loop's thread and a pool
# thread, and what that costs depends on where the kernel puts the two threads (one vCPU, or two
# with the other idle: ~10 against ~90 µs a round trip on a 2-vCPU VM; see findings, "9, 9b, 9d,
# third round"), which one process draws for all its repeats. One process decided the row before.
SYNC_PROCESSES = 2 if QUICK else 5


def sync_process() -> dict[str, float]:
    """One process's figures for 9-9d (`run.py sync-process` prints them as JSON, for `sync_agents`)."""
    times = {f"9 {k}": v for k, v in asyncio.run(sync_chain()).items()}
    with tempfile.TemporaryDirectory() as tmp:
        times.update({f"9b {k}": v for k, v in sync_durable(Path(tmp)).items()})
    return times


def spread(values: list[float], steps: int) -> str:
    """The median of the processes' figures, µs a step, with their range."""
    low, mid, high = (v / steps * 1e6 for v in (min(values), statistics.median(values), max(values)))
    return f"{mid:,.0f} µs/step (median of {len(values)} processes; {low:,.0f} to {high:,.0f})"


def ratios(a: list[float], b: list[float]) -> tuple[float, str]:
    """The median of the per-process ratios a/b (each process times both sides interleaved), and
    it as text with their range."""
    each = [x / y for x, y in zip(a, b, strict=True)]
    mid = statistics.median(each)
    return mid, f"{mid:.2f}x ({min(each):.2f}x to {max(each):.2f}x)"


def sync_rows(runs: list[dict[str, float]]) -> list[Row]:
    """The rows of 9 from the figures of several processes."""

    def of(key: str) -> list[float]:
        return [run[key] for run in runs]

    in_memory, in_memory_text = ratios(of("9 sync"), of("9 async"))
    durable, durable_text = ratios(of("9b sync"), of("9b langgraph"))
    _, async_text = ratios(of("9b async"), of("9b langgraph"))
    sync_async, sync_async_text = ratios(of("9b sync"), of("9b async"))
    lg = spread(of("9b langgraph"), DURABLE)
    saver = f"{lg} (SqliteSaver, `invoke`, plain-function nodes, durability=sync)"
    name = f"9b. durable chain of {DURABLE:,} plain `def` no-ops through `podium.run`, default store (SQLite)"
    return [
        Row(
            f"9. sync agents: chain of {STEPS:,} plain `def` no-ops, in memory (`Engine.run`)",
            spread(of("9 sync"), STEPS),
            f"same chain of `async def` no-ops: {spread(of('9 async'), STEPS)}",
            in_memory_text,
            "≤ 1.2x",
            verdict(in_memory <= 1.2),
        ),
        Row(name, spread(of("9b sync"), DURABLE), saver, durable_text, "≤ 0.3x", verdict(durable <= 0.3)),
        Row(
            "9c. same chain of `async def` no-ops through `podium.run`: the public API's durable chain",
            spread(of("9b async"), DURABLE),
            saver,
            async_text,
        ),
        Row(
            "9d. 9b against 9c: a plain `def` agent against an `async def` one, through `podium.run`",
            spread(of("9b sync"), DURABLE),
            spread(of("9b async"), DURABLE),
            sync_async_text,
            "≤ 1.2x",
            verdict(sync_async <= 1.2),
        ),
    ]


# --- 6. start-up ------------------------------------------------------------------------------


def start_up() -> list[Row]:
    t = startup.times(5 if QUICK else 15)
    bare, helps = t["bare"], t["podium --help"]
    limit = 2 * bare + 0.150
    modules = startup.cloud_modules()
    loaded = sorted({m for names in modules.values() for m in names})
    return [
        Row(
            "6. start-up: `import podium` (python -c)",
            ms(t["import podium"]),
            f"`from langgraph.graph import StateGraph`: {ms(t['langgraph'])}",
            f"{ratio(t['import podium'], t['langgraph'])}; vs bare python ({ms(bare)}):"
            f" {ratio(t['import podium'], bare)}",
        ),
        Row(
            "6b. start-up: `import podium` and its engine (`podium.arun`)",
            ms(t["podium engine"]),
            f"`from langgraph.graph import StateGraph`: {ms(t['langgraph'])}",
            ratio(t["podium engine"], t["langgraph"]),
        ),
        Row(
            "6c. start-up: `podium --help`",
            ms(helps),
            f"bare python: {ms(bare)} (LangGraph has no CLI of its own)",
            ratio(helps, bare),
            f"< 2x bare + 150 ms = {ms(limit)}",
            verdict(helps < limit),
        ),
        Row(
            "6d. cloud SDK modules loaded by `import podium` and `podium --help`",
            ", ".join(loaded) or "none",
            "—",
            "—",
            "none",
            verdict(not loaded),
        ),
    ]


# --- 8. live OTLP export --------------------------------------------------------------------------


async def live_otlp(tmp: Path) -> list[Row]:
    chain = Chain(STEPS)
    podium_side.workflow(chain)
    url, proc = otlp_live.collector()
    dead = otlp_live.dead_endpoint()
    closes: dict[str, list[float]] = {"up": [], "dead": []}
    sent: dict[str, list[tuple[int, int]]] = {"up": [], "dead": []}
    kinds = ("in-process", "follower", "follower-dead")
    times: dict[str, dict[str, list[float]]] = {k: {"start": [], "close": []} for k in ("none", *kinds)}
    counts: dict[str, list[tuple[int, int]]] = {k: [] for k in ("none", *kinds)}

    def sqlite(kind: str) -> Timed:
        how = "follower" if kind.startswith("follower") else kind
        return otlp_live.sqlite_runner(
            chain, tmp, how, dead if kind.endswith("dead") else url, times[kind], counts[kind]
        )  # type: ignore[arg-type]

    try:
        t = await best(
            {
                "without": otlp_live.runner(chain, None, [], []),
                "up": otlp_live.runner(chain, url, closes["up"], sent["up"]),
                "dead": otlp_live.runner(chain, dead, closes["dead"], sent["dead"]),
            }
        )
        # into SQLite: the baseline and each export interleaved, best of REPEAT
        s = await best({kind: sqlite(kind) for kind in ("none", *kinds)})
    finally:
        proc.terminate()
    base = t["without"]
    # every run's spans reach a collector that is up, and none one that is down
    up_ok = all(d == 0 for _, d in sent["up"])
    dead_ok = all(s == 0 for s, _ in sent["dead"])
    name = f"8. live OTLP export (LiveExport, OTLP/HTTP): chain of {STEPS:,} no-op steps, in memory"
    rows = [
        Row(
            name + ", collector up (its own process on 127.0.0.1)",
            f"{us(t['up'], STEPS)}; close {ms(max(closes['up']))}; {sent['up'][-1][0]:,} spans sent"
            + ("" if up_ok else " (**some dropped**)"),
            f"same run without export: {us(base, STEPS)}",
            ratio(t["up"], base),
            "≤ 1.10x",
            verdict(t["up"] <= 1.10 * base),
        ),
        Row(
            "8b. same, collector down (a port nothing listens on): spans dropped, told once",
            f"{us(t['dead'], STEPS)}; close {ms(max(closes['dead']))}; {sent['dead'][-1][1]:,} spans dropped"
            + ("" if dead_ok else " (**some sent?**)"),
            f"same run without export: {us(base, STEPS)}",
            ratio(t["dead"], base),
            "≤ 1.10x",
            verdict(t["dead"] <= 1.10 * base),
        ),
    ]
    spans = sent["up"][-1][0]  # what a whole run's export sends
    sbase = s["none"]
    labels = {
        "in-process": "8c. into SQLite (as `podium run`), LiveExport in the run's process, collector up",
        "follower": "8d. into SQLite, FollowExport: a follower process tails the store, collector up",
        "follower-dead": "8e. into SQLite, FollowExport, collector down: spans dropped, told once",
    }
    for kind in kinds:
        got = counts[kind]
        if kind.endswith("dead"):
            tally = f"{got[-1][1]:,} spans dropped" + (
                "" if all(x == 0 for x, _ in got) else " (**some sent?**)"
            )
        else:
            tally = f"{got[-1][0]:,} spans sent" + (
                "" if all(x == spans for x, _ in got) else " (**some lost**)"
            )
        start = f"start {ms(max(times[kind]['start']))}; " if times[kind]["start"] else ""
        rows.append(
            Row(
                labels[kind],
                f"{us(s[kind], STEPS)}; {start}close {ms(max(times[kind]['close']))}; {tally}",
                f"same run into SQLite without export: {us(sbase, STEPS)}",
                ratio(s[kind], sbase),
                "≤ 1.10x",
                verdict(s[kind] <= 1.10 * sbase),
            )
        )
    return rows


# --- 7. emulator round-trip -------------------------------------------------------------------


def emulator_round_trip() -> list[Row]:
    why = cloud_roundtrip.available()
    if why is not None:
        return [Row("7. emulator round-trip", why, "—", "—", "≤ 1.1x", "—")]
    calls = 50 if QUICK else 200
    t = cloud_roundtrip.measure(calls, 3 if QUICK else 5)
    rows = []
    for key, label in (
        ("converse", f"7. emulator round-trip: a step bound to Bedrock Converse ({calls} calls)"),
        ("invoke_agent", f"7b. same, a step bound to a managed Bedrock agent, InvokeAgent ({calls} calls)"),
    ):
        p, direct = t[key]
        rows.append(
            Row(
                label,
                f"{ms(p)}/call",
                f"boto3 directly: {ms(direct)}/call (LangGraph: no managed-agent binding, no emulator)",
                ratio(p, direct),
                "≤ 1.1x",
                verdict(p <= 1.1 * direct),
            )
        )
    return rows


# --- the report -------------------------------------------------------------------------------


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
        memory = f", {mem / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        memory = ""
    names = (
        "podium",
        "langgraph",
        "langgraph-checkpoint",
        "langgraph-checkpoint-sqlite",
        "aiosqlite",
        "boto3",
    )
    libs = ", ".join(f"{n} {_version(n)}" for n in names)
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; {libs}"
    )


WHAT = """\
## What each side does

- **Both**: the same workloads (`workloads.py`) calling the same coroutines (`agents.py`: a no-op
  returning "ok", a 20 ms `asyncio.sleep`, a 1 KB string, one that fails once). podium runs a workflow
  file (`podium_side.py`: one step per node, `needs:` the step before, the local provider's python
  function agent) through `Engine.run`; LangGraph runs a `StateGraph` (`langgraph_side.py`: one node per
  step, an edge from the node before) through `ainvoke`. Parsing the workflow file and compiling the
  graph are done before the clock starts. Times are the best of {repeat} interleaved runs, after a
  warm-up run of each; the heap is collected and frozen before each run.
- **podium always writes events**: per step StepStarted, CallStarted, CallFinished and StepSucceeded
  ({podium_events} events for {steps} steps, with RunStarted/RunFinished), each JSON-encoded and passed
  to the `podium_event` hook (the built-in cost ledger reads it) before the run goes on; the step's
  output is stored once, in CallFinished. With `MemoryStore` (1, 2, 5) the events are kept as their
  JSON text for the run's life; with `SQLiteStore` (3, 4) the events of one loop turn are one
  committed transaction (WAL, `synchronous=NORMAL` by default: survives a killed process, not a
  power cut), durable before anything acts on them (a chain commits about three a step: CallStarted
  before the call, CallFinished before its step's success, StepSucceeded before the next step), and
  at the run's end the cost plugin writes its ledger rows into the same database (counted in 3's
  bytes). A run's result is a fold over its events.
- **LangGraph, no checkpointer** (1, 2, 5): channel updates per superstep, nothing saved; the state is
  one channel each node overwrites (`last`), its cheapest. **InMemorySaver** (1c): every superstep's
  checkpoint and every task's writes kept in memory. **SQLite** (3, 4): `AsyncSqliteSaver` (aiosqlite;
  it turns on WAL; `synchronous` set on its connection to match podium, or left at SQLite's FULL in
  3b) with `durability="sync"`: each superstep's checkpoint is committed before the next superstep
  starts (podium's guarantee; LangGraph's default, "async", writes it while the next step runs). A
  checkpoint holds every channel's value and version and the versions each node has seen, so in a
  graph of N distinct nodes it grows with the nodes run so far: {lg_rows}.
- **Fan-out** (2): podium: {branches} steps with no `needs:` (`concurrency: {concurrency}`), then a join that
  needs them all. LangGraph: 2b the Send API (a conditional edge from START returning one
  `Send("branch", ...)` per branch, a reducer collecting the results, an edge to the join): what its
  documentation shows for map-reduce; 2c a wide graph of {branches} nodes with edges from START and one
  waiting edge to the join. Floor: `asyncio.gather` of the same coroutines, then the join's. 2d: the
  same with 1 s sleeps, best of 2. 2e: the same workflow through `podium.run` as a script calls it
  (a new SQLite file each time, its plugins loaded, its loop started: all in the time), against the
  same floor.
- **Resume** (4): a chain whose last step fails once. podium: `Engine.resume` (take the lease, load
  the snapshot of its fold the failed run saved where it stopped, fold the events after it, run the
  last step, fold the events it wrote for the result). The first run's time to save the snapshot
  is not in 4 (it is part of that run, as LangGraph's checkpoint writes are part of its first run).
  LangGraph: `ainvoke(None, config)` on the same thread, which loads the latest checkpoint and its
  pending writes and re-runs the failed task. With a checkpoint per step, a {long}-node graph would
  write gigabytes (3 shows the growth), so the same graph runs with `durability="exit"` (one
  checkpoint, at the failure); 4b runs the loop shape with a checkpoint per step.
- **Memory** (5): each run in a fresh process (`long_run.py`); peak RSS is the process's VmHWM
  (Linux's `getrusage().ru_maxrss` carries the launching process's high-water mark across fork and
  exec, so in a child it reports at least the harness's size);
  "run" is the peak's growth over the process's RSS after its imports (podium's includes parsing the
  {long}-step workflow file; LangGraph's building and compiling the graph).
- **Start-up** (6): fresh interpreters from spawn to exit, best of {startup_repeat}. Cloud SDK modules:
  `sys.modules` after `import podium` and after `podium --help`, searched for {sdks}.
- **Live OTLP export** (8): `otlp_live.py`: the chain of 1 with and without a `LiveExport`
  plugin (each event folded into spans, the spans it ended queued for the SDK's
  `BatchSpanProcessor`, whose thread posts them); the collector is a receiver in a process of its
  own on 127.0.0.1 (8) or a port nothing listens on (8b). 8c to 8e run the same chain into a fresh
  SQLite store each time (WAL, the store's defaults), as `podium run` does, against the same chain
  into SQLite without export, all interleaved: `LiveExport` in the run's process (8c), or a
  `FollowExport` follower process that tails the store and sends from there (8d; 8e to a dead
  collector). Starting the follower (before the run) and closing the export (sending what is still
  queued; for the follower, its reading the last events and exiting) are timed apart.
- **Emulator round-trip** (7): see `cloud_roundtrip.py`: podium's Bedrock emulator on 127.0.0.1 in
  this process; podium runs a chain of steps bound to Bedrock (in-memory store) with its default
  settings (`transport: loop`: Converse and InvokeAgent on the event loop), the baseline makes the
  provider's boto3 call directly in a loop. `cloud_roundtrip.py 200 [--remote]` compares both
  transports, with the emulator in this process or in a child process (as a real cloud is).
- **Sync agents** (9-9d): the chain of 1 and the durable chain of 9b with `noop_sync`, a plain
  `def`, against the same chains of `async def` no-ops (and, in 9b, LangGraph + SqliteSaver with
  plain-function nodes). Each is timed in {sync_processes} fresh processes, one after another,
  each the best of {repeat} interleaved; a figure is the median process with the range, a ratio the
  median of the processes' own ratios. A plain function is handed to a pool thread, and what the
  hand-off costs depends on where the kernel puts the two threads, drawn per process.
"""


def _number(row: Row) -> int:
    digits = "".join(ch for ch in row.benchmark.split(".")[0] if ch.isdigit())
    return int(digits or 0)


def write(rows: list[Row], details: dict[str, Any], took: float, loads: tuple[str, str]) -> str:
    rows = sorted(rows, key=_number)  # stable: 1e (measured with 5) goes after 1d
    table = [
        "| benchmark | podium | peer | ratio (podium / peer) | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    table += [f"| {r.benchmark} | {r.podium} | {r.peer} | {r.ratio} | {r.target} | {r.met} |" for r in rows]
    dag = details.get("langgraph_dag_last_rows", (0, 0))
    loop = details.get("langgraph_loop_last_rows", (0, 0))
    dag_bytes, loop_bytes = details.get("langgraph_bytes", (0, 0))
    per_dag, per_loop = dag_bytes / max(dag[0], 1) / 1024, loop_bytes / max(loop[0], 1) / 1024
    lg_rows = (
        f"in 3, {dag[0]:,} checkpoints and {dag[1]:,} writes take {per_dag:,.0f} KiB a checkpoint for"
        f" {STEPS:,} nodes, against {per_loop:,.1f} KiB in the loop shape (3d)"
    )
    what = WHAT.format(
        repeat=REPEAT,
        podium_events=f"{details.get('podium_events', 0):,}",
        steps=f"{STEPS:,}",
        lg_rows=lg_rows,
        branches=f"{BRANCHES:,}",
        concurrency=BRANCHES,
        long=f"{LONG:,}",
        startup_repeat=5 if QUICK else 15,
        sdks=", ".join(startup.CLOUD_SDKS),
        sync_processes=SYNC_PROCESSES,
    )
    long = "\n".join(f"- {k}: `{json.dumps(v)}`" for k, v in details.get("long", {}).items())
    text = (
        "# podium against LangGraph\n\n"
        "Written by `make bench` (bench/run.py). Ratios are podium / peer, both measured in this run;"
        " below 1 is podium ahead.\n\n"
        f"Machine: {machine()}.\n\n"
        f"This run: {took:.0f} s; load average {loads[0]} at the start, {loads[1]} at the end"
        " (other work on the machine shows here).\n\n" + "\n".join(table) + "\n\n" + what + "\n"
        "Raw figures of the long runs (KiB, seconds):\n\n" + long + "\n"
    )
    findings = HERE / "findings.md"
    if findings.exists():
        text += "\n" + findings.read_text(encoding="utf-8")
    return text


def tick_rows() -> list[Row]:
    """The rows of the per-event cost (`run.py tick` runs only these and prints them): 1, 2, 2e, 9."""
    rows = asyncio.run(per_step()) + asyncio.run(fan_out())
    with tempfile.TemporaryDirectory() as tmp:
        rows += fan_out_public(Path(tmp))
    return rows + sync_agents()


def sync_agents() -> list[Row]:
    """The rows of benchmark 9 (`run.py sync` runs only these and prints them), each measured in
    `SYNC_PROCESSES` fresh processes one after another."""
    runs = []
    for _ in range(SYNC_PROCESSES):
        done = subprocess.run(
            [sys.executable, str(HERE / "run.py"), "sync-process"], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return sync_rows(runs)


def main() -> None:
    if sys.argv[1:] == ["sync-process"]:
        print(json.dumps(sync_process()))
        return
    if sys.argv[1:] in (["sync"], ["tick"]):
        for row in sync_agents() if sys.argv[1:] == ["sync"] else tick_rows():
            print(f"| {row.benchmark} | {row.podium} | {row.peer} | {row.ratio} | {row.target} | {row.met} |")
        return
    started = time.perf_counter()
    loads = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    details: dict[str, Any] = {}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for section in (per_step, fan_out):
            print(f"[bench] {section.__name__}", flush=True)
            rows += asyncio.run(section())
        rows += fan_out_public(Path(tmp))
        print("[bench] durability", flush=True)
        rows += asyncio.run(durability(Path(tmp), details))
    print("[bench] resume and memory, each in a process of its own", flush=True)
    rows += long_runs(details)
    print("[bench] start-up", flush=True)
    rows += start_up()
    print("[bench] emulator round-trip", flush=True)
    rows += emulator_round_trip()
    print("[bench] live OTLP export", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        rows += asyncio.run(live_otlp(Path(tmp)))
    print("[bench] sync agents", flush=True)
    rows += sync_agents()
    took = time.perf_counter() - started
    end_loads = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    text = write(rows, details, took, (loads, end_loads))
    if not QUICK:
        (HERE / "results.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
