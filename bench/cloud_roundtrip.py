"""Emulator round-trip: a podium step bound to Bedrock, against the same boto3 call made directly.

Both go over HTTP to podium's Bedrock emulator on 127.0.0.1 (in this process, answering with an
echo; `paths(remote=True)` and ``cloud_roundtrip.py 200 --remote``: in a child process). podium runs a
chain of `calls` steps bound to Bedrock with its default settings (`engine.run`, in-memory store:
the step's events, the provider's transport, botocore's signing and parsing); the baseline makes the same
boto3 call (`converse`, or `invoke_agent` with its event stream read to the end) `calls` times in a
loop, with the arguments podium's provider sends. Per-call time is the total over `calls`.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
PENDING = "pending: no cloud emulator landed yet"


def available() -> str | None:
    """None when podium's Bedrock emulator can be used, else why not."""
    try:
        import boto3

        from podium.providers.bedrock.emulator import BedrockEmulator

        with BedrockEmulator() as emu:
            reply = boto3.client("bedrock-runtime", **emu.client_kwargs()).converse(
                modelId=MODEL, messages=[{"role": "user", "content": [{"text": "go"}]}]
            )
        assert reply["output"]["message"]["content"], reply
    except Exception as exc:  # any failure means the emulator is not usable yet
        return f"{PENDING} ({type(exc).__name__}: {exc})"
    return None


def _workflow(emu: Any, calls: int, binding: dict[str, str], more: dict[str, str] | None = None) -> Any:
    from podium.core.loader import parse
    from podium.plugins.manager import ProviderRegistry, load_plugins

    settings = json.dumps({**emu.settings(), "max_attempts": 1, **(more or {})})
    lines = [
        "name: roundtrip",
        "defaults: {provider: bedrock, retry: {attempts: 1}}",
        f"providers: {{bedrock: {settings}}}",
        f"agents: {{a: {{model: '{MODEL}', bedrock: {json.dumps(binding)}}}}}",
        "steps:",
        "  s0: {agent: a, prompt: go}",
    ]
    lines += [f"  s{i}: {{agent: a, needs: [s{i - 1}], prompt: go}}" for i in range(1, calls)]
    names = ProviderRegistry(load_plugins(entry_points_too=False)).names()
    return parse("\n".join(lines), file="roundtrip.yaml", base_dir=HERE, providers=names)


def _direct(emu: Any, kind: str, agent: tuple[str, str]) -> Callable[[int], float]:
    """The same boto3 call podium's provider makes, `n` times in a loop: seconds in total."""
    import boto3

    tags = {"podium:run": "direct", "podium:step": "s", "podium:agent": "a"}
    if kind == "converse":
        client = boto3.client("bedrock-runtime", **emu.client_kwargs())

        def converse(n: int) -> float:
            started = time.perf_counter()
            for _ in range(n):
                reply = client.converse(
                    modelId=MODEL,
                    messages=[{"role": "user", "content": [{"text": "go"}]}],
                    requestMetadata=tags,
                )
                assert reply["output"]["message"]["content"][0]["text"]
            return time.perf_counter() - started

        return converse
    client = boto3.client("bedrock-agent-runtime", **emu.client_kwargs())

    def invoke_agent(n: int) -> float:
        started = time.perf_counter()
        for i in range(n):
            reply = client.invoke_agent(
                agentId=agent[0],
                agentAliasId=agent[1],
                sessionId=f"direct-s{i}",
                inputText="go",
                enableTrace=True,
                sessionState={"sessionAttributes": tags},
            )
            text = "".join(e["chunk"]["bytes"].decode() for e in reply["completion"] if "chunk" in e)
            assert text
        return time.perf_counter() - started

    return invoke_agent


def _podium(
    emu: Any, kind: str, agent: tuple[str, str], calls: int, transport: str | None = None
) -> Callable[[], float]:
    from podium.core.engine import Engine
    from podium.core.store import MemoryStore
    from podium.plugins.manager import load_plugins

    binding = {"model": MODEL} if kind == "converse" else {"agent_id": agent[0], "alias_id": agent[1]}
    wf = _workflow(emu, calls, binding, {"transport": transport} if transport else {})
    plugins = load_plugins(entry_points_too=False)

    async def timed() -> float:
        engine = Engine(plugins=plugins, store=MemoryStore())
        started = time.perf_counter()
        result = await engine.run(wf, {})
        took = time.perf_counter() - started
        assert result.ok, result.error
        return took

    return lambda: asyncio.run(timed())


def measure(calls: int = 200, repeat: int = 5) -> dict[str, tuple[float, float]]:
    """Per-call seconds, (podium, boto3 directly), for Converse and for InvokeAgent."""
    from podium.providers.bedrock.emulator import BedrockEmulator

    out = {}
    with BedrockEmulator() as emu:
        agent = emu.add_agent("a")
        for kind in ("converse", "invoke_agent"):
            direct, podium = _direct(emu, kind, agent), _podium(emu, kind, agent, calls)
            direct(20), podium()  # warm up: clients, connections, imports
            best_direct = best_podium = float("inf")
            for _ in range(repeat):
                gc.collect()
                best_direct = min(best_direct, direct(calls))
                gc.collect()
                best_podium = min(best_podium, podium())
            out[kind] = (best_podium / calls, best_direct / calls)
    return out


def breakdown(calls: int = 200, repeat: int = 5) -> dict[str, dict[str, float]]:
    """Per-call seconds of each layer between boto3 and a podium step (for bench/hotspots.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from podium.core.calls import AgentRequest, Message, ProviderEnv
    from podium.providers.bedrock.emulator import BedrockEmulator
    from podium.providers.bedrock.provider import BedrockConfig, BedrockProvider

    out: dict[str, dict[str, float]] = {}
    pool = ThreadPoolExecutor(4)
    with BedrockEmulator() as emu:
        agent = emu.add_agent("a")
        provider = BedrockProvider(
            BedrockConfig(**{**emu.settings(), "max_attempts": 1}),
            ProviderEnv(workflow="roundtrip", base_dir=HERE, mock={}),
        )
        for kind in ("converse", "invoke_agent"):
            direct = _direct(emu, kind, agent)
            binding = {"model": MODEL} if kind == "converse" else {"agent_id": agent[0], "alias_id": agent[1]}

            async def hop(direct: Callable[[int], float] = direct) -> float:
                loop = asyncio.get_running_loop()
                started = time.perf_counter()
                for _ in range(calls):
                    await loop.run_in_executor(pool, direct, 1)
                return time.perf_counter() - started

            async def invoke(binding: dict[str, str] = binding) -> float:
                started = time.perf_counter()
                for i in range(calls):
                    request = AgentRequest(
                        run_id="roundtrip", step=f"s{i}", agent="a", attempt=1, provider="bedrock",
                        model=MODEL, binding=binding, messages=[Message(role="user", content="go")],
                        idempotency_key=f"roundtrip:s{i}::1", session_id=f"roundtrip-s{i}",
                    )  # fmt: skip
                    await provider.invoke(request)
                return time.perf_counter() - started

            layers: dict[str, Callable[[], float]] = {
                "boto3 directly": lambda direct=direct: direct(calls),
                "boto3 in a worker thread (run_in_executor)": lambda hop=hop: asyncio.run(hop()),
                "BedrockProvider.invoke": lambda invoke=invoke: asyncio.run(invoke()),
                "a podium step (Engine.run)": _podium(emu, kind, agent, calls),
            }
            best = {name: float("inf") for name in layers}
            for _ in range(repeat + 1):  # the first round warms up
                for name, layer in layers.items():
                    gc.collect()
                    best[name] = min(best[name], layer() / calls)
            out[kind] = best
    pool.shutdown()
    return out


def profile(profiler: cProfile.Profile, calls: int) -> None:
    """Profile podium's run of `calls` Converse steps (for bench/hotspots.py)."""
    from podium.providers.bedrock.emulator import BedrockEmulator

    with BedrockEmulator() as emu:
        agent = emu.add_agent("a")
        run = _podium(emu, "converse", agent, calls)
        run()
        gc.collect()
        profiler.enable()
        run()
        profiler.disable()


class RemoteEmulator:
    """podium's Bedrock emulator in a child process (as a real cloud is never in podium's process): the
    settings and client arguments `BedrockEmulator` gives, for the endpoint the child serves."""

    def __init__(self) -> None:
        import subprocess
        import sys

        self.child = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.child.stdout is not None
        said = json.loads(self.child.stdout.readline())
        self.agent: tuple[str, str] = tuple(said["agent"])  # type: ignore[assignment]
        self._settings: dict[str, Any] = said["settings"]
        self._client: dict[str, Any] = said["client"]

    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def client_kwargs(self) -> dict[str, Any]:
        return dict(self._client)

    def __enter__(self) -> RemoteEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.child.stdin is not None
        self.child.stdin.close()  # the child serves until its stdin closes
        self.child.wait(timeout=10)


def _serve() -> None:
    """The child of `RemoteEmulator`: an emulator with agent 'a', served until stdin closes."""
    import sys

    from podium.providers.bedrock.emulator import BedrockEmulator

    with BedrockEmulator() as emu:
        agent = emu.add_agent("a")
        said = {"agent": agent, "settings": emu.settings(), "client": emu.client_kwargs()}
        print(json.dumps(said), flush=True)
        sys.stdin.read()


def paths(
    calls: int = 200, repeat: int = 5, *, remote: bool = False
) -> dict[str, dict[str, tuple[float, float]]]:
    """Both transports, interleaved in one process: per-call (wall, CPU) seconds of boto3 directly, a
    podium step through boto3 in the provider's threads (``transport: threads``) and one with the
    default, ``transport: loop`` (Converse and InvokeAgent on the event loop, `bedrock/transport.py`).
    CPU is the process's, all threads: the emulator's included when it runs in this process; with
    `remote` it runs in a child process (`RemoteEmulator`), as a real cloud is never in podium's
    process, and its CPU is not counted. On a loaded machine CPU moves less than wall time."""
    from podium.providers.bedrock.emulator import BedrockEmulator

    def timed(fn: Callable[[], Any]) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu

    out: dict[str, dict[str, tuple[float, float]]] = {}
    with RemoteEmulator() if remote else BedrockEmulator() as emu:
        agent = emu.agent if isinstance(emu, RemoteEmulator) else emu.add_agent("a")
        for kind in ("converse", "invoke_agent"):
            direct = _direct(emu, kind, agent)
            sides: dict[str, Callable[[], Any]] = {
                "boto3 directly": lambda direct=direct: direct(calls),
                "podium step, transport: threads": _podium(emu, kind, agent, calls, "threads"),
                "podium step, the default (loop)": _podium(emu, kind, agent, calls),
            }
            best = {name: (float("inf"), float("inf")) for name in sides}
            for round_ in range(repeat + 1):  # the first round warms up
                for name, side in sides.items():
                    gc.collect()
                    wall, cpu = timed(side)
                    if round_:
                        best[name] = (min(best[name][0], wall / calls), min(best[name][1], cpu / calls))
            out[kind] = best
    return out


def memory(calls: int = 1000, size: int = 1 << 20) -> tuple[float, float, float]:
    """RSS in MiB before, after `calls` Converse calls of `size`-byte prompts, and the growth (issue 16,
    finding 10: the emulator kept every prompt; its log now keeps them cut)."""
    import boto3

    from podium.providers.bedrock.emulator import BedrockEmulator

    def rss() -> float:
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    prompt = "x" * size
    with BedrockEmulator() as emu:
        client = boto3.client("bedrock-runtime", **emu.client_kwargs())
        for _ in range(5):  # warm up: the client, the emulator's threads
            client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "go"}]}])
        gc.collect()
        before = rss()
        for _ in range(calls):
            client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": prompt}]}])
        gc.collect()
        after = rss()
    return before, after, after - before


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["memory"]:
        low, high, grew = memory(int(sys.argv[2]) if sys.argv[2:] else 1000)
        print(f"RSS {low:.0f} MiB -> {high:.0f} MiB: grew {grew:.0f} MiB")
    elif sys.argv[1:2] == ["serve"]:
        _serve()
    else:
        remote = "--remote" in sys.argv
        args = [a for a in sys.argv[1:] if a != "--remote"]
        n = int(args[0]) if args else 200
        print(f"emulator in {'a child process' if remote else 'this process'}")
        for kind, sides in paths(n, remote=remote).items():
            base_wall, base_cpu = sides["boto3 directly"]
            print(kind)
            for name, (wall, cpu) in sides.items():
                print(
                    f"  {name:42} wall {wall * 1000:6.3f} ms ({wall / base_wall:.2f}x)"
                    f"  cpu {cpu * 1000:6.3f} ms ({cpu / base_cpu:.2f}x)"
                )
