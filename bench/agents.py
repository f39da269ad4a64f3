"""The agents every benchmark workload calls, on podium and on its peers alike: they measure the engine.

All but `noop_sync` are coroutines, so that neither engine hands them to a thread (benchmark 9 does).
podium calls them through its local provider (`function: 'agents:noop'`); the peers' nodes call the
same functions.
"""

import asyncio

PAYLOAD = "x" * 1024  # the 1 KB output of the durability benchmark


async def noop(prompt: str) -> str:
    return "ok"


def noop_sync(prompt: str) -> str:
    """The no-op as a plain function, as most users write an agent: podium hands it to a thread
    (benchmark 9), LangGraph's synchronous `invoke` calls it in place (benchmarks 1d and 9b)."""
    return "ok"


async def sleep20(prompt: str) -> str:
    await asyncio.sleep(0.02)
    return "ok"


async def sleep1s(prompt: str) -> str:
    await asyncio.sleep(1.0)
    return "ok"


async def payload(prompt: str) -> str:
    return PAYLOAD


_failed: set[str] = set()


async def fail_once(prompt: str, run_id: str = "") -> str:
    """Fails the first time it is called for a run, then succeeds: a run to resume at its last step."""
    if run_id not in _failed:
        _failed.add(run_id)
        raise RuntimeError("fails once, for the resume benchmark")
    return "ok"
