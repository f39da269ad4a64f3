"""The benchmark workloads, written once: each engine's adapter builds its own graph from these.

A workload names its agents by their function in `agents.py`; `podium_side.py` turns it into a
workflow file and `langgraph_side.py` into a StateGraph, so both run the same steps calling the same
coroutines.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import agents


@dataclass(frozen=True, slots=True)
class Chain:
    """`steps` steps in a line, each needing the one before; the last may call another agent."""

    steps: int
    agent: str = "noop"
    last: str | None = None  # e.g. "fail_once": the run stops at its last step, to be resumed

    def agent_of(self, index: int) -> str:
        return self.last if self.last is not None and index == self.steps - 1 else self.agent


@dataclass(frozen=True, slots=True)
class FanOut:
    """`branches` independent steps, then one step that needs them all."""

    branches: int
    agent: str = "sleep20"
    join: str = "noop"


async def floor(fan: FanOut) -> float:
    """The physical floor of a fan-out: its agents awaited with a bare asyncio.gather, then the join."""
    branch, join = getattr(agents, fan.agent), getattr(agents, fan.join)
    started = time.perf_counter()
    await asyncio.gather(*(branch("go") for _ in range(fan.branches)))
    await join("go")
    return time.perf_counter() - started
