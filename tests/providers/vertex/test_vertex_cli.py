"""The command line with Vertex: run --emulate (priced), emulate vertex for other tools, a user's mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from vertex_support import write_workflow

from podium.testing import run_cli

ROOT = Path(__file__).resolve().parents[3]


def podium(
    *args: str, tmp_path: Path, cwd: Path = ROOT, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, db=tmp_path / "runs.db", cwd=cwd, timeout=timeout)


def test_the_research_example_runs_on_vertex_through_the_emulator_and_is_priced(tmp_path: Path) -> None:
    done = podium(
        "run",
        "examples/research/research.yaml",
        "--provider",
        "vertex",
        "--emulate",
        "--json",
        tmp_path=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    providers = {sid: step["provider"] for sid, step in run["steps"].items()}
    assert providers == {
        "science": "vertex", "economics": "vertex", "policy": "vertex", "draft": "vertex",
        "review": "vertex", "polish": "vertex", "adapt": "vertex",
        "words": "local",  # a python function always runs locally
    }  # fmt: skip
    usage = {
        sid: (s["usage"]["input_tokens"], s["usage"]["output_tokens"]) for sid, s in run["steps"].items()
    }
    # the mock's scripted usage, through Vertex's usageMetadata and back
    assert usage["science"] == (52, 38) and usage["draft"] == (240, 180) and usage["polish"] == (230, 170)
    assert run["steps"]["review"]["calls"] == 2  # the schema repair went through generateContent too
    assert run["outputs"]["review"]["score"] == 6
    assert run["outputs"]["channels"][0].startswith("This month")
    cost = run["cost"]
    assert cost["unpriced_calls"] == 0 and cost["complete"] is True
    # science on gemini-2.5-flash ($0.30 in, $2.50 out per million): 52 in, 38 out
    assert cost["steps"]["science"]["cost_usd"] == "0.0001106"
    assert float(cost["total_usd"]) > 0


def test_an_engine_bound_workflow_runs_emulated(tmp_path: Path) -> None:
    path = write_workflow(
        tmp_path,
        """
        name: engine-flow
        defaults: {provider: vertex, retry: {attempts: 1}}
        providers: {vertex: {project: demo-project}}
        agents:
          helper:
            vertex: {engine: "1234567890"}
          summariser:
            vertex: {engine: "1234567891", method: query}
        steps:
          ask: {agent: helper, prompt: "hello engine"}
          sum: {agent: summariser, prompt: "sum up", needs: [ask]}
        outputs: {answer: "{{ steps.ask.output }}"}
        mock:
          ask: {reply: "hello from the engine", usage: {input_tokens: 7, output_tokens: 5}}
          sum: {reply: "summed"}
        """,
    )
    done = podium("run", str(path), "--emulate", "--json", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["outputs"] == {"answer": "hello from the engine"}
    assert (run["steps"]["ask"]["usage"]["input_tokens"], run["steps"]["ask"]["usage"]["output_tokens"]) == (
        7,
        5,
    )


def test_emulate_vertex_serves_the_google_sdks(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "emulate", "vertex", "--port", "0", "--project", "p9", "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        assert info["provider"] == "vertex" and info["endpoint_url"].startswith("http://127.0.0.1:")
        assert info["environment"]["GOOGLE_VERTEX_BASE_URL"] == info["endpoint_url"]
        assert info["settings"]["project"] == "p9"
        from google import genai
        from google.oauth2.credentials import Credentials

        client = genai.Client(
            vertexai=True, project="p9", location="us-central1", credentials=Credentials(token="any"),
            http_options={"base_url": info["endpoint_url"]},
        )  # fmt: skip
        reply = client.models.generate_content(model="gemini-2.5-flash", contents="ping")
        assert reply.text == "ping"  # the echo brain
        assert reply.usage_metadata is not None and reply.usage_metadata.prompt_token_count == 1
        import vertexai

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            engines = vertexai.Client(
                project="p9", location="us-central1", credentials=Credentials(token="any"),
                http_options={"base_url": info["endpoint_url"]},
            ).agent_engines  # fmt: skip
        engine = engines.get(
            name="projects/p9/locations/us-central1/reasoningEngines/5"
        )  # any engine answers
        assert engine.list_sessions(user_id="u") == {"sessions": []}
        [event] = engine.stream_query(message="pong", user_id="u")
        assert event["content"]["parts"] == [{"text": "pong"}]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_a_vertex_run_without_credentials_says_how_to_sign_in(tmp_path: Path) -> None:
    path = write_workflow(
        tmp_path,
        """
        name: no-credentials
        agents: {helper: {provider: vertex, model: gemini-2.5-flash}}
        providers: {vertex: {project: p1, endpoint_url: "http://127.0.0.1:9"}}
        defaults: {retry: {attempts: 1}}
        steps: {ask: {agent: helper, prompt: hello}}
        """,
    )
    done = podium("run", str(path), tmp_path=tmp_path)  # no ADC: the autouse fixture hides gcloud's
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert "no Google credentials" in said and "gcloud auth application-default login" in said
    assert "Traceback" not in done.stderr


def test_help_loads_no_google_sdk(tmp_path: Path) -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['podium', '--help']\n"
        "try:\n    runpy.run_module('podium', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        # (google-cloud-aiplatform's .pth makes empty `google` namespace modules at start-up: no code)
        "print(sorted(m for m in sys.modules if m.startswith(('google', 'vertexai'))"
        " and getattr(sys.modules[m], '__file__', None)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_environment_emulate_vertex_prints_is_all_google_genai_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no credentials and no base URL in code: the printed exports and client call alone
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "emulate", "vertex", "--port", "0", "--project", "p9", "--json"],
        cwd=ROOT, env={**os.environ, "NO_COLOR": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        for name, value in info["environment"].items():
            monkeypatch.setenv(name, value)
        assert info["client_hint"].startswith(
            "genai.Client(vertexai=True, project='p9', location='us-central1')"
        )
        from google import genai

        client = genai.Client(vertexai=True, project="p9", location="us-central1")
        assert client.models.generate_content(model="gemini-2.5-flash", contents="ping").text == "ping"
        credentials = Path(info["environment"]["GOOGLE_APPLICATION_CREDENTIALS"])
        assert credentials.is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert not credentials.exists()  # the emulator's dummy credentials leave with it
