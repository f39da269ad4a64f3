"""Tools and Agent Engine: an engine runs only the tools deployed inside it, never podium's python tools.

An engine has no way to hand a tool call back to its caller, so an agent that declares ``tools:``
is refused on an engine (with the fix: a Gemini model, where podium runs them) unless its binding
says the engine has them built in; and ``podium deploy`` leaves such an agent on Gemini.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vertex_support import FLASH, scripted, write_workflow

import podium
from podium.core.store import SQLiteStore
from podium.providers.vertex.emulator import VertexEmulator
from podium.testing import PluginsFixture

ROOT = Path(__file__).resolve().parents[3]
TOOLS = '''
def weather(city: str) -> dict:
    """The weather in a city."""
    raise AssertionError("an engine binding must not run podium's tools")
'''


def flow(emulator: VertexEmulator, binding: dict[str, object]) -> str:
    return f"""
        name: engine-tools
        defaults: {{provider: vertex, retry: {{attempts: 1}}}}
        providers: {{vertex: {json.dumps({**emulator.settings(), "models": {"fast": FLASH}})}}}
        agents:
          helper:
            model: fast
            instructions: You answer questions about the weather.
            tools: {{weather: "engine_tools:weather"}}
            vertex: {json.dumps(binding)}
        steps:
          ask: {{agent: helper, prompt: "Weather in Oslo?"}}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
    """


async def run(path: Path, plugins: PluginsFixture) -> podium.Run:
    wf = podium.load(path, plugins=plugins.pm)
    return await podium.arun(wf, plugins=plugins.pm, store=SQLiteStore(path.parent / "runs.db"))


async def test_an_engine_binding_of_an_agent_with_python_tools_is_refused_with_the_fix(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    (tmp_path / "engine_tools.py").write_text(TOOLS, encoding="utf-8")
    scripted(emulator, {"ask": "Rain."})
    path = write_workflow(tmp_path, flow(emulator, {"engine": emulator.add_engine("helper")}))

    result = await run(path, podium_plugins)

    assert result.status == "failed"
    error = result.steps["ask"].error
    assert error is not None and error.kind == "invalid_request"
    assert "declares python tools (weather)" in error.message and "Agent Engine" in error.message
    assert "vertex: {model: gemini-2.5-flash}" in (error.fix or "") and "engine_tools: true" in (
        error.fix or ""
    )
    assert emulator.count("StreamQuery") == 0


async def test_an_engine_with_the_tools_built_in_is_called_and_podium_runs_none(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    (tmp_path / "engine_tools.py").write_text(TOOLS, encoding="utf-8")
    scripted(emulator, {"ask": "Rain."})
    binding = {"engine": emulator.add_engine("helper"), "engine_tools": True}
    path = write_workflow(tmp_path, flow(emulator, binding))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded", result
    assert result.outputs == {"answer": "Rain."} and result.steps["ask"].tool_calls == 0
    assert emulator.count("StreamQuery") == 1


def test_deploy_leaves_an_agent_with_python_tools_on_gemini(emulator: VertexEmulator, tmp_path: Path) -> None:
    (tmp_path / "engine_tools.py").write_text(TOOLS, encoding="utf-8")
    text = flow(emulator, {}).replace(
        "        steps:", "          plain: {model: fast, instructions: You answer briefly.}\n        steps:"
    )
    path = write_workflow(tmp_path, text)
    env = {**os.environ, "PODIUM_DB": str(tmp_path / "runs.db"), "NO_COLOR": "1"}

    done = subprocess.run(
        [sys.executable, "-m", "podium", "deploy", str(path), "--provider", "vertex", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert [row["agent"] for row in json.loads(done.stdout)["agents"]] == ["plain"]
