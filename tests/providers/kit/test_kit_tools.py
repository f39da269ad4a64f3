"""The tool loop, and the import-once, sync-or-async calling it shares with the local provider."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import podium.core.functions
from podium.core.calls import AgentRequest, Message
from podium.core.errors import AgentFailed, InvalidRequest, TransientError
from podium.providers._kit.functions import FunctionCache, accepted_kwargs, call_from_loop
from podium.providers._kit.tools import Toolbox

TOOLS = """
import asyncio, threading

def add(a, b):
    return {"sum": a + b, "thread": threading.current_thread().name}

async def slow_add(a, b):
    await asyncio.sleep(0.01)
    return {"sum": a + b, "loop": id(asyncio.get_running_loop())}

def words(text):
    return text.upper()

def broken(**kwargs):
    raise KeyError("no such city")

def flaky():
    from podium.core.errors import TransientError
    raise TransientError("try again")

def quits():
    raise SystemExit(2)

def rows():
    yield {"row": 1}

def by_pair():
    return {("a", "b"): 1}
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "kit_tools.py").write_text(TOOLS)
    return tmp_path


def request(**tools: str) -> AgentRequest:
    return AgentRequest(
        run_id="r", step="s", agent="helper", attempt=1, provider="cloud", tools=tools,
        messages=[Message(role="user", content="x")], idempotency_key="k", session_id="s",
    )  # fmt: skip


def in_a_pool_thread(fn: Any) -> Any:
    """What a provider does: the tool runs in a worker thread while the run's loop keeps going."""

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1, thread_name_prefix="podium-cloud") as pool:
            return await loop.run_in_executor(pool, fn, loop), id(loop)

    return asyncio.run(main())


def test_a_sync_tool_runs_in_the_worker_thread_and_its_result_is_recorded(base: Path) -> None:
    box = Toolbox(base, provider="cloud")
    req = request(add="kit_tools:add")
    done, _ = in_a_pool_thread(lambda loop: box.run(req, "add", {"a": 2, "b": 3}, loop=loop))
    assert done.result["sum"] == 5 and done.result["thread"].startswith("podium-cloud")
    assert done.text.startswith('{"sum": 5') and done.arguments == {"a": 2, "b": 3}
    record = done.record(group="g")
    assert record == {
        "name": "add",
        "group": "g",
        "arguments": {"a": 2, "b": 3},
        "result": done.result,
        "started_at": done.started_at.isoformat(),
        "duration_ms": done.duration_ms,
    }
    # when it ran, for the trace: just now, and for as long as it took
    assert done.started_at is not None and done.duration_ms is not None and done.duration_ms >= 0
    assert abs((datetime.now(UTC) - done.started_at).total_seconds()) < 60


def test_an_async_tool_is_awaited_on_the_runs_own_loop(base: Path) -> None:
    box = Toolbox(base, provider="cloud")
    req = request(add="kit_tools:slow_add")
    done, loop_id = in_a_pool_thread(lambda loop: box.run(req, "add", {"a": 1, "b": 1}, loop=loop))
    assert done.result == {"sum": 2, "loop": loop_id}


def test_a_text_result_goes_back_as_it_is(base: Path) -> None:
    box = Toolbox(base, provider="cloud")
    done = box.run(request(shout="kit_tools:words"), "shout", {"text": "hi"}, loop=None)
    assert (done.result, done.text) == ("HI", "HI")


def test_a_tool_that_raises_fails_the_agent_with_a_fix(base: Path) -> None:
    box = Toolbox(base, provider="cloud")
    with pytest.raises(AgentFailed) as caught:
        box.run(request(weather="kit_tools:broken"), "weather", {"city": "Paris"}, loop=None)
    assert "tool 'weather' (kit_tools:broken) of agent 'helper' raised KeyError" in caught.value.message
    assert "TransientError" in (caught.value.fix or "") and caught.value.provider == "cloud"
    with pytest.raises(TransientError, match="try again"):  # a podium error passes through, to be retried
        box.run(request(flaky="kit_tools:flaky"), "flaky", {}, loop=None)


@pytest.mark.parametrize(
    ("fn", "said"),
    [
        ("quits", "called sys.exit(2)"),  # once: podium itself exited, the run left cancelled
        ("rows", "returned what is not JSON: generator is not JSON"),  # once: its repr, to the agent
        ("by_pair", "returned what is not JSON: keys must be str"),  # once: "cloud raised TypeError"
    ],
)
def test_a_tool_that_exits_or_returns_no_json_fails_the_agent_naming_the_tool(
    base: Path, fn: str, said: str
) -> None:
    box = Toolbox(base, provider="cloud")
    with pytest.raises(AgentFailed) as caught:
        in_a_pool_thread(lambda loop: box.run(request(t=f"kit_tools:{fn}"), "t", {}, loop=loop))
    assert caught.value.message.startswith(f"tool 't' (kit_tools:{fn}) of agent 'helper' {said}")
    assert caught.value.fix and caught.value.provider == "cloud"


def test_an_undeclared_or_unloadable_tool_is_an_invalid_request_naming_the_fix(base: Path) -> None:
    box = Toolbox(base, provider="cloud")
    with pytest.raises(InvalidRequest) as caught:
        box.run(request(add="kit_tools:add"), "multiply", {}, loop=None)
    assert "does not declare" in caught.value.message and "tools: {multiply:" in (caught.value.fix or "")
    with pytest.raises(InvalidRequest, match="cannot load tool 'gone'") as caught:
        box.run(request(gone="kit_tools:nothing_here"), "gone", {}, loop=None)
    assert caught.value.fix == "check agents.helper.tools.gone"
    assert box.find(request(add="kit_tools:add"), "multiply", "add").name == "add"  # type: ignore[union-attr]


def test_each_reference_is_imported_once_even_from_many_threads(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imports: list[str] = []
    real = podium.core.functions.import_function
    gate = threading.Barrier(8)

    def counting(reference: str, base_dir: Path) -> Any:
        imports.append(reference)
        return real(reference, base_dir)

    monkeypatch.setattr(podium.core.functions, "import_function", counting)
    cache = FunctionCache(base)

    def load(_: int) -> Any:
        gate.wait()
        return cache.load("kit_tools:add")

    with ThreadPoolExecutor(8) as pool:
        loaded = set(pool.map(load, range(8)))
    cache.load("kit_tools:add")
    assert len(loaded) == 1 and imports == ["kit_tools:add"]


async def test_from_the_loop_a_sync_function_runs_off_the_loop_and_an_async_one_on_it(base: Path) -> None:
    cache = FunctionCache(base)
    sync = await call_from_loop(cache.load("kit_tools:add"), 1, 2)
    assert sync["thread"].startswith("podium-fn-add")
    assert (await call_from_loop(cache.load("kit_tools:slow_add"), 1, 2))["loop"] == id(
        asyncio.get_running_loop()
    )


def test_accepted_kwargs_drops_what_a_function_does_not_take() -> None:
    def narrow(prompt: str, topic: str) -> None: ...

    def wide(prompt: str, **rest: Any) -> None: ...

    assert accepted_kwargs(narrow, {"topic": 1, "other": 2}) == {"topic": 1}
    assert accepted_kwargs(wide, {"topic": 1, "other": 2}) == {"topic": 1, "other": 2}
