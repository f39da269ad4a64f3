"""No-op agents for the benchmarks: they measure podium, not a model."""

import asyncio


async def noop(prompt: str) -> str:
    return "ok"


async def sleep20(prompt: str) -> str:
    await asyncio.sleep(0.02)
    return "ok"


def payload(prompt: str) -> str:
    return "x" * 1024
