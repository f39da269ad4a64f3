"""podium's own benchmarks: engine overhead, durability cost, fan-out against the asyncio floor.

Every figure is a ratio against a baseline measured in the same run of this script, so the table
means the same on any machine. Writes bench/results.md. Peers (LangGraph) join in [bench].
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from podium.core.executor import Engine  # noqa: E402
from podium.core.loader import parse  # noqa: E402
from podium.core.store import MemoryStore, SQLiteStore  # noqa: E402
from podium.plugins.manager import build_plugin_manager  # noqa: E402


def chain(n: int, function: str) -> str:
    lines = [
        "name: chain",
        "defaults: {retry: {attempts: 1}, concurrency: 64}",
        f"agents: {{a: {{function: 'agents:{function}'}}}}",
        "steps:",
    ]
    lines.append("  s0: {agent: a, prompt: go}")
    lines += [f"  s{i}: {{agent: a, needs: [s{i - 1}], prompt: go}}" for i in range(1, n)]
    return "\n".join(lines)


def fan(n: int) -> str:
    lines = [
        "name: fan",
        f"defaults: {{retry: {{attempts: 1}}, concurrency: {n}}}",
        "agents: {a: {function: 'agents:sleep20'}}",
        "steps:",
    ]
    lines += [f"  b{i}: {{agent: a, prompt: go}}" for i in range(n)]
    lines.append(f"  join: {{agent: a, needs: [{', '.join(f'b{i}' for i in range(n))}], prompt: go}}")
    return "\n".join(lines)


async def timed_run(text: str, store: object) -> float:
    wf = parse(text, file="bench.yaml", base_dir=HERE, providers=["local"])
    engine = Engine(plugins=build_plugin_manager(entry_points_too=False), store=store)  # type: ignore[arg-type]
    started = time.perf_counter()
    run = await engine.run(wf, {})
    took = time.perf_counter() - started
    assert run.ok, run.error
    return took


async def timed_resume(n: int, db: Path) -> tuple[float, int]:
    """Run a chain whose last step fails once, then time the resume that finishes it."""
    text = chain(n, "noop").replace(f"  s{n - 1}: {{agent: a,", f"  s{n - 1}: {{agent: last,")
    text = text.replace("agents: {a:", "agents: {last: {function: 'agents:fail_once'}, a:")
    wf = parse(text, file="bench.yaml", base_dir=HERE, providers=["local"])
    store = SQLiteStore(db)
    engine = Engine(plugins=build_plugin_manager(entry_points_too=False), store=store)
    first = await engine.run(wf, {})
    assert first.status == "failed", first.status
    events = store.runs()[0].events
    started = time.perf_counter()
    resumed = await engine.resume(first.run_id, wf)
    took = time.perf_counter() - started
    assert resumed.ok, resumed.error
    store.close()
    return took, events


async def floor_fan(n: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(asyncio.sleep(0.02) for _ in range(n)))
    await asyncio.sleep(0.02)
    return time.perf_counter() - started


def best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    return min(asyncio.run(fn()) for _ in range(repeat))


def main() -> None:
    n = int(os.environ.get("BENCH_STEPS", "1000"))
    rows: list[tuple[str, str, str, str]] = []
    mem = best(lambda: timed_run(chain(n, "noop"), MemoryStore()))
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(100))
        sql = best(lambda: timed_run(chain(n, "noop"), SQLiteStore(Path(tmp) / f"{next(counter)}.db")))
        db = Path(tmp) / "size.db"
        store = SQLiteStore(db)
        asyncio.run(timed_run(chain(n, "payload"), store))
        store.close()  # the last connection checkpoints the WAL into the database file
        size = sum(p.stat().st_size for p in Path(tmp).glob("size.db*"))
    rows.append(
        (
            f"chain of {n} no-op steps, in-memory store",
            f"{mem / n * 1e6:.0f} µs/step",
            "baseline",
            "",
        )
    )
    rows.append(
        (
            f"chain of {n} no-op steps, SQLite store (durable)",
            f"{sql / n * 1e6:.0f} µs/step",
            f"{sql / mem:.2f}x in-memory",
            "aim: < 500 µs/step durable",
        )
    )
    rows.append((f"store bytes per step, 1 KB output ({n} steps)", f"{size / n:,.0f} B", "", ""))
    with tempfile.TemporaryDirectory() as tmp:
        per_step = []
        for steps in (10, 100, 1000):
            store = SQLiteStore(Path(tmp) / f"grow{steps}.db")
            asyncio.run(timed_run(chain(steps, "payload"), store))
            per_step.append(store.runs()[0].size_bytes / steps)
            store.close()
        rows.append(
            (
                "store bytes per step as a run grows (10 / 100 / 1000 steps, 1 KB output)",
                " / ".join(f"{b:,.0f} B" for b in per_step),
                f"{per_step[-1] / per_step[0]:.2f}x from 10 to 1000 steps",
                "must stay flat (1.0x): no state snapshots",
            )
        )
        resume_steps = 2500
        took, events = asyncio.run(timed_resume(resume_steps, Path(tmp) / "resume.db"))
        rows.append(
            (
                f"resume a {events:,}-event run at its last step ({resume_steps} steps)",
                f"{took * 1000:.0f} ms",
                f"{took / events * 1e6:.1f} µs per event replayed",
                "",
            )
        )
    fan_n = 1000
    floor = best(lambda: floor_fan(fan_n))
    wide = best(lambda: timed_run(fan(fan_n), MemoryStore()))
    rows.append(
        (
            f"fan-out {fan_n} x 20 ms then join",
            f"{wide * 1000:.0f} ms",
            f"{wide / floor:.2f}x asyncio.gather floor ({floor * 1000:.0f} ms)",
            "target ≤ 1.5x",
        )
    )
    table = ["| benchmark | podium | ratio | note |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    text = "# podium benchmarks\n\n" + f"Machine: {machine}.\n\n" + "\n".join(table) + "\n"
    (HERE / "results.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
