"""The workloads on LangGraph: a StateGraph per workload, as a LangGraph user would write it.

A chain is a graph of one node per step, each with an edge from the one before (`shape="dag"`, the
same graph as podium's), or one node that loops back to itself until it has run `steps` times
(`shape="loop"`, LangGraph's cheapest way to run many steps; a different graph, reported apart). A
fan-out is the Send API's map-reduce (`style="send"`, what LangGraph's documentation shows for a
dynamic fan-out) or a wide static graph (`style="wide"`). Every node awaits the workload's coroutine
from `agents.py` and writes its reply to the state.
"""

from __future__ import annotations

import inspect
import operator
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import agents
import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Durability, Send
from workloads import Chain, FanOut

Shape = Literal["dag", "loop"]
Keep = Literal["last", "all"]


def _merge(left: dict[str, str], right: dict[str, str]) -> dict[str, str]:
    return {**left, **right}


class LastOutput(TypedDict, total=False):
    """State with one channel that each step overwrites: LangGraph's cheapest state."""

    last: str
    done: int  # steps done, for the loop shape


class AllOutputs(TypedDict, total=False):
    """State that keeps every step's output, as podium's `steps.<id>.output` does."""

    outputs: Annotated[dict[str, str], _merge]


class FanState(TypedDict, total=False):
    results: Annotated[list[str], operator.add]
    joined: str


class BranchInput(TypedDict):
    index: int


def _agent(name: str) -> Callable[[RunnableConfig], Awaitable[str]]:
    """Call agent `name` as podium does: with the prompt, and the run's id if it asks for one."""
    fn = getattr(agents, name)
    if "run_id" in inspect.signature(fn).parameters:
        return lambda config: fn("go", run_id=config["configurable"].get("thread_id", ""))
    return lambda config: fn("go")


def chain_graph(
    chain: Chain, *, shape: Shape = "dag", keep: Keep = "last", checkpointer: Any = None, sync: bool = False
) -> Any:
    """The compiled graph of `chain`; with `sync`, plain-function nodes calling `<agent>_sync`."""
    if shape == "loop":
        assert keep == "last", "the loop shape keeps the last output only"
        calls = {name: _agent(name) for name in {chain.agent, chain.last or chain.agent}}

        async def step(state: LastOutput, config: RunnableConfig) -> LastOutput:
            done = state.get("done", 0)
            return {"last": await calls[chain.agent_of(done)](config), "done": done + 1}

        def again(state: LastOutput) -> str:
            return END if state["done"] >= chain.steps else "step"

        loop = StateGraph(LastOutput)
        loop.add_node("step", step)
        loop.add_edge(START, "step")
        loop.add_conditional_edges("step", again, ["step", END])
        return loop.compile(checkpointer=checkpointer)

    def node(index: int) -> Callable[..., Any]:
        if sync:
            fn = getattr(agents, chain.agent_of(index) + "_sync")

            def keep_last_sync(state: LastOutput) -> LastOutput:
                return {"last": fn("go")}

            return keep_last_sync
        call, sid = _agent(chain.agent_of(index)), f"s{index}"
        if keep == "all":

            async def keep_all(state: AllOutputs, config: RunnableConfig) -> AllOutputs:
                return {"outputs": {sid: await call(config)}}

            return keep_all

        async def keep_last(state: LastOutput, config: RunnableConfig) -> LastOutput:
            return {"last": await call(config)}

        return keep_last

    graph = StateGraph(AllOutputs if keep == "all" else LastOutput)
    previous = START
    for i in range(chain.steps):
        graph.add_node(f"s{i}", node(i))
        graph.add_edge(previous, f"s{i}")
        previous = f"s{i}"
    graph.add_edge(previous, END)
    return graph.compile(checkpointer=checkpointer)


def fan_graph(fan: FanOut, *, style: Literal["send", "wide"] = "send", checkpointer: Any = None) -> Any:
    """The compiled graph of `fan`."""
    branch_fn, join_fn = getattr(agents, fan.agent), getattr(agents, fan.join)

    async def branch(state: BranchInput) -> FanState:
        return {"results": [await branch_fn("go")]}

    async def join(state: FanState) -> FanState:
        assert len(state["results"]) == fan.branches
        return {"joined": await join_fn("go")}

    graph = StateGraph(FanState)
    graph.add_node("join", join)
    if style == "send":

        def scatter(state: FanState) -> list[Send]:
            return [Send("branch", {"index": i}) for i in range(fan.branches)]

        graph.add_node("branch", branch)
        graph.add_conditional_edges(START, scatter, ["branch"])
        graph.add_edge("branch", "join")
    else:
        names = [f"b{i}" for i in range(fan.branches)]
        for name in names:
            graph.add_node(name, branch)  # type: ignore[arg-type]
            graph.add_edge(START, name)
        graph.add_edge(names, "join")
    graph.add_edge("join", END)
    return graph.compile(checkpointer=checkpointer)


def config(steps: int, thread: str = "bench") -> RunnableConfig:
    return {"recursion_limit": steps + 10, "configurable": {"thread_id": thread}}


async def run(
    graph: Any, steps: int, *, durability: Durability | None = None, thread: str = "bench"
) -> float:
    """Seconds for `graph.ainvoke` to finish (the graph is built and compiled beforehand)."""
    started = time.perf_counter()
    await graph.ainvoke({}, config(steps, thread), durability=durability)
    return time.perf_counter() - started


def run_sync(graph: Any, steps: int, *, durability: Durability | None = None, thread: str = "bench") -> float:
    """Seconds for the synchronous `graph.invoke` to finish."""
    started = time.perf_counter()
    graph.invoke({}, config(steps, thread), durability=durability)
    return time.perf_counter() - started


@contextmanager
def sqlite_saver_sync(path: Path, synchronous: str) -> Iterator[SqliteSaver]:
    """LangGraph's synchronous SQLite checkpointer on a file, as a script using `invoke` has it; WAL
    (as `AsyncSqliteSaver` turns on) and `synchronous` set here, as for `sqlite_saver`."""
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


@asynccontextmanager
async def sqlite_saver(path: Path, synchronous: str) -> AsyncIterator[AsyncSqliteSaver]:
    """LangGraph's SQLite checkpointer on a file; it turns on WAL, `synchronous` is set here."""
    async with aiosqlite.connect(str(path)) as conn:
        await conn.execute(f"PRAGMA synchronous={synchronous}")
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield saver


async def resume(chain: Chain, db: Path, *, shape: Shape, durability: Durability) -> tuple[float, int]:
    """Run `chain` (whose last step fails once) with the SQLite checkpointer, then time the resume.

    The resume is LangGraph's: `ainvoke(None, config)` on the same thread continues from the latest
    checkpoint, re-running only the task that failed. Returns its seconds and the checkpoints stored.
    """
    async with sqlite_saver(db, "NORMAL") as saver:
        graph = chain_graph(chain, shape=shape, checkpointer=saver)
        cfg = config(chain.steps, thread=db.stem)
        try:
            await graph.ainvoke({}, cfg, durability=durability)
        except RuntimeError:
            pass
        else:
            raise AssertionError("the chain's last step should have failed")
        async with saver.conn.execute("SELECT COUNT(*) FROM checkpoints") as cursor:
            row = await cursor.fetchone()
        started = time.perf_counter()
        state = await graph.ainvoke(None, cfg, durability=durability)
        took = time.perf_counter() - started
        assert state["last"] == "ok", state
        return took, int(row[0]) if row else 0
