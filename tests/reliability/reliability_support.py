"""What the reliability suites share: the table of cloud targets, workflow files, and readings of
the emulators' request logs and the run's events.

A new cloud joins the fault and load suites by adding one `Target` to `TARGETS`: how to start its
emulator, which emulator operation a podium call is, and how an agent is bound to it.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.core.events import Event, EventType
from podium.core.spec import Workflow
from podium.providers._kit.brains import ScriptedBrain
from podium.providers._kit.emulator import CloudEmulator, Exchange

# The clouds' environment variables that must not point a test at a real cloud.
CLOUD_ENV = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
    "AWS_BEARER_TOKEN_BEDROCK", "AWS_MAX_ATTEMPTS",
    "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_VERTEX_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_API_KEY", "GEMINI_API_KEY",
    "AZURE_AI_PROJECT_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
    "AZURE_USERNAME", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "OPENAI_API_KEY", "OPENAI_BASE_URL",
    "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
)  # fmt: skip


def offline_environment(tmp: Path) -> dict[str, str]:
    """Settings that keep every cloud SDK off the network: no profile, no metadata server."""
    return {
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "CLOUDSDK_CONFIG": str(tmp / "no-gcloud"),
        "GCE_METADATA_HOST": "127.0.0.1:9",  # a closed port: never the real metadata server
        "GCE_METADATA_IP": "127.0.0.1:9",
        "NO_GCE_CHECK": "True",
        "AZURE_CONFIG_DIR": str(tmp / "no-azure-cli"),
    }


def parsed_mock(entries: Mapping[str, Any]) -> dict[str, Any]:
    """Mock entries parsed exactly as a workflow file's `mock:` section is."""
    return Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": dict(entries)}).mock


def script(emulator: CloudEmulator, mock: Mapping[str, Any]) -> None:
    """Answer from `mock` (a workflow's `mock:` entries), in the emulator's cloud's own terms."""
    emulator.brain = ScriptedBrain(parsed_mock(mock), provider=emulator.provider)


@dataclass(frozen=True)
class Target:
    """One way podium calls a cloud: its emulator, the operation a call is, and an agent's binding.

    `bind(emulator, agent)` returns the agent's YAML mapping (provider, model or managed-agent
    binding), creating the managed agent in the emulator first where the binding needs one.
    `settings` are laid over the emulator's own `providers.<name>` settings.
    """

    name: str
    provider: str
    emulator: Callable[[], CloudEmulator]
    operation: str
    bind: Callable[[Any, str], dict[str, Any]]
    settings: Mapping[str, Any] = field(default_factory=dict)


def _bedrock() -> CloudEmulator:
    from podium.providers.bedrock.emulator import BedrockEmulator

    return BedrockEmulator()


def _vertex() -> CloudEmulator:
    from podium.providers.vertex.emulator import VertexEmulator

    return VertexEmulator()


def _azure() -> CloudEmulator:
    from podium.providers.azure.emulator import AzureEmulator

    return AzureEmulator()


def _bedrock_agent(emu: Any, agent: str) -> dict[str, Any]:
    agent_id, alias_id = emu.add_agent(agent, podium_agent=agent)
    return {"provider": "bedrock", "bedrock": {"agent_id": agent_id, "alias_id": alias_id}}


def _vertex_engine(emu: Any, agent: str) -> dict[str, Any]:
    return {"provider": "vertex", "vertex": {"engine": emu.add_engine(agent, podium_agent=agent)}}


def _azure_agent(emu: Any, agent: str) -> dict[str, Any]:
    return {"provider": "azure", "azure": {"agent": emu.add_agent(agent, podium_agent=agent).name}}


# Every cloud binding podium has; a new cloud (or binding) joins every suite by being listed here.
TARGETS: tuple[Target, ...] = (
    Target(
        "bedrock-converse",
        "bedrock",
        _bedrock,
        "Converse",
        lambda emu, agent: {"provider": "bedrock", "model": "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
        {"max_attempts": 1},
    ),
    Target("bedrock-agent", "bedrock", _bedrock, "InvokeAgent", _bedrock_agent, {"max_attempts": 1}),
    Target(
        "vertex-gemini",
        "vertex",
        _vertex,
        "GenerateContent",
        lambda emu, agent: {"provider": "vertex", "model": "gemini-2.5-flash"},
    ),
    Target("vertex-engine", "vertex", _vertex, "StreamQuery", _vertex_engine),
    Target(
        "azure-responses",
        "azure",
        _azure,
        "CreateResponse",
        lambda emu, agent: {"provider": "azure", "model": "gpt-4o"},
    ),
    Target("azure-agent", "azure", _azure, "CreateResponse", _azure_agent),
)


class Clouds:
    """Each cloud's emulator, started on first use, and each target's agent bound once."""

    def __init__(self) -> None:
        self.running: dict[str, CloudEmulator] = {}
        self.bindings: dict[tuple[str, str], dict[str, Any]] = {}

    def emulator(self, target: Target) -> CloudEmulator:
        if target.provider not in self.running:
            self.running[target.provider] = target.emulator().start()
        return self.running[target.provider]

    def agent(self, target: Target, agent: str) -> dict[str, Any]:
        """The agent's YAML mapping on `target` (its managed agent created once)."""
        key = (target.name, agent)
        if key not in self.bindings:
            self.bindings[key] = target.bind(self.emulator(target), agent)
        return self.bindings[key]

    def settings(self, target: Target, **more: Any) -> dict[str, Any]:
        """`providers.<name>` settings pointing podium at the target's emulator."""
        return {**self.emulator(target).settings(), **target.settings, **more}

    def stop(self) -> None:
        for emulator in self.running.values():
            emulator.stop()
        self.running.clear()


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def yaml_of(value: Any) -> str:
    """A value as flow-style YAML (JSON is YAML)."""
    return json.dumps(value)


# --- what the emulators saw ---------------------------------------------------------------------


def delivered(exchanges: Iterable[Exchange]) -> list[Exchange]:
    """Requests answered in full with a reply (a 200 with no fault applied to it)."""
    return [e for e in exchanges if e.status == 200 and e.fault is None]


def billed_tokens(exchanges: Iterable[Exchange]) -> tuple[int, int]:
    """(input, output) tokens the emulator generated for these requests, as the cloud would bill."""
    usages = [e.detail["usage"] for e in exchanges if "usage" in e.detail]
    return (
        sum(_tokens(u, "input") for u in usages),
        sum(_tokens(u, "output") for u in usages),
    )


def _tokens(usage: Mapping[str, Any], kind: str) -> int:
    for key in (f"{kind}_tokens", f"{kind}Tokens"):
        if key in usage:
            return int(usage[key] or 0)
    return 0


# --- what the run recorded ----------------------------------------------------------------------


def types_of(events: Sequence[Event]) -> list[str]:
    return [str(e.type) for e in events]


def recorded_tokens(events: Iterable[Event], provider: str | None = None) -> tuple[int, int]:
    """(input, output) tokens of the run's CallFinished events (of one provider, or all)."""
    finished = [
        e.data
        for e in events
        if e.type is EventType.CALL_FINISHED and provider in (None, e.data.get("provider"))
    ]
    return (
        sum(int(d["usage"].get("input_tokens") or 0) for d in finished),
        sum(int(d["usage"].get("output_tokens") or 0) for d in finished),
    )


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one moment (an interval ending as another starts is not overlap)."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most
