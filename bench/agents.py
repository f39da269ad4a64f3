"""No-op agents for the benchmarks: they measure podium, not a model."""

import asyncio


async def noop(prompt: str) -> str:
    return "ok"


async def sleep20(prompt: str) -> str:
    await asyncio.sleep(0.02)
    return "ok"


def payload(prompt: str) -> str:
    return "x" * 1024


_failed: set[str] = set()


async def fail_once(prompt: str, run_id: str) -> str:
    """Fails the first time it is called in a run, then succeeds: a run to resume at its end."""
    if run_id not in _failed:
        _failed.add(run_id)
        raise RuntimeError("fails once, for the resume benchmark")
    return "ok"
