"""A local Bedrock on 127.0.0.1 that boto3 talks to, unmodified but for ``endpoint_url``.

    from podium.providers.bedrock.emulator import BedrockEmulator

    with BedrockEmulator() as emu:                        # an echo brain, any free port
        agent_id, alias_id = emu.add_agent("helper")
        emu.faults.throttle(times=2)                      # the next two calls get a 429
        client = boto3.client("bedrock-agent-runtime", **emu.client_kwargs())
        ...
        assert emu.count("InvokeAgent") == 3

It serves ``bedrock-agent-runtime`` InvokeAgent and InvokeInlineAgent (a real
``application/vnd.amazon.eventstream`` reply: chunk, trace and returnControl events, usage in the
trace), ``bedrock-runtime`` Converse, ConverseStream, InvokeModel and its stream (tools, usage,
the models' own bodies), the ``bedrock-agent`` control plane through moto (agents, aliases, action
groups), so the agents ``podium deploy`` creates are the ones InvokeAgent answers for, and the
``bedrock`` foundation models and inference profiles. Any other operation of those four services
answers 501 naming it (routes.py; docs/emulators.md lists them). The brain is the workflow's
``mock:`` replies (`ScriptedBrain`), an echo, or any python callable; faults are injected per call
through `faults`; the request log is `requests` (also `exchanges`). ``bedrock-agentcore``
InvokeAgentRuntime and the runtime calls of its control plane are served too (`runtime_emulator`;
`add_runtime`, `runtime_sessions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from podium.providers._kit.brains import Answer, Brain, Turn
from podium.providers.bedrock.routes import BedrockRoutes
from podium.providers.bedrock.runtime_emulator import RuntimeSession, RuntimeState
from podium.providers.bedrock.state import ACCOUNT_ID, BedrockState, Session

DUMMY_KEY = "testing"  # never real credentials: the emulator checks only that a request is signed
EMULATOR_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/podium-emulator"


class BedrockEmulator(BedrockRoutes):
    """Bedrock Agents runtime, Bedrock runtime and the Bedrock Agents control plane, on one port."""

    def __init__(
        self,
        brain: Brain | Callable[[Turn], str | Answer] | None = None,
        *,
        region: str = "us-east-1",
        port: int = 0,
    ) -> None:
        self.region = region
        self.state = BedrockState(region)
        self.agentcore = RuntimeState(region, self.state.account_id)  # AgentCore runtimes and sessions
        super().__init__(brain, port=port)

    def settings(self) -> dict[str, Any]:
        """`providers.bedrock` settings pointing podium at this emulator (dummy credentials only)."""
        return {
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "profile": None,
            "aws_access_key_id": DUMMY_KEY,
            "aws_secret_access_key": DUMMY_KEY,
            "agent_role_arn": EMULATOR_ROLE,
        }

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client(service, **kwargs)`` pointing at this emulator."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": DUMMY_KEY,
            "aws_secret_access_key": DUMMY_KEY,
        }

    def environment(self) -> dict[str, str]:
        """Environment variables pointing any AWS SDK at this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,  # the one boto3 (botocore) reads; the CLI v2 reads both
            "AWS_ACCESS_KEY_ID": DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
        }

    # --- agents and sessions ------------------------------------------------------------------

    def add_agent(
        self,
        name: str,
        *,
        model: str = "anthropic.claude-3-5-haiku-20241022-v1:0",
        instruction: str = "You are a helpful agent created directly in the podium emulator.",
        podium_agent: str | None = None,
    ) -> tuple[str, str]:
        """Create, prepare and alias a managed agent (as a deploy would); returns (agent id, alias id).

        `podium_agent` names the workflow agent whose mock replies answer it when the caller does
        not say (podium's own calls say which step and agent they are for).
        """
        return self.state.add_agent(name, model=model, instruction=instruction, podium_agent=podium_agent)

    @property
    def sessions(self) -> Mapping[str, Session]:
        return self.state.sessions

    # --- AgentCore runtimes -------------------------------------------------------------------

    def add_runtime(self, name: str, *, status: str = "READY", podium_agent: str | None = None) -> str:
        """Create an AgentCore runtime (as CreateAgentRuntime would) with `status`; returns its ARN.

        `podium_agent` names the workflow agent whose mock replies answer it when the caller does
        not say which (podium's own calls say).
        """
        return self.agentcore.add_runtime(name, status=status, podium_agent=podium_agent)

    @property
    def runtime_sessions(self) -> Mapping[str, RuntimeSession]:
        """AgentCore runtime sessions by id: the turns and user ids each was called with."""
        return self.agentcore.sessions


@contextmanager
def emulate(
    mock: Mapping[str, Any] | None = None, *, region: str = "us-east-1", port: int = 0
) -> Iterator[BedrockEmulator]:
    """A running emulator whose brain is `mock` (a workflow's ``mock:`` section), else an echo."""
    with BedrockEmulator.for_mock(mock, region=region, port=port) as emulator:
        yield emulator
